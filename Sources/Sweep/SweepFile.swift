import Datasets
import Distillation
import Foundation
import NeuralNet
import Pruning
import Safetensors

/// A sweep file (TOML), validated: every unknown key, wrong type or impossible
/// value is an error naming the key and its line. Settings become typed values
/// here and stay typed up to the journal.
///
///     name = "demo"
///     [data]      dir, train_subset, test_subset, labels ("fine" | "coarse", CIFAR-100's)
///     [parent]    arch, epochs, lr, momentum, nesterov, weight_decay, batch, schedule, milestones, gamma, warmup_epochs, augment
///     [finetune]  the training keys of [parent] but arch, and student ("pruned" | "scratch")
///     [kd]        temperature, alpha
///     [imp]       rounds, rate, rewind ("init" | "epoch:K" | "iter:N"), epochs, weights_only, layers, stability
///                 (for methods imp, imp-reinit, imp-random; training as [parent] but epochs)
///     [axes]      seeds, ratios (numbers, "optimal", "safe"), teachers, methods,
///                 any other setting as "table.key" = [values],
///                 zip = [["axis", "axis"], ...] pairs axes element-wise
///     [run]       group_size, threads
public struct SweepFile {
    public var name: String
    public var data = DataSpec()
    public var arch = Architecture.lenet5
    /// [parent] checkpoint: the parent is loaded from it instead of trained.
    public var checkpoint: CheckpointSource?
    public var parent = TrainingSettings(epochs: 2, lr: 0.05)
    public var finetune = TrainingSettings(epochs: 1, lr: 0.01)
    public var student = StudentKind.pruned
    public var kd = KDSettings()
    /// [imp]: rounds after the dense one, what each round depends on, and epochs per round (default [parent]'s).
    public var impRounds = 3
    public var imp = IMPSettings()
    public var impEpochs: Int?
    /// Axes in file order; `zips` groups axes walked together.
    public var axes: [Axis] = []
    public var zips: [[String]] = []
    public var groupSize = 1
    public var threads = 1
    /// Hash of the file's bytes: recorded in the manifest and in tensor provenance.
    public var hash = ""
    public var path = ""
    /// The line of each key set, for errors found after reading ("parent.lr" -> 12).
    var lines: [String: Int] = [:]

    static let trainingKeys = ["epochs", "lr", "momentum", "nesterov", "weight_decay", "batch", "schedule", "milestones", "gamma", "warmup_epochs", "augment"]
    static let tables: [String: [String]] = [
        "data": ["dir", "train_subset", "test_subset", "labels"],
        "parent": ["arch", "checkpoint"] + trainingKeys,
        "finetune": trainingKeys + ["student"],
        "kd": ["temperature", "alpha"],
        "imp": ["rounds", "rate", "rewind", "epochs", "weights_only", "layers", "stability"],
        "run": ["group_size", "threads"],
    ]

    /// Reads, parses and checks the file, against this machine too (`plan`).
    public static func load(path: String) throws -> SweepFile {
        let sweep = try parse(bytes: read(path: path), path: path)
        try sweep.checkMachine()
        return sweep
    }

    /// The file's bytes (rank 0 reads them and hands them to the other ranks).
    public static func read(path: String) throws -> [UInt8] {
        do {
            guard try InputFile.regularSize(path) <= 1 << 24 else { throw FileError(path: path, problem: "larger than 16 MiB; a sweep file is a page of settings") }
            return try InputFile.read(path)
        } catch let e as FileError {
            throw SweepFileError(file: path, line: 0, message: e.problem == "file not found" ? "sweep file not found" : e.problem)
        }
    }

