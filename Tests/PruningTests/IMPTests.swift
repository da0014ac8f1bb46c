import Datasets
import Foundation
import NeuralNet
@testable import Pruning
import XCTest

final class IMPTests: XCTestCase {
    func testRewindParsing() throws {
        XCTAssertEqual(try Rewind(parsing: "init"), .initialisation)
        XCTAssertEqual(try Rewind(parsing: "epoch:3"), .epoch(3))
        XCTAssertEqual(try Rewind(parsing: "iter:500"), .iteration(500))
        for bad in ["", "epoch", "epoch:", "epoch:-1", "iter:x", "init:2", "warm"] { XCTAssertThrowsError(try Rewind(parsing: bad), bad) }
        XCTAssertEqual(Rewind.iteration(250).firstEpoch(batchesPerEpoch: 100), 2)
        XCTAssertEqual(Rewind.epoch(2).batch(batchesPerEpoch: 100), 200)
        XCTAssertThrowsError(try IMPSettings(rewind: .epoch(3)).checkRewind(epochs: 2, batchesPerEpoch: 10))
        XCTAssertNoThrow(try IMPSettings(rewind: .iteration(20)).checkRewind(epochs: 2, batchesPerEpoch: 10))
    }

    /// iter:N keeps the weights after N batches of the dense training: a run stopped there.
    func testRewindToAnIteration() throws {
        let (train, _) = try smallData()
        let settings = TrainingSettings(epochs: 2, lr: 0.05, batch: 50)   // 12 batches an epoch
        let dense = Model(.mlp([16]), seed: 4)
        let (rewind, _) = try trainDense(dense, on: train, settings: settings, seed: 4, imp: IMPSettings(rewind: .iteration(17)))
        struct Stop: Error {}
        let stopped = Model(.mlp([16]), seed: 4)
        XCTAssertThrowsError(try NeuralNet.train(stopped, on: train, settings: settings, seed: 4, onBatch: { if $0.done == 17 { throw Stop() } }))
        XCTAssertTrue(rewind == stopped.store.flatValues, "iter:17 is not the weights after 17 batches")
        XCTAssertFalse(rewind == dense.store.flatValues)
        XCTAssertThrowsError(try trainDense(Model(.mlp([16]), seed: 4), on: train, settings: settings, seed: 4, imp: IMPSettings(rewind: .iteration(25))))
    }

    /// Chained rounds prune 1 - (1 - rate)^k of the in-scope entries, to the
    /// entry, never reviving one; out-of-scope tensors stay whole.
    func testPerRoundSparsityIsExactWithinScope() {
        let model = Model(.mlp([16]), seed: 5)
        let scope = PruneScope(weightsOnly: true)
        let imp = IMPSettings(rate: 0.3, scope: scope)
        let weights = model.parameters.filter { !$0.isBias }.reduce(0) { $0 + $1.count }   // 784*16 + 16*10
        var previous = model
        var before = Set<Int>()
        for k in 1...6 {
            for variant in [IMPVariant.imp, .random] {
                let masks = roundMasks(variant, previous: variant == .imp ? previous : model, round: k, imp: imp, seed: 9)
                let zeros = zeroIndices(masks)
                XCTAssertEqual(zeros.count, Int((Double(weights) * (1 - pow(0.7, Double(k)))).rounded()), "\(variant) round \(k)")
                for (p, m) in zip(model.parameters, masks) where p.isBias { XCTAssertTrue(m.allSatisfy { $0 == 1 }) }
                if variant == .imp {
                    XCTAssertTrue(before.isSubset(of: zeros), "round \(k) revived a weight")
                    before = zeros
                    previous = pruned(previous, masks: masks)
                    // perturb the survivors so the next round's order differs from this one's
                    for p in previous.parameters { for i in 0..<p.count where p.value[i] != 0 { p.value[i] *= Float(1 + 0.5 * sin(Double(i * k))) } }
                }
            }
        }
    }

    /// The barrier of a model with itself is 0; between two models the
    /// mid-point's error equals that of their average computed in Double.
    func testLinearPathBarrier() throws {
        let (train, test) = try smallData()
        let a = Model(.mlp([16]), seed: 1), b = Model(.mlp([16]), seed: 2)
        let settings = TrainingSettings(epochs: 1, lr: 0.05, batch: 50)
        try NeuralNet.train(a, on: train, settings: settings, seed: 1)
        try NeuralNet.train(b, on: train, settings: settings, seed: 2)
        let same = try LinearPath(a, a, test: test)
        XCTAssertEqual(same.alphas.count, 11)
        XCTAssertEqual(same.barrier, 0)
        XCTAssertEqual(Set(same.errors).count, 1)

        let path = try LinearPath(a, b, test: test)
        let mid = Model(.mlp([16]))
        let x = a.store.flatValues, y = b.store.flatValues
        for i in x.indices { mid.store.values[i] = Float((Double(x[i]) + Double(y[i])) / 2) }
        XCTAssertEqual(path.alphas[5], 0.5)
        XCTAssertEqual(path.errors[5], 1 - evaluate(mid, on: test).accuracy)
        XCTAssertEqual(path.errors[0], 1 - evaluate(a, on: test).accuracy)
        XCTAssertEqual(path.errors[10], 1 - evaluate(b, on: test).accuracy)
        XCTAssertGreaterThan(path.barrier, 0.05, "two nets trained from different initialisations are not linearly connected")
        XCTAssertThrowsError(try LinearPath(a, Model(.mlp([8])), test: test))
    }
}
