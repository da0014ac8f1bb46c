import Datasets
import Foundation
@testable import NeuralNet
import SeededRandom
import XCTest

final class TrainingTests: XCTestCase {
    static let train = try! MNISTLayout.load(split: .train).subset(1024)

    /// Every entry of the store (16 at a time and the tail of 7) against the rule written out one entry at a time.
    func testSGDFollowsPyTorchsRule() {
        for nesterov in [false, true] {
            let model = Model(.mlp([3]), inputSide: 2, classes: 2, seed: 0)
            let store = model.store
            XCTAssertEqual(store.count, 23)
            let sgd = SGD(store: store, learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 0.01)
            var v = [Float](repeating: 0, count: store.count), w = store.flatValues
            for step in 0..<3 {
                for i in 0..<store.count {
                    let grad = Float(step + 1) * 0.5 + Float(i)
                    store.grads[i] = grad
                    let g = grad + 0.01 * w[i]
                    v[i] = 0.9 * v[i] + g
                    w[i] -= 0.1 * (nesterov ? g + 0.9 * v[i] : v[i])
                }
                sgd.step(store)
            }
            XCTAssertEqual(store.flatValues.map(\.bitPattern), w.map(\.bitPattern), "nesterov \(nesterov)")
        }
    }

    func testMaskedEntriesStayExactlyZero() throws {
        let model = Model(.lenet5, seed: 1)
        var rng = RandomStream("mask-test", 0)
        let masks = model.parameters.map { p in (0..<p.count).map { _ in Float(rng.next() % 2) } }
        for (p, m) in zip(model.parameters, masks) { p.setMask(m) }
        let sgd = SGD(store: model.store, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3)
        _ = try trainEpoch(model, on: Self.train, optimizer: sgd, batchSize: 128, seed: 0, epoch: 0)
        for (p, m) in zip(model.parameters, masks) {
            for i in 0..<p.count where m[i] == 0 { XCTAssertEqual(p.value[i], 0, "\(p.name)[\(i)]") }
            XCTAssertTrue(zip(p.values, m).contains { $0.1 == 1 && $0.0 != 0 }, "\(p.name) unmasked entries train")
        }
    }

    func testSameSeedGivesBitIdenticalWeights() throws {
        func run(_ seed: UInt64) throws -> [Float] {
            let m = Model(.lenet5, seed: seed)
            let sgd = SGD(store: m.store, learningRate: 0.05, momentum: 0.9)
            for e in 0..<2 { _ = try trainEpoch(m, on: Self.train, optimizer: sgd, batchSize: 64, seed: seed, epoch: e) }
            return m.store.flatValues
        }
        let a = try run(5), b = try run(5), c = try run(6)
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertNotEqual(a, c)
    }

    /// Two threads split every batch; the result is bit-identical run to run
    /// and matches one thread up to the order of floating-point sums.
    func testThreadsSplitBatchesDeterministically() throws {
        func run(threads: Int) throws -> [Float] {
            Compute.configure(threads: threads)
            defer { Compute.configure(threads: 1) }
            let m = Model(.lenet5, seed: 2)
            let sgd = SGD(store: m.store, learningRate: 0.05, momentum: 0.9)
            _ = try trainEpoch(m, on: Self.train, optimizer: sgd, batchSize: 64, seed: 2, epoch: 0)
            return m.store.flatValues
        }
        let a = try run(threads: 2), b = try run(threads: 2), one = try run(threads: 1)
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        let rel = zip(a, one).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
            / one.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        XCTAssertLessThan(rel, 1e-4)
    }

    func testLearns() throws {
        let m = Model(.mlp([64]), seed: 0)
        let sgd = SGD(store: m.store, learningRate: 0.05, momentum: 0.9)
        let before = evaluate(m, on: Self.train)
        for e in 0..<3 { _ = try trainEpoch(m, on: Self.train, optimizer: sgd, batchSize: 32, seed: 0, epoch: e) }
        let after = evaluate(m, on: Self.train)
        XCTAssertLessThan(after.loss, before.loss * 0.5)
        XCTAssertGreaterThan(after.accuracy, 0.75)
    }