    /// Parses and validates the bytes of the file at `path`, recording their hash.
    public static func parse(bytes: [UInt8], path: String) throws -> SweepFile {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw SweepFileError(file: path, line: 0, message: "not UTF-8 text") }
        var sweep = try parse(text, file: path)
        sweep.hash = contentHash(bytes)
        sweep.path = path
        return sweep
    }

    /// `legacy`: read the file as 0.1.0 did, whose parents and fine-tuning ran at a constant rate.
    public static func parse(_ text: String, file: String, legacy: Bool = false) throws -> SweepFile {
        let root: TOMLTable
        do { root = try TOML.parse(text, file: file) } catch let e as TOMLError {
            throw SweepFileError(file: e.file, line: e.line, message: e.message)
        }
        let r = Reader(file: file)
        guard let nameNode = root["name"] else { throw SweepFileError(file: file, line: 1, message: "missing key 'name' (the sweep's name, used for its results directory)") }
        var sweep = SweepFile(name: try r.string(nameNode, "name"))
        // one path component inside --results: no "..", no "/", no hidden name
        guard sweep.name.range(of: "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", options: .regularExpression) != nil else {
            throw r.error(nameNode, "name", "must be 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' (it names a directory inside --results), found '\(sweep.name)'")
        }
        if legacy { sweep.parent.schedule = .constant; sweep.finetune.schedule = .constant }
        for (key, node) in root.entries {
            switch key {
            case "name": continue
            case "axes": try r.axes(node, into: &sweep)
            default:
                guard let allowed = tables[key] else {
                    throw r.error(node, key, "unknown key; expected name, data, parent, finetune, kd, imp, axes or run")
                }
                guard case .table(let t) = node.value else { throw r.error(node, key, "must be a table ([\(key)])") }
                for (k, n) in t.entries {
                    guard allowed.contains(k) else { throw r.error(n, "\(key).\(k)", "unknown key; expected one of \(allowed.joined(separator: ", "))") }
                    try r.setting("\(key).\(k)", n).apply(&sweep)
                    sweep.lines["\(key).\(k)"] = n.line
                }
            }
        }
        if !sweep.axes.contains(where: { $0.name == "seeds" }) { sweep.axes.insert(Axis(name: "seeds", values: [.seed(0)]), at: 0) }
        if !sweep.axes.contains(where: { $0.name == "ratios" }) { sweep.axes.append(Axis(name: "ratios", values: [.ratio(.optimal)])) }
        if !sweep.axes.contains(where: { $0.name == "teachers" }) { sweep.axes.append(Axis(name: "teachers", values: [.teacher(.none)])) }
        if !sweep.axes.contains(where: { $0.name == "methods" }) { sweep.axes.append(Axis(name: "methods", values: [.method(.l1)])) }
        sweep.path = file
        for variant in sweep.settingVariants() {
            try variant.checkTraining(file: file)
            try variant.checkBounds()
        }
        return sweep
    }

    /// Every IMP round's training: [parent]'s, with [imp] epochs.
    public var impTraining: TrainingSettings {
        var t = parent
        t.epochs = impEpochs ?? parent.epochs
        return t
    }

    /// The cross-field checks of [parent] and [finetune] (a schedule and its milestones), and of [imp].
    func checkTraining(file: String) throws {
        if case .epoch(let k) = imp.rewind, k > impTraining.epochs {
            let line = ["imp.rewind", "axes.imp.rewind"].lazy.compactMap { lines[$0] }.first ?? 0
            throw SweepFileError(file: file, line: line, message: "'imp.rewind': epoch:\(k) is past the dense training of \(impTraining.epochs) epochs")
        }
        if impTraining.epochs < 1 {
            let line = ["imp.epochs", "axes.imp.epochs", "parent.epochs"].lazy.compactMap { lines[$0] }.first ?? 0
            throw SweepFileError(file: file, line: line, message: "'imp.epochs': every IMP round trains at least 1 epoch, found \(impTraining.epochs)")
        }
        for (table, settings) in [("parent", parent), ("finetune", finetune)] {
            do { try settings.validate() } catch let e as TrainingSettingsError {
                let key = "\(table).\(e.key)"
                // the key's line, or where the schedule it conflicts with was set
                let line = [key, "axes.\(key)", "\(table).schedule", "axes.\(table).schedule"].lazy.compactMap { lines[$0] }.first ?? 0
                throw SweepFileError(file: file, line: line, message: "'\(key)': \(e.message)")
            }
        }
    }

    /// Every grid point, in file order: the last axis varies fastest; zipped
    /// axes step together. Walked, not listed: a grid may hold millions.
    public func forEachPoint(_ body: (GridPoint) throws -> Void) rethrows {
        try walk(dimensions(), body)
    }

    /// The grid's distinct settings: the sweep under each combination of its
    /// setting axes ("finetune.lr" ...); seeds, ratios, teachers and methods
    /// leave a point's settings as they are, so checks of settings walk these.
    func settingVariants() -> [SweepFile] {
        var out: [SweepFile] = []
        walk(dimensions().filter { d in d.contains { $0.values.contains { if case .setting = $0 { true } else { false } } } }) { out.append($0.sweep) }
        return out
    }

    /// How many points `forEachPoint` walks (Int.max past it).
    public var pointCount: Int {
        dimensions().reduce(1) { n, d in
            let (m, overflow) = n.multipliedReportingOverflow(by: d.first?.values.count ?? 0)
            return overflow ? .max : m
        }
    }

    /// One axis, or a zip group of axes walked together, per dimension.
    private func dimensions() -> [[Axis]] {
        var dims: [[Axis]] = []
        for a in axes {
            if let g = zips.first(where: { $0.contains(a.name) }) {
                if !dims.contains(where: { $0.contains { $0.name == a.name } }) { dims.append(axes.filter { g.contains($0.name) }) }
            } else { dims.append([a]) }
        }
        return dims
    }

    /// Every combination of the dimensions' values, the last varying fastest.
    private func walk(_ dims: [[Axis]], _ body: (GridPoint) throws -> Void) rethrows {
        let lengths = dims.map { $0.first?.values.count ?? 0 }
        if lengths.contains(0) { return }
        var at = [Int](repeating: 0, count: dims.count)
        while true {
            var p = GridPoint(seed: 0, ratio: .optimal, teacher: .none, method: .l1, imp: nil, sweep: self)
            for (d, i) in zip(dims, at) {
                for axis in d {
                    switch axis.values[i] {
                    case .seed(let s): p.seed = s
                    case .ratio(let r): p.ratio = r
                    case .teacher(let t): p.teacher = t
                    case .method(let m): p.method = m
                    case .imp(let v): p.imp = v
                    case .setting(let s): s.apply(&p.sweep)
                    }
                }
            }
            try body(p)
            var k = dims.count - 1
            while k >= 0 {
                at[k] += 1
                if at[k] < lengths[k] { break }
                at[k] = 0
                k -= 1
            }
            if k < 0 { return }
        }
    }
}

