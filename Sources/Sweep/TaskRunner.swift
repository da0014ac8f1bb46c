import Cluster
import Datasets
import Distillation
import Foundation
import NeuralNet
import Pruning
import Safetensors
import SeededRandom
import TensorStore

/// The task failed on purpose (not a crash): diverging loss, an impossible ratio.
struct TaskFailure: Error, CustomStringConvertible { let description: String }

/// The task was abandoned (a stop past its grace period); it will run again on resume.
struct Abandoned: Error {}

/// Runs one task. Every member of a data-parallel group calls `run` with the
/// same task; the leader reads the store and broadcasts what it found, so all
/// members take the same path, and only the leader writes.
final class TaskRunner {
    let store: TensorStore
    let provenance: (SweepTask) -> Provenance
    let group: Communicator
    let shouldAbandon: () -> Bool
    private var datasets: [DataSpec: (train: ImageDataset, test: ImageDataset)] = [:]
    /// Test-set outputs of parents and teachers, by task id: computed once per process.
    private var referenceOutputs: [String: ModelOutputs] = [:]

    init(store: TensorStore, group: Communicator, provenance: @escaping (SweepTask) -> Provenance, shouldAbandon: @escaping () -> Bool) {
        self.store = store; self.group = group; self.provenance = provenance; self.shouldAbandon = shouldAbandon
    }

    var isLeader: Bool { group.rank == 0 }

    func run(_ task: SweepTask) throws -> TaskMetrics {
        switch task.spec {
        case .parent(let s), .teacher(let s): .train(try train(task, s).metrics)
        case .trial(let s): .trial(try trial(task, s))
        case .round(let s): .round(try round(task, s).metrics)
        }
    }

    // MARK: data

    func data(_ d: DataSpec) throws -> (train: ImageDataset, test: ImageDataset) {
        if let cached = datasets[d] { return cached }
        var (train, test) = try ImageData.load(directory: d.dir, labels: d.labels)
        if let n = d.trainSubset { train = train.subset(n) }
        if let n = d.testSubset { test = test.subset(n) }
        datasets[d] = (train, test)
        return (train, test)
    }

    // MARK: parents and teachers

    /// Trains a parent or teacher from its spec and stores it.
    func train(_ task: SweepTask, _ spec: TrainSpec) throws -> (model: Model, metrics: TrainMetrics) {
        let (train, test) = try data(spec.data)
        let model: Model, stats: [EpochStats]
        if let source = spec.checkpoint {
            model = try load(source, spec.arch, train)
            stats = []
        } else {
            model = Model(spec.arch, for: train, seed: spec.seed)
            stats = try NeuralNet.train(model, on: train, settings: spec.training, seed: spec.seed, group: dataParallel,
                                        onEpoch: { _, s in try self.checkFinite(s.loss, "training loss") })
        }
        if isLeader { try store.put(modelKey(task), model.safetensors(metadata: ["task": task.id]), provenance: provenance(task)) }
        let e = evaluate(model, on: test)
        var m = TrainMetrics(accuracy: e.accuracy, loss: e.loss, trainLoss: stats.last?.loss)
        if task.kind == .parent {
            let a = RatioAnalysis.analyse(model)
            (m.optimalRatio, m.safeRatio, m.k2, m.analysisError) = (a.optimal, a.safe, a.k2, a.problem)
            m.kurtosisPerTensor = a.perTensorKurtosis.isEmpty ? nil : a.kurtosisByName
        }
        return (model, m)
    }

    /// A parent from a checkpoint: the same files the sweep file named (their CRC-32s), as the architecture.
    func load(_ source: CheckpointSource, _ arch: Architecture, _ train: ImageDataset) throws -> Model {
        let now = try CheckpointSource.read(source.path)
        guard now.crc32 == source.crc32 else {
            throw TaskFailure(description: "\(source.path) changed since the sweep file was read (CRC-32 \(now.crc32), expected \(source.crc32))")
        }
        return try Model(checkpoint: Checkpoint.open(source.path), architecture: arch, for: train)
    }

    func modelKey(_ task: SweepTask) -> String { "\(task.kind.rawValue)/\(task.id)" }

    /// The model a finished parent or teacher task stored, recomputed (and
    /// stored again) when the store lost it or it is corrupt.
    func model(of task: SweepTask, _ spec: TrainSpec) throws -> Model {
        let bytes = try leaderFetch(modelKey(task))
        if !bytes.isEmpty { return try Model(try Safetensors.decode(bytes, source: modelKey(task)), source: modelKey(task)) }
        return try train(task, spec).model
    }

    /// The leader's read of `key` (verified), shared with the group; empty on a cache miss.
    func leaderFetch(_ key: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        if isLeader {
            do { bytes = try store.get(key).encode() } catch let e as StoreError where e.isCacheMiss {
                bytes = []
            }
        }
        return try group.broadcast(bytes)
    }

    /// Logits of `teacher` on the training set, computed once and kept in the store.
    func logits(of teacher: Model, key: String, task: SweepTask, train: ImageDataset) throws -> Tensor {
        let bytes = try leaderFetch(key)
        if !bytes.isEmpty { return try TeacherLogits(try Safetensors.decode(bytes, source: key), source: key).logits }
        let l = try TeacherLogits(model: teacher, data: train)
        // the object names the model its key names (a store checks that on every get)
        var made = provenance(task)
        made.task = Seal.boundTask(key) ?? task.id
        if isLeader { try store.put(key, l.safetensors(), provenance: made) }
        return l.logits
    }

