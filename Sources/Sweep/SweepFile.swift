import Foundation

/// A sweep file (TOML), validated: every unknown key, wrong type or impossible
/// value is an error naming the key and its line.
///
///     name = "demo"
///     [data]      dir, train_subset, test_subset
///     [parent]    arch, epochs, lr, momentum, weight_decay, batch
///     [finetune]  epochs, lr, momentum, weight_decay, batch, student ("pruned" | "scratch")
///     [kd]        temperature, alpha
///     [axes]      seeds, ratios (numbers, "optimal", "safe"), teachers, methods,
///                 any other setting as "table.key" = [values],
///                 zip = [["axis", "axis"], ...] pairs axes element-wise
///     [run]       group_size, threads
public struct SweepFile {
    public var name: String
    public var data = DataSettings()
    public var parent = TrainSettings(arch: "lenet5", epochs: 2, lr: 0.05, momentum: 0.9, weightDecay: 0, batch: 64)
    public var finetune = TrainSettings(arch: "", epochs: 1, lr: 0.01, momentum: 0.9, weightDecay: 0, batch: 64)
    public var student = "pruned"
    public var kd = KDSettings()
    /// Axes in file order, each a list of values; `zips` groups axes walked together.
    public var axes: [(name: String, values: [AxisValue])] = []
    public var zips: [[String]] = []
    public var groupSize = 1
    public var threads = 1
    /// Hash of the file's bytes: recorded in the manifest and in tensor provenance.
    public var hash = ""
    public var path = ""

    public static let standardAxes = ["seeds", "ratios", "teachers", "methods"]
    static let tables: [String: [String]] = [
        "data": ["dir", "train_subset", "test_subset"],
        "parent": ["arch", "epochs", "lr", "momentum", "weight_decay", "batch"],
        "finetune": ["epochs", "lr", "momentum", "weight_decay", "batch", "student"],
        "kd": ["temperature", "alpha"],
        "run": ["group_size", "threads"],
    ]

    public static func load(path: String) throws -> SweepFile {
        try parse(bytes: read(path: path), path: path)
    }

    /// The file's bytes (rank 0 reads them and hands them to the other ranks).
    public static func read(path: String) throws -> [UInt8] {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw SweepFileError(file: path, line: 0, message: FileManager.default.fileExists(atPath: path) ? "cannot read the sweep file" : "sweep file not found")
        }
        return [UInt8](bytes)
    }

    /// Parses and validates the bytes of the file at `path`, recording their hash.
    public static func parse(bytes: [UInt8], path: String) throws -> SweepFile {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw SweepFileError(file: path, line: 0, message: "not UTF-8 text") }
        var sweep = try parse(text, file: path)
        sweep.hash = contentHash(bytes)
        sweep.path = path
        return sweep
    }

    public static func parse(_ text: String, file: String) throws -> SweepFile {
        let root: TOMLTable
        do { root = try TOML.parse(text, file: file) } catch let e as TOMLError {
            throw SweepFileError(file: e.file, line: e.line, message: e.message)
        }
        var r = Reader(file: file)
        guard let nameNode = root["name"] else { throw SweepFileError(file: file, line: 1, message: "missing key 'name' (the sweep's name, used for its results directory)") }
        var sweep = SweepFile(name: try r.string(nameNode, "name"))
        guard sweep.name.range(of: "^[A-Za-z0-9._-]+$", options: .regularExpression) != nil else {
            throw r.error(nameNode, "name", "must be letters, digits, '.', '_' or '-' (it names a directory)")
        }
        for (key, node) in root.entries {
            switch key {
            case "name": continue
            case "axes": try r.axes(node, into: &sweep)
            default:
                guard let allowed = tables[key] else {
                    throw r.error(node, key, "unknown key; expected name, data, parent, finetune, kd, axes or run")
                }
                guard case .table(let t) = node.value else { throw r.error(node, key, "must be a table ([\(key)])") }
                for (k, n) in t.entries {
                    guard allowed.contains(k) else { throw r.error(n, "\(key).\(k)", "unknown key; expected one of \(allowed.joined(separator: ", "))") }
                    try sweep.set("\(key).\(k)", to: n, reader: &r)
                }
            }
        }
        if sweep.axes.first(where: { $0.name == "seeds" }) == nil { sweep.axes.insert(("seeds", [.integer(0)]), at: 0) }
        for a in ["ratios", "teachers", "methods"] where sweep.axes.first(where: { $0.name == a }) == nil {
            sweep.axes.append((a, [a == "ratios" ? .string("optimal") : .string(a == "teachers" ? "none" : "l1")]))
        }
        return sweep
    }

    /// Applies one setting; `key` is "table.field". Used for the file and for axis values.
    mutating func set(_ key: String, to node: TOMLNode, reader r: inout Reader) throws {
        switch key {
        case "data.dir": data.dir = try r.string(node, key)
        case "data.train_subset": data.trainSubset = try r.int(node, key, min: 1)
        case "data.test_subset": data.testSubset = try r.int(node, key, min: 1)
        case "parent.arch":
            let a = try r.string(node, key)
            guard (try? Architecture(parsing: a)) != nil else { throw r.error(node, key, "unknown architecture '\(a)'; expected lenet5 or mlp:W1,W2,...") }
            parent.arch = a
        case "parent.epochs": parent.epochs = try r.int(node, key, min: 0)
        case "parent.lr": parent.lr = try r.double(node, key, positive: true)
        case "parent.momentum": parent.momentum = try r.double(node, key, range: 0..<1)
        case "parent.weight_decay": parent.weightDecay = try r.double(node, key, range: 0..<1)
        case "parent.batch": parent.batch = try r.int(node, key, min: 1)
        case "finetune.epochs": finetune.epochs = try r.int(node, key, min: 0)
        case "finetune.lr": finetune.lr = try r.double(node, key, positive: true)
        case "finetune.momentum": finetune.momentum = try r.double(node, key, range: 0..<1)
        case "finetune.weight_decay": finetune.weightDecay = try r.double(node, key, range: 0..<1)
        case "finetune.batch": finetune.batch = try r.int(node, key, min: 1)
        case "finetune.student":
            let s = try r.string(node, key)
            guard s == "pruned" || s == "scratch" else { throw r.error(node, key, "must be \"pruned\" (fine-tune the pruned net) or \"scratch\" (a fresh student distilled from the pruned teacher)") }
            student = s
        case "kd.temperature": kd.temperature = try r.double(node, key, positive: true)
        case "kd.alpha":
            kd.alpha = try r.double(node, key)
            guard (0...1).contains(kd.alpha) else { throw r.error(node, key, "must be in [0, 1]") }
        case "run.group_size": groupSize = try r.int(node, key, min: 1)
        case "run.threads": threads = try r.int(node, key, min: 1)
        default: throw r.error(node, key, "unknown setting")
        }
    }
}