/// One point of the grid: the standard axes' values, and the sweep with the
/// point's other settings applied.
public struct GridPoint {
    public var seed: UInt64
    public var ratio: Ratio
    public var teacher: TeacherKind
    public var method: PruneMethod
    /// Set when the point's method is IMP or one of its controls (then ratio and method do not apply).
    public var imp: IMPVariant?
    public var sweep: SweepFile
}

public struct Axis {
    public var name: String
    public var values: [AxisValue]
}

/// One value on an axis, typed when the file is read.
public enum AxisValue: CustomStringConvertible {
    case seed(UInt64)
    case ratio(Ratio)
    case teacher(TeacherKind)
    case method(PruneMethod)
    case imp(IMPVariant)
    case setting(Setting)

    public var description: String {
        switch self {
        case .seed(let s): "\(s)"
        case .ratio(let r): r.description
        case .teacher(let t): t.description
        case .method(let m): m.rawValue
        case .imp(let v): v.rawValue
        case .setting(let s): s.text
        }
    }
}

/// A setting read from the file: its key, its value as written, and what it does to a sweep.
public struct Setting {
    public let key: String
    public let text: String
    let apply: (inout SweepFile) -> Void
}

public struct SweepFileError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// Typed reads of TOML values with errors that name the key and line.
struct Reader {
    let file: String

