import Datasets
import Foundation
import NeuralNet
@testable import Pruning
import XCTest

/// Small real data: 600 Fashion-MNIST training images, 300 test images.
func smallData() throws -> (train: ImageDataset, test: ImageDataset) {
    guard FileManager.default.fileExists(atPath: MNISTLayout.defaultDirectory) else { throw XCTSkip("no Fashion-MNIST at \(MNISTLayout.defaultDirectory)") }
    return (try MNISTLayout.load(split: .train).subset(600), try MNISTLayout.load(split: .test).subset(300))
}

final class TrainingTests: XCTestCase {
    func testFineTuneHoldsTheMaskExactly() throws {
        let (train, test) = try smallData()
        let parent = Model(.mlp([32]), seed: 0)
        let cut = PrunedNet(parent: parent, ratio: 0.7, method: .l1, seed: 0, test: test)
        let child = cut.model
        let before = child.store.flatValues
        let settings = TrainingSettings(epochs: 2, lr: 0.05, momentum: 0.9, weightDecay: 1e-3, batch: 32, schedule: .constant)
        let tuned = try cut.fineTune(on: train, test: test, settings: settings, seed: 1)
        XCTAssertEqual(child.store.flatValues, before, "the pruned net is kept; a copy is fine-tuned")
        let stats = tuned.stats
        XCTAssertEqual(stats.count, 2)
        XCTAssertLessThan(stats[1].loss, stats[0].loss)
        XCTAssertEqual(tuned.evaluation.accuracy, evaluate(tuned.model, on: test).accuracy)
        XCTAssertEqual(cut.evaluation.accuracy, evaluate(child, on: test).accuracy)
        XCTAssertEqual(cut.cosine, cosineSimilarity(parent, child))
        let after = tuned.model.store.flatValues
        let mask = Array(child.parameters.map { $0.mask! }.joined())
        XCTAssertEqual(mask.filter { $0 == 0 }.count, Int((0.7 * Double(parent.store.count)).rounded()))
        for i in mask.indices where mask[i] == 0 { XCTAssertEqual(after[i], 0, "pruned entry \(i) moved") }   // exactly zero (-0 from x * 0 compares equal)
        let moved = mask.indices.filter { mask[$0] == 1 && after[$0] != before[$0] }.count
        XCTAssertGreaterThan(moved, mask.filter { $0 == 1 }.count / 2)
    }
}
