import Foundation
import NeuralNet

/// What a trial distils from.
public enum TeacherChoice: Equatable, Codable, CustomStringConvertible {
    case none, parent, uniform, gaussian
    case model(String)   // an architecture trained with the trial's seed

    public init(parsing s: String) throws {
        switch s {
        case "none": self = .none
        case "parent": self = .parent
        case "uniform": self = .uniform
        case "gaussian": self = .gaussian
        default:
            _ = try Architecture(parsing: s)
            self = .model(s)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .parent: "parent"
        case .uniform: "uniform"
        case .gaussian: "gaussian"
        case .model(let a): a
        }
    }
}

public enum TaskKind: String, Codable, CaseIterable {
    /// Trains the parent P_s (and resolves its optimal and safe ratios).
    case parent
    /// Trains a named teacher model with seed s.
    case teacher
    /// Prunes P_s at a ratio and fine-tunes (or distils a fresh student).
    case trial
}

/// One unit of work. Its identity is a hash of the parameters that determine
/// its result, and every random stream it draws derives from that identity.
public struct SweepTask: Codable, Equatable {
    public var id: String
    public var kind: TaskKind
    public var parameters: [String: String]
    /// Ids of the tasks whose tensors this one needs.
    public var needs: [String]

    public init(kind: TaskKind, parameters: [String: String], needs: [String] = []) {
        self.kind = kind; self.parameters = parameters; self.needs = needs
        id = kind.rawValue + "-" + String(contentHash(kind.rawValue + "\u{1E}" + SweepTask.canonical(parameters)).prefix(16))
    }

    /// Parameters as sorted `key=value` lines: the text the id hashes.
    public static func canonical(_ p: [String: String]) -> String {
        p.keys.sorted().map { "\($0)=\(p[$0]!)" }.joined(separator: "\n")
    }

    public var label: String {
        switch kind {
        case .parent: "parent seed=\(parameters["seed"]!)"
        case .teacher: "teacher \(parameters["arch"]!) seed=\(parameters["seed"]!)"
        case .trial: "trial seed=\(parameters["seed"]!) ratio=\(parameters["ratio"]!) method=\(parameters["method"]!) teacher=\(parameters["teacher"]!)"
        }
    }
}

/// The grid expanded: every point of the axes (crossed, or walked together
/// where zipped) becomes a trial; parents and teachers are shared tasks that
/// trials wait for.
public struct TaskGraph {
    public private(set) var tasks: [SweepTask] = []
    public private(set) var index: [String: Int] = [:]

    public init(_ sweep: SweepFile) {
        for point in TaskGraph.points(sweep) {
            var s = sweep
            var reader = Reader(file: sweep.path)
            for (axis, value) in point where !SweepFile.standardAxes.contains(axis) {
                try! s.set(axis, to: value.node, reader: &reader)   // validated when the file was read
            }
            let seed = point.first { $0.0 == "seeds" }!.1.description
            let parent = add(SweepTask(kind: .parent, parameters: TaskGraph.trainingParameters(s.parent, data: s.data, seed: seed)))
            var needs = [parent]
            let teacherText = point.first { $0.0 == "teachers" }!.1.description
            let teacher = try! TeacherChoice(parsing: teacherText)
            if case .model(let arch) = teacher {
                var t = s.parent
                t.arch = arch
                needs.append(add(SweepTask(kind: .teacher, parameters: TaskGraph.trainingParameters(t, data: s.data, seed: seed))))
            }
            var p = TaskGraph.trainingParameters(s.finetune, data: s.data, seed: seed, prefix: "finetune.")
            p.removeValue(forKey: "finetune.arch")
            p["parent"] = parent
            p["seed"] = seed
            p["ratio"] = point.first { $0.0 == "ratios" }!.1.description
            p["method"] = point.first { $0.0 == "methods" }!.1.description
            p["teacher"] = teacherText
            p["student"] = s.student
            p["threads"] = String(s.threads)
            if teacher != .none || s.student == "scratch" {
                p["kd.temperature"] = String(s.kd.temperature)
                p["kd.alpha"] = String(s.kd.alpha)
            }
            _ = add(SweepTask(kind: .trial, parameters: p, needs: needs))
        }
    }

    static func trainingParameters(_ t: TrainSettings, data: DataSettings, seed: String, prefix: String = "") -> [String: String] {
        var p = [
            "\(prefix)arch": t.arch, "\(prefix)epochs": String(t.epochs), "\(prefix)lr": String(t.lr),
            "\(prefix)momentum": String(t.momentum), "\(prefix)weight_decay": String(t.weightDecay),
            "\(prefix)batch": String(t.batch), "seed": seed, "data": data.dir,
        ]
        if let n = data.trainSubset { p["train_subset"] = String(n) }
        if let n = data.testSubset { p["test_subset"] = String(n) }
        return p
    }

    private mutating func add(_ t: SweepTask) -> String {
        if index[t.id] == nil {
            index[t.id] = tasks.count
            tasks.append(t)
        }
        return t.id
    }

    public subscript(id: String) -> SweepTask? { index[id].map { tasks[$0] } }

    /// Every grid point as (axis, value) pairs, in file order: the last axis varies fastest.
    static func points(_ sweep: SweepFile) -> [[(String, AxisValue)]] {
        // a "dimension" is one axis, or a zip group of axes walked together
        var dims: [[String]] = []
        for a in sweep.axes.map(\.name) {
            if let g = sweep.zips.first(where: { $0.contains(a) }) {
                if !dims.contains(g) { dims.append(g) }
            } else { dims.append([a]) }
        }
        var out: [[(String, AxisValue)]] = [[]]
        for d in dims {
            let length = sweep.axes.first { $0.name == d[0] }!.values.count
            out = out.flatMap { prefix in
                (0..<length).map { i in prefix + d.map { name in (name, sweep.axes.first { $0.name == name }!.values[i]) } }
            }
        }
        return out
    }

    public var counts: [TaskKind: Int] { Dictionary(grouping: tasks, by: \.kind).mapValues(\.count) }
}