    func error(_ node: TOMLNode, _ key: String, _ message: String) -> SweepFileError {
        SweepFileError(file: file, line: node.line, message: "'\(key)': \(message)")
    }

    func string(_ n: TOMLNode, _ key: String) throws -> String {
        guard case .string(let s) = n.value else { throw error(n, key, "expected a string, found \(n.value.typeName)") }
        return s
    }

    func int(_ n: TOMLNode, _ key: String, min: Int, max: Int = 1 << 40) throws -> Int {
        guard case .integer(let i) = n.value else { throw error(n, key, "expected an integer, found \(n.value.typeName)") }
        guard i >= min else { throw error(n, key, "must be at least \(min), found \(i)") }
        guard i <= max else { throw error(n, key, "must be at most \(max), found \(i)") }
        return i
    }

    func double(_ n: TOMLNode, _ key: String, positive: Bool = false, range: Range<Double>? = nil) throws -> Double {
        let d: Double
        switch n.value {
        case .float(let f): d = f
        case .integer(let i): d = Double(i)
        default: throw error(n, key, "expected a number, found \(n.value.typeName)")
        }
        guard d.isFinite else { throw error(n, key, "must be finite") }
        if positive && d <= 0 { throw error(n, key, "must be greater than 0, found \(d)") }
        if let range, !range.contains(d) { throw error(n, key, "must be in [\(range.lowerBound), \(range.upperBound)), found \(d)") }
        return d
    }

    func bool(_ n: TOMLNode, _ key: String) throws -> Bool {
        guard case .bool(let b) = n.value else { throw error(n, key, "expected true or false, found \(n.value.typeName)") }
        return b
    }

    func array(_ n: TOMLNode, _ key: String) throws -> [TOMLNode] {
        guard case .array(let items) = n.value else { throw error(n, key, "expected an array, found \(n.value.typeName)") }
        return items
    }