    func testInitBoundsArePyTorchs() {
        let m = Model(.lenet5, seed: 9)
        for p in m.parameters {
            let bound = 1 / Float(p.fanIn).squareRoot()
            XCTAssertLessThanOrEqual(p.values.map(abs).max()!, bound)
            // U(-b, b) has variance b^2 / 3
            let v = p.values.reduce(0.0) { $0 + Double($1 * $1) } / Double(p.count)
            if p.count > 1000 { XCTAssertEqual(v, Double(bound * bound) / 3, accuracy: Double(bound * bound) * 0.05, p.name) }
        }
        XCTAssertEqual(m.parameters.map(\.name), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                  "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        XCTAssertEqual(m.parameters[4].shape, [120, 400])
        XCTAssertEqual(m.store.count, 61706)
    }

    /// Each schedule against its closed form, the warm-up per batch.
    func testScheduleClosedForms() {
        let cos = TrainingSettings(epochs: 4, lr: 0.1, schedule: .cosine)
        for e in 0..<4 {
            XCTAssertEqual(cos.learningRate(epoch: e, batch: 7, batches: 10), Float(0.1) * Float(0.5 * (1 + Foundation.cos(Double.pi * Double(e) / 4))))
        }
        XCTAssertEqual(TrainingSettings(epochs: 3, lr: 0.1, schedule: .constant).learningRate(epoch: 2, batch: 0, batches: 5), 0.1)
        let step = TrainingSettings(epochs: 10, lr: 1, schedule: .step, milestones: [2, 5], gamma: 0.5)
        XCTAssertEqual([0, 1, 2, 4, 5, 9].map { step.learningRate(epoch: $0, batch: 0, batches: 1) }, [1, 1, 0.5, 0.5, 0.25, 0.25])
        let warm = TrainingSettings(epochs: 3, lr: 0.4, schedule: .constant, warmupEpochs: 1)
        XCTAssertEqual((0..<4).map { warm.learningRate(epoch: 0, batch: $0, batches: 4) }, [0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(warm.learningRate(epoch: 1, batch: 0, batches: 4), 0.4)
        XCTAssertThrowsError(try TrainingSettings(epochs: 1, lr: 0.1, schedule: .step).validate()) { XCTAssertEqual(($0 as? TrainingSettingsError)?.key, "milestones") }
        XCTAssertThrowsError(try TrainingSettings(epochs: 1, lr: -1).validate()) { XCTAssertEqual(($0 as? TrainingSettingsError)?.key, "lr") }
    }

    /// The loop applies the schedule batch by batch: the same as stepping
    /// epochs by hand with those rates, and not the same as a constant rate.
    func testTrainFollowsTheSchedule() throws {
        let data = Self.train.subset(256)
        let settings = TrainingSettings(epochs: 2, lr: 0.05, momentum: 0.9, batch: 64, schedule: .cosine, warmupEpochs: 1)
        let a = Model(.mlp([16]), seed: 3)
        var seen: [Int] = []
        let stats = try NeuralNet.train(a, on: data, settings: settings, seed: 3, onBatch: { seen.append($0.done) })
        XCTAssertEqual(stats.count, 2)
        XCTAssertEqual(seen, Array(1...8))
        let b = Model(.mlp([16]), seed: 3)
        let sgd = SGD(store: b.store, learningRate: 0, momentum: 0.9)
        for e in 0..<2 {
            _ = try trainEpoch(b, on: data, optimizer: sgd, batchSize: 64, seed: 3, epoch: e, learningRate: { bi, _ in
                Float(0.05) * Float(0.5 * (1 + cos(Double.pi * Double(e) / 2))) * (e == 0 ? Float(bi + 1) / 4 : 1)
            })
        }
        XCTAssertEqual(a.store.flatValues.map(\.bitPattern), b.store.flatValues.map(\.bitPattern))
        let c = Model(.mlp([16]), seed: 3)
        var constant = settings; constant.schedule = .constant; constant.warmupEpochs = 0
        try NeuralNet.train(c, on: data, settings: constant, seed: 3)
        XCTAssertNotEqual(c.store.flatValues, a.store.flatValues)
    }
}
