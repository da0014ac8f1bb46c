@testable import NeuralNet
import XCTest

/// Multiply-adds per weight entry, against a hand count from the layer shapes.
final class MultiplyAddsTests: XCTestCase {
    func testLeNet5AgainstAHandCount() {
        let m = Model(.lenet5)
        // conv1 1->6 k5 pad 2 on 28x28: output 28x28; pool -> 14; conv2 6->16 k5: output 10x10; pool -> 5; fc 400-120-84-10.
        XCTAssertEqual(m.parameters.map(\.name), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                  "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        XCTAssertEqual(m.multiplyAddsPerEntry, [784, 0, 100, 0, 1, 0, 1, 0, 1, 0])
        let total = zip(m.parameters, m.multiplyAddsPerEntry).map { $0.count * $1 }.reduce(0, +)
        let byHand = 6 * 1 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10
        XCTAssertEqual(byHand, 416_520)
        XCTAssertEqual(total, byHand)
        // FLOPs as before: 2 per multiply-add; training = forward + weight gradients + input gradients but conv1's.
        XCTAssertEqual(m.flopsPerImage.forward, 833_040)
        XCTAssertEqual(m.flopsPerImage.training, 2 * 833_040 + (833_040 - 2 * 117_600))
    }

    func testMLPAgainstAHandCount() {
        let m = Model(.mlp([300, 100]))
        XCTAssertEqual(m.multiplyAddsPerEntry, [1, 0, 1, 0, 1, 0])
        XCTAssertEqual(zip(m.parameters, m.multiplyAddsPerEntry).map { $0.count * $1 }.reduce(0, +), 784 * 300 + 300 * 100 + 100 * 10)
        // Another input side changes a convolution's count, not a linear layer's.
        XCTAssertEqual(Model(.lenet5, inputSide: 32).multiplyAddsPerEntry[0], 32 * 32)
        XCTAssertEqual(Model(.lenet5, inputSide: 32).multiplyAddsPerEntry[2], 12 * 12)
    }
}
