import Datasets
@testable import Distillation
import Foundation
import NeuralNet
import Safetensors
import XCTest

final class TeacherTests: XCTestCase {
    func testParsing() throws {
        XCTAssertEqual(try TeacherKind(parsing: "none"), TeacherKind.none)
        XCTAssertEqual(try TeacherKind(parsing: "parent"), .parent)
        XCTAssertEqual(try TeacherKind(parsing: "uniform"), .noise(.uniform))
        XCTAssertEqual(try TeacherKind(parsing: "gaussian"), .noise(.gaussian))
        XCTAssertEqual(try TeacherKind(parsing: "lenet5"), .model(.lenet5))
        XCTAssertEqual(try TeacherKind(parsing: "mlp:300,100"), .model(.mlp([300, 100])))
        XCTAssertEqual(try TeacherKind(parsing: "runs/t.safetensors"), .file("runs/t.safetensors"))
        for bad in ["resnet", "mlp:", "mlp:0", "", "Uniform"] {
            XCTAssertThrowsError(try TeacherKind(parsing: bad)) { e in
                XCTAssert("\(e)".contains("unknown teacher '\(bad)'"), "\(e)")
            }
        }
        XCTAssertEqual(try TeacherKind(parsing: "mlp:300,100").description, "mlp:300,100")
        XCTAssertEqual(try TeacherKind(parsing: "uniform"), .uniform)
        let kinds: [TeacherKind] = [.none, .parent, .uniform, .gaussian, .model(.mlp([20])), .file("a/b.safetensors")]
        XCTAssertEqual(try JSONDecoder().decode([TeacherKind].self, from: JSONEncoder().encode(kinds)), kinds)
        XCTAssertThrowsError(try JSONDecoder().decode([TeacherKind].self, from: Data(#"["vgg"]"#.utf8)))
    }

    func testNoiseLogitsAreSeededPerExampleAndEpoch() {
        for kind in NoiseKind.allCases {
            let a = noiseTeacherLogits(kind: kind, count: 50, classes: 10, seed: 7)
            XCTAssertEqual(a.shape, [50, 10])
            XCTAssertEqual(a.data, noiseTeacherLogits(kind: kind, count: 50, classes: 10, seed: 7).data)
            // Row i depends on i alone, not on how many rows were drawn.
            XCTAssertEqual(Array(a.data[0..<200]), noiseTeacherLogits(kind: kind, count: 20, classes: 10, seed: 7).data)
            XCTAssertNotEqual(a.data, noiseTeacherLogits(kind: kind, count: 50, classes: 10, seed: 8).data)
            let e0 = noiseTeacherLogits(kind: kind, count: 50, classes: 10, seed: 7, epoch: 0)
            let e1 = noiseTeacherLogits(kind: kind, count: 50, classes: 10, seed: 7, epoch: 1)
            XCTAssertNotEqual(e0.data, e1.data); XCTAssertNotEqual(e0.data, a.data)
            XCTAssertEqual(Array(e1.data[10..<20]), Array(noiseTeacherLogits(kind: kind, count: 2, classes: 10, seed: 7, epoch: 1).data[10..<20]))
        }
        XCTAssertNotEqual(noiseTeacherLogits(kind: .uniform, count: 5, classes: 3, seed: 1).data,
                          noiseTeacherLogits(kind: .gaussian, count: 5, classes: 3, seed: 1).data)
    }

    func testNoiseDistributions() {
        func sd(_ x: [Double]) -> Double {
            let m = x.reduce(0, +) / Double(x.count)
            return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
        }
        let u = noiseTeacherLogits(kind: .uniform, count: 10_000, classes: 10, seed: 3).data.map(Double.init)
        XCTAssert(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Double(u.count), 0.5, accuracy: 0.01)
        XCTAssertEqual(sd(u), (1.0 / 12).squareRoot(), accuracy: 0.005)
        let g = noiseTeacherLogits(kind: .gaussian, count: 10_000, classes: 10, seed: 3).data.map(Double.init)
        XCTAssertEqual(g.reduce(0, +) / Double(g.count), 0, accuracy: 0.02)
        XCTAssertEqual(sd(g), 1, accuracy: 0.02)
    }

    func testTeacherLogitsRoundTripAndValidation() throws {
        let z = noiseTeacherLogits(kind: .gaussian, count: 12, classes: 4, seed: 1)
        let file = TeacherLogits(z).safetensors(metadata: ["teacher": "gaussian", "seed": "1"])
        let back = try TeacherLogits(Safetensors.decode(file.encode(), source: "mem"), source: "mem")
        XCTAssertEqual(back.logits.shape, [12, 4]); XCTAssertEqual(back.logits.data, z.data)
        XCTAssertThrowsError(try TeacherLogits(Safetensors(tensors: [NamedTensor(name: "x", shape: [1], floats: [0])]), source: "f.safetensors")) {
            XCTAssert("\($0)".contains("f.safetensors") && "\($0)".contains("teacher_logits"))
        }
        XCTAssertThrowsError(try TeacherLogits(Safetensors(tensors: [NamedTensor(name: "teacher_logits", shape: [4], floats: [0, 1, 2, 3])]), source: "g"))
        let data = ImageDataset(images: [Float](repeating: 0, count: 12 * 4), labels: [Int32](repeating: 0, count: 12), rows: 2, cols: 2, classes: 5)
        XCTAssertThrowsError(try back.validate(for: data)) { XCTAssert("\($0)".contains("4 classes")) }
        XCTAssertThrowsError(try TeacherLogits(model: Model(.mlp([3]), inputSide: 2, classes: 4), data: data))
    }
}