public struct DataSettings: Codable, Equatable {
    public var dir = "/usr/share/datasets/fashion-mnist"
    public var trainSubset: Int?
    public var testSubset: Int?
}

public struct TrainSettings: Codable, Equatable {
    public var arch: String
    public var epochs: Int
    public var lr: Double
    public var momentum: Double
    public var weightDecay: Double
    public var batch: Int
}

public struct KDSettings: Codable, Equatable {
    public var temperature = 4.0
    public var alpha = 0.9
}

/// One value on an axis, as written in the file.
public enum AxisValue: Equatable, CustomStringConvertible {
    case integer(Int), number(Double), string(String), bool(Bool)
    public var description: String {
        switch self {
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .string(let s): s
        case .bool(let b): String(b)
        }
    }
    var node: TOMLNode {
        switch self {
        case .integer(let i): TOMLNode(value: .integer(i), line: 0)
        case .number(let d): TOMLNode(value: .float(d), line: 0)
        case .string(let s): TOMLNode(value: .string(s), line: 0)
        case .bool(let b): TOMLNode(value: .bool(b), line: 0)
        }
    }
}

public struct SweepFileError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

import NeuralNet
import Pruning

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

    func int(_ n: TOMLNode, _ key: String, min: Int) throws -> Int {
        guard case .integer(let i) = n.value else { throw error(n, key, "expected an integer, found \(n.value.typeName)") }
        guard i >= min else { throw error(n, key, "must be at least \(min), found \(i)") }
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

    mutating func axes(_ node: TOMLNode, into sweep: inout SweepFile) throws {
        guard case .table(let t) = node.value else { throw error(node, "axes", "must be a table ([axes])") }
        for (key, n) in t.entries where key != "zip" {
            guard case .array(let items) = n.value, !items.isEmpty else { throw error(n, "axes.\(key)", "expected a non-empty array of values") }
            var values: [AxisValue] = []
            for item in items {
                let v: AxisValue
                switch item.value {
                case .integer(let i): v = .integer(i)
                case .float(let d): v = .number(d)
                case .string(let s): v = .string(s)
                case .bool(let b): v = .bool(b)
                default: throw error(item, "axes.\(key)", "values must be numbers, strings or booleans")
                }
                try check(v, item, axis: key, sweep: &sweep)
                values.append(v)
            }
            sweep.axes.append((key, values))
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

    /// Validates one axis value as the setting it will become.
    mutating func check(_ v: AxisValue, _ n: TOMLNode, axis: String, sweep: inout SweepFile) throws {
        let key = "axes.\(axis)"
        switch axis {
        case "seeds":
            guard case .integer(let s) = v, s >= 0 else { throw error(n, key, "seeds must be non-negative integers, found \(v)") }
        case "ratios":
            switch v {
            case .integer(let i) where (0...1).contains(i): break
            case .number(let d) where (0...1).contains(d): break
            case .string("optimal"), .string("safe"): break
            default: throw error(n, key, "a ratio is a number in [0, 1], \"optimal\" or \"safe\", found \(v)")
            }
        case "teachers":
            guard case .string(let s) = v, (try? TeacherChoice(parsing: s)) != nil else {
                throw error(n, key, "a teacher is none, parent, uniform, gaussian or an architecture (lenet5, mlp:W1,...), found \(v)")
            }
        case "methods":
            guard case .string(let s) = v, PruneMethod(rawValue: s) != nil else {
                throw error(n, key, "a method is one of \(PruneMethod.allCases.map(\.rawValue).joined(separator: ", ")), found \(v)")
            }
        default:
            let parts = axis.split(separator: ".")
            guard parts.count == 2, let allowed = SweepFile.tables[String(parts[0])], allowed.contains(String(parts[1])),
                  !["data", "run"].contains(String(parts[0])) else {
                throw error(n, key, "unknown axis; expected seeds, ratios, teachers, methods or a setting such as \"finetune.epochs\" or \"kd.temperature\"")
            }
            var copy = sweep
            try copy.set(axis, to: TOMLNode(value: n.value, line: n.line), reader: &self)
        }
    }
}

/// 128-bit FNV-1a (two 64-bit lanes) as 32 hex digits: the identity of a
/// sweep file or a task's parameters. Not cryptographic; stable everywhere.
public func contentHash(_ bytes: [UInt8]) -> String {
    var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
    for x in bytes {
        a = (a ^ UInt64(x)) &* 0x100_0000_01b3
        b = (b ^ UInt64(x)) &* 0x100_0000_01b3 ^ (b >> 29)
    }
    return String(format: "%016llx%016llx", a, b)
}

public func contentHash(_ text: String) -> String { contentHash(Array(text.utf8)) }
