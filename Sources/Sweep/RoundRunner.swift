import Datasets
import Foundation
import NeuralNet
import Pruning
import Safetensors
import SeededRandom

/// IMP rounds as tasks. Round 0 stores the trained dense net under
/// `round/<id>` and the rewind weights under `rewind/<id>`; round k stores its
/// trained net with its mask under `round/<id>`. A round whose inputs the
/// store lost recomputes them (the same bits: every stream derives from the specs).
extension TaskRunner {
    func round(_ task: SweepTask, _ spec: RoundSpec) throws -> (model: Model, metrics: RoundMetrics) {
        let (train, test) = try data(spec.dense.data)
        if spec.round == 0 { return try denseRound(task, spec, train: train, test: test) }
        let denseTask = SweepTask(.round(spec.denseRound))
        let dense = try roundModel(denseTask)
        let rewind = try rewindWeights(denseTask)
        let taskSeed = RandomStream.hash(task.id)
        let masks: [[Float]], start: [Float]
        switch spec.variant {
        case .imp:
            let previous = spec.round == 1 ? dense : try roundModel(SweepTask(.round(spec.at(round: spec.round - 1, .imp))))
            (masks, start) = (roundMasks(.imp, previous: previous, round: spec.round, imp: spec.imp, seed: taskSeed), rewind)
        case .reinit:
            let ticket = try roundModel(SweepTask(.round(spec.at(round: spec.round, .imp))))
            masks = ticket.parameters.map { $0.mask ?? [Float](repeating: 1, count: $0.count) }
            start = Model(spec.dense.arch, for: train, seed: RandomStream.hash("reinit|\(task.id)")).store.flatValues
        case .random:
            (masks, start) = (roundMasks(.random, previous: dense, round: spec.round, imp: spec.imp, seed: taskSeed), rewind)
        }
        let teacher = try teaching(spec.teacher, spec.teacherSpec, task: task, parentTask: denseTask, parent: dense, seed: spec.seed, train: train, test: test)
        let loss = distillation(teacher.logits, spec.kd)
        let model = roundStart(spec.dense.arch, for: train, start: start, masks: masks)
        let stats = try retrain(model, on: train, settings: spec.dense.training, seed: spec.seed, imp: spec.imp, loss: { _ in loss },
                                group: dataParallel, onEpoch: { _, s in try self.checkFinite(s.loss, "IMP round \(spec.round) loss") })
        if isLeader { try store.put(modelKey(task), model.safetensors(metadata: ["task": task.id]), provenance: provenance(task)) }
        var m = RoundMetrics(round: spec.round, variant: spec.variant, imp: spec.imp, model: model, dense: dense, test: test, trainLoss: stats.last?.loss)
        if spec.measuresStability {
            let path = try stability(task, spec, main: model, start: start, masks: masks, loss: loss, train: train, test: test)
            (m.barrier, m.pathErrors) = (path.barrier, path.errors)
        }
        return (model, m)
    }

    /// Round 0: the dense net trained from its initialisation (or the sweep's checkpoint), the rewind weights kept.
    func denseRound(_ task: SweepTask, _ spec: RoundSpec, train: ImageDataset, test: ImageDataset) throws -> (model: Model, metrics: RoundMetrics) {
        let d = spec.dense
        let model = try d.checkpoint.map { try load($0, d.arch, train) } ?? Model(d.arch, for: train, seed: d.seed)
        let dense: (rewind: [Float], stats: [EpochStats])
        do {
            dense = try trainDense(model, on: train, settings: d.training, seed: d.seed, imp: spec.imp, group: dataParallel,
                                   onEpoch: { _, s in try self.checkFinite(s.loss, "dense training loss") })
        } catch let e as PruningError { throw TaskFailure(description: e.description) }
        if isLeader {
            try store.put(modelKey(task), model.safetensors(metadata: ["task": task.id]), provenance: provenance(task))
            let rewind = Model(d.arch, for: train)
            _ = rewind.store.values.update(fromContentsOf: dense.rewind)
            try store.put("rewind/\(task.id)", rewind.safetensors(metadata: ["task": task.id, "rewind": spec.imp.rewind.description]), provenance: provenance(task))
        }
        var m = RoundMetrics(round: 0, variant: .imp, imp: spec.imp, model: model, dense: model, test: test, trainLoss: dense.stats.last?.loss)
        if spec.measuresStability {
            let batches = EpochOrder(count: train.count, batchSize: d.training.batch, seed: d.seed, epoch: 0).batchCount
            // from the initialisation the dense training is itself the first copy
            let main = spec.imp.rewind.batch(batchesPerEpoch: batches) == 0 ? model : nil
            let ones = model.parameters.map { [Float](repeating: 1, count: $0.count) }
            let path = try stability(task, spec, main: main, start: dense.rewind, masks: ones, loss: crossEntropyLoss, train: train, test: test)
            (m.barrier, m.pathErrors) = (path.barrier, path.errors)
        }
        return (model, m)
    }

    /// Two copies trained from the rewind point (the round's own data order
    /// and one derived from the task), and the error along the line between them.
    func stability(_ task: SweepTask, _ spec: RoundSpec, main: Model?, start: [Float], masks: [[Float]], loss: @escaping LossFunction,
                   train: ImageDataset, test: ImageDataset) throws -> LinearPath {
        func copy(seed: UInt64) throws -> Model {
            let m = roundStart(spec.dense.arch, for: train, start: start, masks: masks)
            try retrain(m, on: train, settings: spec.dense.training, seed: seed, imp: spec.imp, loss: { _ in loss }, group: dataParallel,
                        onEpoch: { _, s in try self.checkFinite(s.loss, "stability copy loss") })
            return m
        }
        let a = try main ?? copy(seed: spec.seed)
        let b = try copy(seed: RandomStream.hash("stability|\(task.id)"))
        return try LinearPath(a, b, test: test, train: train)
    }

    /// The trained net a finished round stored, recomputed when the store lost it.
    func roundModel(_ task: SweepTask) throws -> Model {
        let bytes = try leaderFetch(modelKey(task))
        if !bytes.isEmpty { return try Model(try Safetensors.decode(bytes, source: modelKey(task)), source: modelKey(task)) }
        guard let spec = task.round else { throw TaskFailure(description: "\(task.id) is not an IMP round") }
        return try round(task, spec).model
    }

    /// The rewind weights round 0 stored, flat (recomputed with round 0 when lost).
    func rewindWeights(_ denseTask: SweepTask) throws -> [Float] {
        let key = "rewind/\(denseTask.id)"
        var bytes = try leaderFetch(key)
        if bytes.isEmpty, let spec = denseTask.round {
            _ = try round(denseTask, spec)
            bytes = try leaderFetch(key)
        }
        return try Model(try Safetensors.decode(bytes, source: key), source: key).store.flatValues
    }
}
