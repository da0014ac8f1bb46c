import Cluster
import Datasets
import Distillation
import Foundation
import NeuralNet
@testable import Pruning
import SeededRandom
@testable import Sweep
import TensorStore
import TestSupport
import XCTest

/// IMP rounds run as sweep tasks against a real file store on 600 Fashion-MNIST
/// images, each checked against an independent replay of what it should do.
final class IMPRoundTests: XCTestCase {
    let data = DataSpec(trainSubset: 600, testSubset: 300)
    let training = TrainingSettings(epochs: 2, lr: 0.05, momentum: 0.9, batch: 50, schedule: .constant)
    var dir = ""

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: MNISTLayout.defaultDirectory) else { throw XCTSkip("no Fashion-MNIST") }
        dir = NSTemporaryDirectory() + "imp-rounds-\(UUID().uuidString)"
        Compute.configure(threads: 1)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func runner(_ sub: String) throws -> (TaskRunner, FileStore) {
        let store = try FileStore(directory: "\(dir)/\(sub)")
        let r = TaskRunner(store: store, group: try World.initialize(), provenance: { Provenance(task: $0.id, sweepHash: "test", toolVersion: "0") },
                           shouldAbandon: { false })
        return (r, store)
    }

    func spec(_ v: IMPVariant, _ k: Int, rewind: Rewind = .epoch(1)) -> SweepTask {
        SweepTask(.round(RoundSpec(dense: TrainSpec(arch: .mlp([16]), training: training, data: data, seed: 3), imp: IMPSettings(rate: 0.2, rewind: rewind),
                                   variant: v, round: k, teacher: .none, kd: nil, threads: 1)))
    }

    func stored(_ store: FileStore, _ key: String) throws -> Model { try Model(try store.get(key), source: key) }

    func zeros(_ m: Model) -> Int { m.parameters.reduce(0) { $0 + ($1.mask?.filter { $0 == 0 }.count ?? 0) } }

    func testRoundsAgainstAnIndependentReplay() throws {
        let (r, store) = try runner("a")
        let tasks = [spec(.imp, 0), spec(.imp, 1), spec(.imp, 2), spec(.reinit, 2), spec(.random, 2)]
        var metrics: [String: RoundMetrics] = [:]
        for t in tasks { metrics[t.id] = try XCTUnwrap(r.run(t).roundMetrics) }
        let train = try MNISTLayout.load(split: .train).subset(600), test = try MNISTLayout.load(split: .test).subset(300)
        let dense = try stored(store, "round/\(tasks[0].id)"), imp1 = try stored(store, "round/\(tasks[1].id)"), imp2 = try stored(store, "round/\(tasks[2].id)")
        let reinit2 = try stored(store, "round/\(tasks[3].id)"), random2 = try stored(store, "round/\(tasks[4].id)")

        // the stored rewind point is one epoch of the same (constant-rate) training from the seed's initialisation
        let rewind = try stored(store, "rewind/\(tasks[0].id)").store.flatValues
        let oneEpoch = Model(.mlp([16]), seed: 3)
        var first = training
        first.epochs = 1
        try NeuralNet.train(oneEpoch, on: train, settings: first, seed: 3)
        XCTAssertTrue(rewind == oneEpoch.store.flatValues, "rewind weights differ from one epoch of training")

        // per-round sparsity is 1 - 0.8^k of the entries, to the entry
        let n = dense.store.count
        for (m, k) in [(dense, 0), (imp1, 1), (imp2, 2), (reinit2, 2), (random2, 2)] {
            XCTAssertEqual(zeros(m), Int((Double(n) * (1 - pow(0.8, Double(k)))).rounded()), "round \(k)")
        }
        XCTAssertEqual(metrics[tasks[2].id]?.pruned, zeros(imp2))

        // round 2 retrained from the stored rewind weights with its mask, data order from epoch 1 on
        let masks2 = imp2.parameters.map { $0.mask! }
        let replay = roundStart(.mlp([16]), for: train, start: rewind, masks: masks2)
        try NeuralNet.train(replay, on: train, settings: training, seed: 3, firstEpoch: 1)
        XCTAssertTrue(replay.store.flatValues == imp2.store.flatValues, "round 2 differs from its replay")
        // its mask prunes the smallest magnitudes of round 1, which stay pruned
        let l1 = zip(imp1.parameters, imp2.parameters).allSatisfy { a, b in zip(a.mask!, b.mask!).allSatisfy { $0 == 1 || $1 == 0 } }
        XCTAssertTrue(l1, "a weight round 1 pruned revived")
        let kept = imp2.parameters.indices.flatMap { t in imp2.parameters[t].mask!.indices.filter { imp2.parameters[t].mask![$0] == 1 }.map { abs(imp1.parameters[t].value[$0]) } }
        let cut = imp2.parameters.indices.flatMap { t in imp2.parameters[t].mask!.indices.filter { imp2.parameters[t].mask![$0] == 0 && imp1.parameters[t].mask![$0] == 1 }.map { abs(imp1.parameters[t].value[$0]) } }
        XCTAssertLessThanOrEqual(cut.max()!, kept.min()!)

        // the reinit control shares the ticket's mask, not its values: it starts from a fresh initialisation
        XCTAssertTrue(reinit2.parameters.map { $0.mask! } == masks2, "the reinit control has another mask")
        let fresh = Model(.mlp([16]), seed: RandomStream.hash("reinit|\(tasks[3].id)")).store.flatValues
        XCTAssertEqual(zip(fresh, rewind).filter { $0 == $1 }.count, 0)
        let reinitReplay = roundStart(.mlp([16]), for: train, start: fresh, masks: masks2)
        try NeuralNet.train(reinitReplay, on: train, settings: training, seed: 3, firstEpoch: 1)
        XCTAssertTrue(reinitReplay.store.flatValues == reinit2.store.flatValues, "the reinit control differs from its replay")
        XCTAssertFalse(reinit2.store.flatValues == imp2.store.flatValues, "the reinit control equals the ticket")

        // the random control: another mask of the same size
        XCTAssertFalse(random2.parameters.map { $0.mask! } == masks2, "the random control has the ticket's mask")

        // the paper's metrics, recomputed
        let m2 = try XCTUnwrap(metrics[tasks[2].id])
        XCTAssertEqual(m2.cosine, cosineSimilarity(dense, imp2), accuracy: 1e-12)
        XCTAssertEqual(m2.accuracy, evaluate(imp2, on: test).accuracy)
        let remaining = imp2.parameters.map { p in p.mask!.indices.filter { p.mask![$0] == 1 }.map { Double(p.value[$0]) } }
        let file = "\(dir)/remaining.json"
        try JSONEncoder().encode(remaining).write(to: URL(fileURLWithPath: file))
        let k2 = try numbers(python("import json\nk = [scipy.stats.kurtosis(x, fisher=False) for x in json.load(open('\(file)'))]\nprint(scipy.stats.kurtosis(k, fisher=False))"))[0]
        XCTAssertEqual(try XCTUnwrap(m2.k2), k2, accuracy: 1e-6 * k2)
        XCTAssertEqual(m2.sparsityPerTensor["fc1.weight"], Double(imp2.parameters[0].mask!.filter { $0 == 0 }.count) / Double(imp2.parameters[0].count))

        // a fresh store: round 2 alone recomputes what it needs, and measures the same
        let (again, _) = try runner("b")
        XCTAssertEqual(try again.run(tasks[2]).roundMetrics, m2)
    }

    /// A teacher distils every retraining: the dense net's logits under Hinton's loss.
    func testTeacherDistilsTheRetraining() throws {
        let (r, store) = try runner("t")
        let plain = spec(.imp, 1)
        guard case .round(var s) = plain.spec else { return XCTFail() }
        (s.teacher, s.kd) = (.parent, KDSettings(temperature: 4, alpha: 0.9))
        let taught = SweepTask(.round(s))
        XCTAssertEqual(taught.needs, plain.needs)
        _ = try r.run(taught)
        let model = try stored(store, "round/\(taught.id)")
        let train = try MNISTLayout.load(split: .train).subset(600)
        let dense = try stored(store, "round/\(spec(.imp, 0).id)")
        let rewind = try stored(store, "rewind/\(spec(.imp, 0).id)").store.flatValues
        let replay = roundStart(.mlp([16]), for: train, start: rewind, masks: model.parameters.map { $0.mask! })
        let loss = kdLoss(teacherLogits: try TeacherLogits(model: dense, data: train).logits, temperature: 4, alpha: 0.9)
        try NeuralNet.train(replay, on: train, settings: training, seed: 3, firstEpoch: 1, loss: { _ in loss })
        XCTAssertTrue(replay.store.flatValues == model.store.flatValues, "the distilled round differs from its replay")
        _ = try r.run(plain)
        XCTAssertFalse(try stored(store, "round/\(plain.id)").store.flatValues == model.store.flatValues, "the teacher changed nothing")
    }

    /// With stability, two copies from the rewind point (different data orders) and their barrier.
    func testStabilityRecordsTheBarrier() throws {
        let (r, _) = try runner("s")
        var t = spec(.imp, 0, rewind: .initialisation)
        guard case .round(var s) = t.spec else { return XCTFail() }
        s.imp.stability = true
        t = SweepTask(.round(s))
        let m = try XCTUnwrap(r.run(t).roundMetrics)
        let errors = try XCTUnwrap(m.pathErrors)
        XCTAssertEqual(errors.count, 11)
        XCTAssertEqual(errors[0], 1 - m.accuracy, accuracy: 1e-12, "from the initialisation the dense net is the first copy")
        XCTAssertEqual(try XCTUnwrap(m.barrier), errors.max()! - (errors[0] + errors[10]) / 2, accuracy: 1e-12)
    }
}

extension TaskMetrics {
    var roundMetrics: RoundMetrics? { if case .round(let m) = self { m } else { nil } }
}
