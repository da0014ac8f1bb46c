import Cluster
import Datasets
import Distillation
import Foundation
import NeuralNet
import Pruning
import Safetensors
import SeededRandom
import TensorStore

/// What a finished task reports: numbers for tables, text for notes.
public struct TaskOutcome {
    public var metrics: [String: Double] = [:]
    public var info: [String: String] = [:]
    public init(metrics: [String: Double] = [:], info: [String: String] = [:]) { self.metrics = metrics; self.info = info }
}

/// The task failed on purpose (not a crash): diverging loss, an impossible ratio.
struct TaskFailure: Error, CustomStringConvertible { let description: String }

/// The task was abandoned (a stop past its grace period); it will run again on resume.
struct Abandoned: Error {}

/// Runs one task. Every member of a data-parallel group calls `run` with the
/// same task; the leader reads the store and broadcasts what it found, so all
/// members take the same path, and only the leader writes.
final class TaskRunner {
    let store: TensorStore
    let graph: TaskGraph
    let provenance: (SweepTask) -> Provenance
    let group: Communicator
    let shouldAbandon: () -> Bool
    private var datasets: [String: (train: ImageDataset, test: ImageDataset)] = [:]
    /// Test-set outputs of parents and teachers, by task id: computed once per process.
    private var referenceOutputs: [String: ModelOutputs] = [:]

    init(store: TensorStore, graph: TaskGraph, group: Communicator, provenance: @escaping (SweepTask) -> Provenance, shouldAbandon: @escaping () -> Bool) {
        self.store = store; self.graph = graph; self.group = group; self.provenance = provenance; self.shouldAbandon = shouldAbandon
    }

    var isLeader: Bool { group.rank == 0 }

    func run(_ task: SweepTask) throws -> TaskOutcome {
        switch task.kind {
        case .parent, .teacher: return try trainTask(task).outcome
        case .trial: return try trial(task)
        }
    }

    // MARK: data

    func data(_ p: [String: String]) throws -> (train: ImageDataset, test: ImageDataset) {
        let key = [p["data"]!, p["train_subset"] ?? "", p["test_subset"] ?? ""].joined(separator: "|")
        if let d = datasets[key] { return d }
        var train = try MNISTLayout.load(directory: p["data"]!, split: .train)
        var test = try MNISTLayout.load(directory: p["data"]!, split: .test)
        if let n = p["train_subset"].flatMap(Int.init) { train = train.subset(n) }
        if let n = p["test_subset"].flatMap(Int.init) { test = test.subset(n) }
        datasets[key] = (train, test)
        return (train, test)
    }

    // MARK: parents and teachers

    /// Trains a parent or teacher from its parameters and stores it.
    func trainTask(_ task: SweepTask) throws -> (model: Model, outcome: TaskOutcome) {
        let p = task.parameters
        let (train, test) = try data(p)
        let seed = UInt64(p["seed"]!)!
        let model = Model(try Architecture(parsing: p["arch"]!), inputSide: train.rows, classes: train.classes, seed: seed)
        let sgd = SGD(store: model.store, learningRate: Float(p["lr"]!)!, momentum: Float(p["momentum"]!)!, weightDecay: Float(p["weight_decay"]!)!)
        var last: EpochStats?
        for epoch in 0..<Int(p["epochs"]!)! {
            last = try trainEpoch(model, on: train, optimizer: sgd, batchSize: Int(p["batch"]!)!, seed: seed, epoch: epoch,
                                  group: dataParallel, onBatch: abandonCheck)
            try checkFinite(last!.loss, "training loss")
        }
        if isLeader { try store.put(modelKey(task), model.safetensors(metadata: ["task": task.id]), provenance: provenance(task)) }
        var out = TaskOutcome()
        let e = evaluate(model, on: test)
        out.metrics["accuracy"] = e.accuracy
        out.metrics["loss"] = e.loss
        if let last { out.metrics["train_loss"] = last.loss }
        if task.kind == .parent {
            do {
                let a = try RatioAnalysis.analyse(model)
                out.metrics["optimal_ratio"] = a.optimal
                out.metrics["safe_ratio"] = a.safe
                out.metrics["k2"] = a.k2
            } catch { out.info["analysis_error"] = "\(error)" }
        }
        return (model, out)
    }

    func modelKey(_ task: SweepTask) -> String { "\(task.kind.rawValue)/\(task.id)" }

    /// The model a finished parent or teacher task stored, recomputed (and
    /// stored again) when the store lost it or it is corrupt.
    func model(of task: SweepTask) throws -> Model {
        let bytes = try leaderFetch(modelKey(task))
        if !bytes.isEmpty { return try Model(try Safetensors.decode(bytes, source: modelKey(task)), source: modelKey(task)) }
        return try trainTask(task).model
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
        if isLeader { try store.put(key, l.safetensors(), provenance: provenance(task)) }
        return l.logits
    }

    // MARK: trials