    // MARK: trials

    func trial(_ task: SweepTask, _ spec: TrialSpec) throws -> TrialMetrics {
        let (train, test) = try data(spec.parent.data)
        let parentTask = SweepTask(.parent(spec.parent))
        let parent = try model(of: parentTask, spec.parent)

        let analysis = RatioAnalysis.analyse(parent)
        let ratio: Double
        do { ratio = try analysis.resolve(spec.ratio) } catch { throw TaskFailure(description: "cannot resolve ratio '\(spec.ratio)': \(error)") }

        // The mask and the fine-tuning order depend on (parent, ratio, method)
        // only, so every teacher at a grid point starts from the same pruned net.
        let pointSeed = RandomStream.hash("\(parentTask.id)|\(spec.ratio)|\(spec.method.rawValue)")
        let cut = PrunedNet(parent: parent, ratio: ratio, method: spec.method, seed: pointSeed, test: test)
        let cutOutputs = ModelOutputs(logits: cut.outputs.logits, penultimate: cut.outputs.penultimate)

        let scratch = spec.student == .scratch
        let teacher: (logits: Tensor?, outputs: ModelOutputs?)
        if scratch && spec.teacher == .parent {
            // from scratch the parent pruned at r teaches
            teacher = (try logits(of: cut.model, key: "logits/pruned-\(String(pointSeed, radix: 16))", task: task, train: train), cutOutputs)
        } else {
            teacher = try teaching(spec.teacher, spec.teacherSpec, task: task, parentTask: parentTask, parent: parent, seed: spec.seed, train: train, test: test)
        }
        let loss = distillation(teacher.logits, spec.kd)
        let teacherOutputs = teacher.outputs

        let student = scratch ? Model(parent.architecture, for: train, seed: spec.seed) : nil
        let tuned = try cut.fineTune(student: student, on: train, test: test, settings: spec.finetune, seed: pointSeed, loss: { _ in loss },
                                     group: dataParallel, onEpoch: { _, s in try self.checkFinite(s.loss, "fine-tuning loss") })
        let studentOutputs = ModelOutputs(logits: tuned.outputs.logits, penultimate: tuned.outputs.penultimate)
        if isLeader { try store.put("student/\(task.id)", tuned.model.safetensors(metadata: ["task": task.id]), provenance: provenance(task)) }
        return TrialMetrics(
            ratio: ratio, cosine: cut.cosine,
            accuracyBefore: cut.evaluation.accuracy, lossBefore: cut.evaluation.loss,
            accuracyAfter: tuned.evaluation.accuracy, lossAfter: tuned.evaluation.loss, trainLoss: tuned.stats.last?.loss,
            sparsity: tuned.sparsity.global, sparsityPerTensor: tuned.sparsity.byName, collapsed: tuned.sparsity.collapsed,
            k2: analysis.k2, optimalRatio: analysis.optimal, safeRatio: analysis.safe,
            parent: FunctionalMetrics(outputs(of: parentTask, parent, test), studentOutputs, labels: test.labels),
            teacher: teacherOutputs.map { FunctionalMetrics($0, studentOutputs, labels: test.labels) })
    }

    /// Training logits of `teacher` (the unpruned `parent` for `.parent`), and
    /// its test outputs when it is a trained model.
    func teaching(_ teacher: TeacherKind, _ teacherSpec: TrainSpec?, task: SweepTask, parentTask: SweepTask, parent: Model, seed: UInt64,
                  train: ImageDataset, test: ImageDataset) throws -> (logits: Tensor?, outputs: ModelOutputs?) {
        switch teacher {
        case .none, .file: return (nil, nil)
        case .parent: return (try logits(of: parent, key: "logits/\(parentTask.id)", task: task, train: train), nil)
        case .noise(let kind): return (noiseTeacherLogits(kind: kind, count: train.count, classes: train.classes, seed: seed), nil)
        case .model:
            guard let teacherSpec else { return (nil, nil) }
            let teacherTask = SweepTask(.teacher(teacherSpec))
            let teacherModel = try model(of: teacherTask, teacherSpec)
            return (try logits(of: teacherModel, key: "logits/\(teacherTask.id)", task: task, train: train), outputs(of: teacherTask, teacherModel, test))
        }
    }

    /// Hinton's loss with the teacher's logits, or cross-entropy alone.
    func distillation(_ teacherLogits: Tensor?, _ kd: KDSettings?) -> LossFunction {
        guard let z = teacherLogits, let kd else { return crossEntropyLoss }
        return kdLoss(teacherLogits: z, temperature: Float(kd.temperature), alpha: Float(kd.alpha))
    }

    func outputs(of task: SweepTask, _ model: Model, _ test: ImageDataset) -> ModelOutputs {
        if let o = referenceOutputs[task.id] { return o }
        let o = ModelOutputs(model, on: test)
        referenceOutputs[task.id] = o
        return o
    }

    // MARK: helpers

    var dataParallel: DataParallel? {
        guard group.size > 1 else { return nil }
        let g = group
        return DataParallel(rank: g.rank, size: g.size, reduce: { try g.allreduceSum($0) }, reduceStatistics: { try g.allreduceSum($0) })
    }

    /// At the end of an epoch (never inside one: a group's members must stay in
    /// step with the leader's allreduces): stop when abandoned or diverging.
    func checkFinite(_ x: Double, _ what: String) throws {
        if shouldAbandon() { throw Abandoned() }
        guard x.isFinite else { throw TaskFailure(description: "\(what) diverged (\(x))") }
    }
}
