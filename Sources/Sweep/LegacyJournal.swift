import Distillation
import Foundation
import NeuralNet
import Pruning

/// Journal lines written by prunesweep 0.1.0 (format 1): settings as a string
/// map, metrics as a flat number map, and a trial naming its parent only by id.
/// They convert to current records: parents and fine-tuning of 0.1.0 ran at a
/// constant learning rate, so the converted specs say so, and a current sweep
/// with `schedule = "constant"` in [parent] and [finetune] has the same task ids.
public struct LegacyJournal {
    public struct Line: Decodable {
        var task: String
        var kind: TaskKind
        var status: TaskStatus
        var parameters: [String: String]
        var metrics: [String: Double]
        var error: String?
        var seconds: Double
        var rank: Int
        var host: String
        var finished: String
    }

    /// The parents of the journal by their 0.1.0 id.
    let parents: [String: TrainSpec]

    init(_ lines: [Line]) {
        var parents: [String: TrainSpec] = [:]
        for l in lines where l.kind == .parent {
            if let spec = try? LegacyJournal.trainSpec(l.parameters) { parents[l.task] = spec }
        }
        self.parents = parents
    }

    func convert(_ l: Line) throws -> ResultRecord {
        let p = l.parameters
        let spec: TaskSpec
        var metrics: TaskMetrics?
        switch l.kind {
        case .parent, .teacher:
            let t = try LegacyJournal.trainSpec(p)
            spec = l.kind == .parent ? .parent(t) : .teacher(t)
            if l.status == .done { metrics = .train(try LegacyJournal.trainMetrics(l.metrics)) }
        case .trial:
            let parentID = try LegacyJournal.value(p, "parent")
            guard let parent = parents[parentID] else {
                throw LegacyError("format-1 trial \(l.task) needs parent \(parentID), which has no readable line in this journal")
            }
            let trial = try LegacyJournal.trialSpec(p, parent: parent)
            spec = .trial(trial)
            if l.status == .done { metrics = .trial(try LegacyJournal.trialMetrics(l.metrics)) }
        case .round:
            throw LegacyError("format-1 journals have no IMP rounds (task \(l.task))")
        }
        var r = ResultRecord(SweepTask(spec), status: l.status, metrics: metrics, error: l.error)
        r.format = 1
        r.seconds = l.seconds; r.rank = l.rank; r.host = l.host; r.finished = l.finished
        return r
    }

    static func value(_ p: [String: String], _ key: String) throws -> String {
        guard let v = p[key] else { throw LegacyError("format-1 line without '\(key)'") }
        return v
    }

    static func number<T: LosslessStringConvertible>(_ p: [String: String], _ key: String) throws -> T {
        let text = try value(p, key)
        guard let v = T(text) else { throw LegacyError("format-1 line: '\(key)' = '\(text)' is not a number") }
        return v
    }

    static func training(_ p: [String: String], prefix: String) throws -> TrainingSettings {
        TrainingSettings(epochs: try number(p, prefix + "epochs"), lr: try number(p, prefix + "lr"),
                         momentum: try number(p, prefix + "momentum"), weightDecay: try number(p, prefix + "weight_decay"),
                         batch: try number(p, prefix + "batch"), schedule: .constant)
    }

    static func data(_ p: [String: String]) throws -> DataSpec {
        DataSpec(dir: try value(p, "data"), trainSubset: p["train_subset"].flatMap(Int.init), testSubset: p["test_subset"].flatMap(Int.init))
    }

    static func trainSpec(_ p: [String: String]) throws -> TrainSpec {
        let arch = try value(p, "arch")
        guard let a = try? Architecture(parsing: arch) else { throw LegacyError("format-1 line: unknown architecture '\(arch)'") }
        return TrainSpec(arch: a, training: try training(p, prefix: ""), data: try data(p), seed: try number(p, "seed"))
    }

    static func trialSpec(_ p: [String: String], parent: TrainSpec) throws -> TrialSpec {
        let ratio = try Ratio(parsing: try value(p, "ratio"))
        guard let method = PruneMethod(rawValue: try value(p, "method")) else { throw LegacyError("format-1 line: unknown method '\(p["method"] ?? "")'") }
        let teacher = try TeacherKind(parsing: try value(p, "teacher"))
        guard let student = StudentKind(rawValue: try value(p, "student")) else { throw LegacyError("format-1 line: unknown student '\(p["student"] ?? "")'") }
        var kd: KDSettings?
        if p["kd.temperature"] != nil { kd = KDSettings(temperature: try number(p, "kd.temperature"), alpha: try number(p, "kd.alpha")) }
        return TrialSpec(parent: parent, ratio: ratio, method: method, teacher: teacher, student: student,
                         finetune: try training(p, prefix: "finetune."), kd: kd, threads: try number(p, "threads"))
    }

    static func trainMetrics(_ m: [String: Double]) throws -> TrainMetrics {
        guard let accuracy = m["accuracy"], let loss = m["loss"] else { throw LegacyError("format-1 line: a finished model without accuracy and loss") }
        return TrainMetrics(accuracy: accuracy, loss: loss, trainLoss: m["train_loss"], optimalRatio: m["optimal_ratio"],
                            safeRatio: m["safe_ratio"], k2: m["k2"])
    }

    static func trialMetrics(_ m: [String: Double]) throws -> TrialMetrics {
        func get(_ k: String) throws -> Double {
            guard let v = m[k] else { throw LegacyError("format-1 line: a finished trial without '\(k)'") }
            return v
        }
        /// 0.1.0 kept seven of the functional metrics; the others are unknown.
        func functional(_ who: String) throws -> FunctionalMetrics? {
            guard m["agreement_\(who)"] != nil else { return nil }
            return FunctionalMetrics(examples: 0, accuracyA: .nan, accuracyB: .nan, agreement: try get("agreement_\(who)"),
                                     jensenShannon: try get("js_\(who)"), activationDistance: try get("activation_distance_\(who)"),
                                     linearCKA: try get("cka_\(who)"), normalizedBures: try get("bures_\(who)"),
                                     errorCopy: try get("error_copy_\(who)"), rightAgreement: try get("right_agreement_\(who)"), wrongByA: 0)
        }
        guard let parent = try functional("parent") else { throw LegacyError("format-1 line: a finished trial without 'agreement_parent'") }
        let perTensor = Dictionary(uniqueKeysWithValues: m.filter { $0.key.hasPrefix("sparsity.") }.map { (String($0.key.dropFirst(9)), $0.value) })
        return TrialMetrics(ratio: try get("ratio"), cosine: try get("cosine"), accuracyBefore: try get("accuracy_before"),
                            lossBefore: try get("loss_before"), accuracyAfter: try get("accuracy_after"), lossAfter: try get("loss_after"),
                            trainLoss: m["train_loss"], sparsity: try get("sparsity"), sparsityPerTensor: perTensor,
                            collapsed: perTensor.filter { $0.value == 1 }.keys.sorted(), k2: m["k2"], optimalRatio: m["optimal_ratio"],
                            safeRatio: m["safe_ratio"], parent: parent, teacher: try functional("teacher"))
    }
}

struct LegacyError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