    /// One setting, parsed and checked; `key` is "table.field". Used for the file and for axis values.
    func setting(_ key: String, _ node: TOMLNode) throws -> Setting {
        let parts = key.split(separator: ".").map(String.init)
        let table = parts.first ?? "", field = parts.dropFirst().first ?? ""
        func make(_ apply: @escaping (inout SweepFile) -> Void) -> Setting { Setting(key: key, text: describe(node), apply: apply) }
        if (table == "parent" || table == "finetune") && SweepFile.trainingKeys.contains(field) {
            let path: WritableKeyPath<SweepFile, TrainingSettings> = table == "parent" ? \.parent : \.finetune
            switch field {
            case "epochs": let v = try int(node, key, min: 0, max: 1_000_000); return make { $0[keyPath: path].epochs = v }
            case "lr": let v = try double(node, key, positive: true); return make { $0[keyPath: path].lr = v }
            case "momentum": let v = try double(node, key, range: 0..<1); return make { $0[keyPath: path].momentum = v }
            case "weight_decay": let v = try double(node, key, range: 0..<1); return make { $0[keyPath: path].weightDecay = v }
            case "batch": let v = try int(node, key, min: 1, max: 1 << 20); return make { $0[keyPath: path].batch = v }
            case "schedule":
                let s = try string(node, key)
                guard let v = ScheduleKind(rawValue: s) else {
                    throw error(node, key, "unknown schedule '\(s)'; expected \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return make { $0[keyPath: path].schedule = v }
            case "milestones": let v = try array(node, key).map { try int($0, key, min: 1, max: 1_000_000) }; return make { $0[keyPath: path].milestones = v }
            case "gamma": let v = try double(node, key, positive: true); return make { $0[keyPath: path].gamma = v }
            case "nesterov": let v = try bool(node, key); return make { $0[keyPath: path].nesterov = v }
            case "augment":
                let s = try string(node, key)
                guard let v = Augmentation(rawValue: s) else {
                    throw error(node, key, "unknown augmentation '\(s)'; expected \(Augmentation.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return make { $0[keyPath: path].augment = v }
            default: let v = try int(node, key, min: 0, max: 1_000_000); return make { $0[keyPath: path].warmupEpochs = v }
            }
        }
        switch key {
        case "data.dir": let v = try string(node, key); return make { $0.data.dir = v }
        case "data.train_subset": let v = try int(node, key, min: 1); return make { $0.data.trainSubset = v }
        case "data.test_subset": let v = try int(node, key, min: 1); return make { $0.data.testSubset = v }
        case "data.labels":
            let s = try string(node, key)
            guard let v = LabelSet(rawValue: s) else {
                throw error(node, key, "must be \"fine\" (CIFAR-100's 100 classes; the only labels of MNIST and CIFAR-10) or \"coarse\" (CIFAR-100's 20 superclasses), found \"\(s)\"")
            }
            return make { $0.data.labels = v }
        case "parent.checkpoint":
            let path = try string(node, key)
            let source: CheckpointSource
            do { source = try CheckpointSource.read(path) } catch { throw self.error(node, key, "\(error)") }
            return make { $0.checkpoint = source }
        case "parent.arch":
            let a = try string(node, key)
            guard let v = try? Architecture(parsing: a) else { throw error(node, key, "unknown architecture '\(a)'; expected lenet5 or mlp:W1,W2,...") }
            return make { $0.arch = v }
        case "finetune.student":
            let s = try string(node, key)
            guard let v = StudentKind(rawValue: s) else {
                throw error(node, key, "must be \"pruned\" (fine-tune the pruned net) or \"scratch\" (a fresh student distilled from the pruned teacher)")
            }
            return make { $0.student = v }
        case "kd.temperature":
            let v = try double(node, key, positive: true)
            guard v <= SweepFile.maxTemperature else { throw error(node, key, "must be at most \(SweepFile.maxTemperature), found \(v)") }
            return make { $0.kd.temperature = v }
        case "kd.alpha":
            let v = try double(node, key)
            guard (0...1).contains(v) else { throw error(node, key, "must be in [0, 1]") }
            return make { $0.kd.alpha = v }
        case "imp.rounds": let v = try int(node, key, min: 1, max: 1000); return make { $0.impRounds = v }
        case "imp.rate":
            let v = try double(node, key, positive: true)
            guard v < 1 else { throw error(node, key, "must be in (0, 1) (the fraction of the remaining weights each round prunes), found \(v)") }
            return make { $0.imp.rate = v }
        case "imp.rewind":
            let text = try string(node, key)
            let v: Rewind
            do { v = try Rewind(parsing: text) } catch { throw self.error(node, key, "\(error)") }
            return make { $0.imp.rewind = v }
        case "imp.epochs": let v = try int(node, key, min: 1, max: 1_000_000); return make { $0.impEpochs = v }
        case "imp.weights_only": let v = try bool(node, key); return make { $0.imp.scope.weightsOnly = v }
        case "imp.layers":
            let v = try array(node, key).map { try string($0, key) }
            guard !v.isEmpty else { throw error(node, key, "needs at least one layer or tensor name") }
            return make { $0.imp.scope.layers = v }
        case "imp.stability": let v = try bool(node, key); return make { $0.imp.stability = v }
        case "run.group_size": let v = try int(node, key, min: 1, max: 1 << 20); return make { $0.groupSize = v }
        case "run.threads": let v = try int(node, key, min: 1, max: 1 << 20); return make { $0.threads = v }   // checkMachine: per core
        default: throw error(node, key, "unknown setting")
        }
    }

    func describe(_ n: TOMLNode) -> String {
        switch n.value {
        case .string(let s): s
        case .integer(let i): "\(i)"
        case .float(let d): "\(d)"
        case .bool(let b): "\(b)"
        case .array(let a): "[" + a.map(describe).joined(separator: ", ") + "]"
        case .table: "{...}"
        }
    }

    func axes(_ node: TOMLNode, into sweep: inout SweepFile) throws {
        guard case .table(let t) = node.value else { throw error(node, "axes", "must be a table ([axes])") }
        for (key, n) in t.entries where key != "zip" {
            guard case .array(let items) = n.value, !items.isEmpty else { throw error(n, "axes.\(key)", "expected a non-empty array of values") }
            sweep.axes.append(Axis(name: key, values: try items.map { try value($0, axis: key) }))
            sweep.lines["axes.\(key)"] = n.line
        }
        if let z = t["zip"] {
            guard case .array(let groups) = z.value else { throw error(z, "axes.zip", "expected an array of arrays of axis names") }
            var used: Set<String> = []
            for g in groups {
                guard case .array(let names) = g.value, names.count >= 2 else { throw error(g, "axes.zip", "each group must list at least two axes") }
                let group = try names.map { try string($0, "axes.zip") }
                var length: Int?
                for name in group {
                    guard let axis = sweep.axes.first(where: { $0.name == name }) else { throw error(g, "axes.zip", "no axis named '\(name)'") }
                    guard used.insert(name).inserted else { throw error(g, "axes.zip", "axis '\(name)' is in two zip groups") }
                    if let l = length, l != axis.values.count {
                        throw error(g, "axes.zip", "zipped axes must have equal lengths: '\(name)' has \(axis.values.count), expected \(l)")
                    }
                    length = axis.values.count
                }
                sweep.zips.append(group)
            }
        }
    }

    /// One axis value, read as the setting it will become.
    func value(_ n: TOMLNode, axis: String) throws -> AxisValue {
        let key = "axes.\(axis)"
        switch axis {
        case "seeds":
            guard case .integer(let s) = n.value, s >= 0 else { throw error(n, key, "seeds must be non-negative integers, found \(describe(n))") }
            return .seed(UInt64(s))
        case "ratios":
            let fraction: Double?
            switch n.value {
            case .integer(let i): fraction = Double(i)
            case .float(let d): fraction = d
            case .string(let s) where s == "optimal" || s == "safe": return .ratio(s == "optimal" ? .optimal : .safe)
            default: fraction = nil
            }
            guard let fraction, let r = try? Ratio(fraction: fraction) else {
                throw error(n, key, "a ratio is a number in [0, 1], \"optimal\" or \"safe\", found \(describe(n))")
            }
            return .ratio(r)
        case "teachers":
            guard case .string(let s) = n.value, let t = try? TeacherKind(parsing: s) else {
                throw error(n, key, "a teacher is none, parent, uniform, gaussian or an architecture (lenet5, mlp:W1,...), found \(describe(n))")
            }
            if case .file = t { throw error(n, key, "a teacher file cannot be a sweep teacher (its training is unknown to the sweep); name an architecture, or use prunesweep distill") }
            return .teacher(t)
        case "methods":
            if case .string(let s) = n.value, let v = IMPVariant(rawValue: s) { return .imp(v) }
            guard case .string(let s) = n.value, let m = PruneMethod(rawValue: s) else {
                let all = PruneMethod.allCases.map(\.rawValue) + IMPVariant.allCases.map(\.rawValue)
                throw error(n, key, "a method is one of \(all.joined(separator: ", ")), found \(describe(n))")
            }
            return .method(m)
        default:
            let parts = axis.split(separator: ".").map(String.init)
            guard parts.count == 2, let allowed = SweepFile.tables[parts[0]], allowed.contains(parts[1]), !["data", "run"].contains(parts[0]) else {
                throw error(n, key, "unknown axis; expected seeds, ratios, teachers, methods or a setting such as \"finetune.epochs\" or \"kd.temperature\"")
            }
            return .setting(try setting(axis, TOMLNode(value: n.value, line: n.line)))
        }
    }
}
