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

    /// IMP's last round equals an independent replay: the dense net trained, its
    /// global-L1 prune of 20 %, then 20 % of the rest, survivors rewound to init,
    /// retrained with the same data order.
    func testIMPMatchesIndependentReplay() throws {
        let (train, test) = try smallData()
        let settings = TrainingSettings(epochs: 1, lr: 0.05, momentum: 0.9, batch: 50, schedule: .constant)
        var c = IMPConfig(rounds: 2, training: settings, seed: 7)
        let imp = Model(.mlp([16]), seed: 7)
        let init0 = imp.store.flatValues
        let rounds = try iterativeMagnitudePruning(imp, train: train, test: test, config: c)
        XCTAssertEqual(rounds.map(\.round), [0, 1, 2])
        let n = imp.store.count   // 12730
        let p1 = Int((0.2 * Double(n)).rounded()), p2 = p1 + Int((0.2 * Double(n - p1)).rounded())
        XCTAssertEqual(rounds.map(\.pruned), [0, p1, p2])
        XCTAssertEqual(rounds[2].sparsity, Double(p2) / Double(n), accuracy: 1e-12)
        XCTAssertTrue(zeroIndices(rounds[1].masks).isSubset(of: zeroIndices(rounds[2].masks)))

        func trainFromInit(masks: [[Float]]?) throws -> Model {
            let m = Model(.mlp([16]), seed: 7)
            XCTAssertEqual(m.store.flatValues, init0)
            if let masks { applyMasks(masks, to: m) }
            try NeuralNet.train(m, on: train, settings: settings, seed: 7)
            return m
        }
        let dense = try trainFromInit(masks: nil)
        XCTAssertEqual(rounds[0].accuracy, evaluate(dense, on: test).accuracy)
        XCTAssertEqual(rounds[1].masks, pruneMasks(dense, ratio: Double(p1) / Double(n), method: .l1))
        let round1 = try trainFromInit(masks: rounds[1].masks)
        XCTAssertEqual(rounds[2].masks, globalL1Masks(round1, pruning: p2))
        let round2 = try trainFromInit(masks: rounds[2].masks)
        XCTAssertEqual(imp.store.flatValues, round2.store.flatValues)
        XCTAssertEqual(rounds[2].accuracy, evaluate(round2, on: test).accuracy)

        c.rewindEpoch = 2
        XCTAssertThrowsError(try iterativeMagnitudePruning(Model(.mlp([16])), train: train, test: test, config: c))
    }
}