    func trial(_ task: SweepTask) throws -> TaskOutcome {
        let p = task.parameters
        let (train, test) = try data(p)
        let seed = UInt64(p["seed"]!)!
        let parentTask = graph[task.needs[0]]!
        let parent = try model(of: parentTask)
        var out = TaskOutcome()

        var analysis: RatioAnalysis?, analysisProblem = ""
        do { analysis = try RatioAnalysis.analyse(parent) } catch { analysisProblem = "\(error)" }
        let ratio: Double
        switch p["ratio"]! {
        case "optimal", "safe":
            guard let a = analysis else { throw TaskFailure(description: "cannot resolve ratio '\(p["ratio"]!)': \(analysisProblem)") }
            ratio = p["ratio"] == "optimal" ? a.optimal : a.safe
        default: ratio = Double(p["ratio"]!)!
        }
        if let a = analysis { out.metrics["k2"] = a.k2; out.metrics["optimal_ratio"] = a.optimal; out.metrics["safe_ratio"] = a.safe }
        out.metrics["ratio"] = ratio

        // The mask and the fine-tuning order depend on (parent, ratio, method)
        // only, so every teacher at a grid point starts from the same pruned net.
        let method = PruneMethod(rawValue: p["method"]!)!
        let pointSeed = RandomStream.hash("\(parentTask.id)|\(p["ratio"]!)|\(method.rawValue)")
        let masks = pruneMasks(parent, ratio: ratio, method: method, seed: pointSeed)
        let prunedNet = pruned(parent, masks: masks)
        out.metrics["cosine"] = cosineSimilarity(parent, prunedNet)
        let prunedOutputs = ModelOutputs(prunedNet, on: test)
        let before = Evaluation(logits: prunedOutputs.logits, labels: test.labels[...])
        out.metrics["accuracy_before"] = before.accuracy
        out.metrics["loss_before"] = before.loss

        let scratch = p["student"] == "scratch"
        let student = scratch ? Model(parent.architecture, inputSide: train.rows, classes: train.classes, seed: seed) : prunedNet
        let teacher = try TeacherChoice(parsing: p["teacher"]!)
        var teacherOutputs: ModelOutputs?
        var loss = crossEntropyLoss
        let kd = { (t: Tensor) in
            kdLoss(teacherLogits: t, temperature: Float(p["kd.temperature"]!)!, alpha: Float(p["kd.alpha"]!)!)
        }
        switch teacher {
        case .none: break
        case .parent:
            // fine-tuning: the unpruned parent teaches; from scratch: the parent pruned at r does
            let key = scratch ? "logits/pruned-\(String(pointSeed, radix: 16))" : "logits/\(parentTask.id)"
            loss = kd(try logits(of: scratch ? prunedNet : parent, key: key, task: task, train: train))
            if scratch { teacherOutputs = prunedOutputs }
        case .uniform, .gaussian:
            let kind: NoiseKind = teacher == .uniform ? .uniform : .gaussian
            loss = kd(noiseTeacherLogits(kind: kind, count: train.count, classes: train.classes, seed: seed))
        case .model:
            let teacherTask = graph[task.needs[1]]!
            let teacherModel = try model(of: teacherTask)
            loss = kd(try logits(of: teacherModel, key: "logits/\(teacherTask.id)", task: task, train: train))
            teacherOutputs = outputs(of: teacherTask, teacherModel, test)
        }

        let stats = try fineTune(student, on: train, epochs: Int(p["finetune.epochs"]!)!, batchSize: Int(p["finetune.batch"]!)!,
                                 learningRate: Float(p["finetune.lr"]!)!, momentum: Float(p["finetune.momentum"]!)!,
                                 weightDecay: Float(p["finetune.weight_decay"]!)!, seed: pointSeed, loss: loss,
                                 group: dataParallel) { _, _, _ in self.abandonCheck(0, 0) }
        if shouldAbandon() { throw Abandoned() }
        for s in stats { try checkFinite(s.loss, "fine-tuning loss") }
        if let s = stats.last { out.metrics["train_loss"] = s.loss }

        let studentOutputs = ModelOutputs(student, on: test)
        let after = Evaluation(logits: studentOutputs.logits, labels: test.labels[...])
        out.metrics["accuracy_after"] = after.accuracy
        out.metrics["loss_after"] = after.loss
        let sp = sparsity(student)
        out.metrics["sparsity"] = sp.global
        for t in sp.perTensor { out.metrics["sparsity.\(t.name)"] = t.sparsity }
        if !sp.collapsed.isEmpty { out.info["collapsed"] = sp.collapsed.joined(separator: ",") }

        add(FunctionalMetrics(outputs(of: parentTask, parent, test), studentOutputs, labels: test.labels), as: "parent", to: &out)
        if let t = teacherOutputs { add(FunctionalMetrics(t, studentOutputs, labels: test.labels), as: "teacher", to: &out) }
        if isLeader { try store.put("student/\(task.id)", student.safetensors(metadata: ["task": task.id]), provenance: provenance(task)) }
        return out
    }

    func add(_ m: FunctionalMetrics, as who: String, to out: inout TaskOutcome) {
        out.metrics["agreement_\(who)"] = m.agreement
        out.metrics["js_\(who)"] = m.jensenShannon
        out.metrics["activation_distance_\(who)"] = m.activationDistance
        out.metrics["cka_\(who)"] = m.linearCKA
        out.metrics["bures_\(who)"] = m.normalizedBures
        out.metrics["error_copy_\(who)"] = m.errorCopy
        out.metrics["right_agreement_\(who)"] = m.rightAgreement
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
        return DataParallel(rank: g.rank, size: g.size) { try g.allreduceSum($0) }
    }

    func abandonCheck(_ done: Int, _ total: Int) {
        if shouldAbandon() { abandonRequested = true }
    }
    var abandonRequested = false

    func checkFinite(_ x: Double, _ what: String) throws {
        if abandonRequested || shouldAbandon() { throw Abandoned() }
        guard x.isFinite else { throw TaskFailure(description: "\(what) diverged (\(x))") }
    }
}
