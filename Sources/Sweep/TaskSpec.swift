import Datasets
import Distillation
import Foundation
import NeuralNet
import Pruning
import Safetensors
import TensorStore

/// Where a task's images come from: a directory of one layout (MNIST,
/// CIFAR-10, CIFAR-100) and, for CIFAR-100, which labels.
public struct DataSpec: Codable, Hashable, Sendable {
    public var dir = "/usr/share/datasets/fashion-mnist"
    public var trainSubset: Int?
    public var testSubset: Int?
    public var labels = LabelSet.fine
    enum CodingKeys: String, CodingKey { case dir, trainSubset = "train_subset", testSubset = "test_subset", labels }

    public init(dir: String = "/usr/share/datasets/fashion-mnist", trainSubset: Int? = nil, testSubset: Int? = nil, labels: LabelSet = .fine) {
        self.dir = dir; self.trainSubset = trainSubset; self.testSubset = testSubset; self.labels = labels
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dir = try c.decode(String.self, forKey: .dir)
        trainSubset = try c.decodeIfPresent(Int.self, forKey: .trainSubset)
        testSubset = try c.decodeIfPresent(Int.self, forKey: .testSubset)
        labels = try c.decodeIfPresent(LabelSet.self, forKey: .labels) ?? .fine
    }

    /// `labels` only when not the default: a spec written before it existed
    /// encodes, and so hashes to a task id, as it did then.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dir, forKey: .dir)
        try c.encodeIfPresent(trainSubset, forKey: .trainSubset)
        try c.encodeIfPresent(testSubset, forKey: .testSubset)
        if labels != .fine { try c.encode(labels, forKey: .labels) }
    }
}

/// A model trained from scratch: a parent P_s, or a named teacher trained with seed s.
/// A parent may instead come from a checkpoint (then it is loaded, not trained).
public struct TrainSpec: Codable, Hashable, Sendable {
    public var arch: Architecture
    public var training: TrainingSettings
    public var data: DataSpec
    /// Initialisation and data order.
    public var seed: UInt64
    public var checkpoint: CheckpointSource?

    public init(arch: Architecture, training: TrainingSettings, data: DataSpec, seed: UInt64, checkpoint: CheckpointSource? = nil) {
        self.arch = arch; self.training = training; self.data = data; self.seed = seed; self.checkpoint = checkpoint
    }
}

/// A checkpoint a sweep loads as its parent, named by its files' CRC-32s too:
/// another file under the same path is another parent.
public struct CheckpointSource: Codable, Hashable, Sendable {
    public var path: String
    public var crc32: [String]
    public init(path: String, crc32: [String]) { self.path = path; self.crc32 = crc32 }
}

/// What a trial fine-tunes: the pruned parent, or a fresh net distilled from it.
public enum StudentKind: String, Codable, Hashable, Sendable {
    case pruned, scratch
}

/// Hinton's loss: alpha * T^2 * KL(teacher^T || student^T) + (1 - alpha) * CE.
public struct KDSettings: Codable, Hashable, Sendable {
    public var temperature = 4.0
    public var alpha = 0.9
}

/// One grid point: prune the parent at `ratio` by `method`, then fine-tune
/// (or distil a fresh student) with `teacher`.
public struct TrialSpec: Codable, Hashable, Sendable {
    public var parent: TrainSpec
    public var ratio: Ratio
    public var method: PruneMethod
    public var teacher: TeacherKind
    public var student: StudentKind
    public var finetune: TrainingSettings
    /// Present when a teacher (or the scratch student's pruned teacher) distils.
    public var kd: KDSettings?
    /// BLAS threads: results are bit-identical for a fixed count.
    public var threads: Int

    public var seed: UInt64 { parent.seed }

    /// A named-architecture teacher: trained like the parent, with the trial's seed.
    public var teacherSpec: TrainSpec? {
        guard case .model(let arch) = teacher else { return nil }
        var t = parent
        t.arch = arch
        t.checkpoint = nil   // a named teacher is trained
        return t
    }
}

public enum TaskKind: String, Codable, CaseIterable, Sendable {
    /// Trains the parent P_s (and resolves its optimal and safe ratios).
    case parent
    /// Trains a named teacher model with seed s.
    case teacher
    /// Prunes P_s at a ratio and fine-tunes (or distils a fresh student).
    case trial
    /// One round of iterative magnitude pruning or of its controls.
    case round
}

/// What a task is. Its canonical encoding (JSON with sorted keys) is what the
/// task id hashes, and every random stream the task draws derives from it.
public enum TaskSpec: Hashable, Sendable {
    case parent(TrainSpec)
    case teacher(TrainSpec)
    case trial(TrialSpec)
    case round(RoundSpec)

    public var kind: TaskKind {
        switch self {
        case .parent: .parent
        case .teacher: .teacher
        case .trial: .trial
        case .round: .round
        }
    }

    /// "parent-" + 16 hex digits of the hash of the canonical encoding.
    public var id: String {
        let body: Encodable
        switch self {
        case .parent(let t), .teacher(let t): body = t
        case .trial(let t): body = t
        case .round(let r): body = r
        }
        var h = TaskSpec.hasher(kind: kind)
        h.add(TaskSpec.canonicalJSON(body))
        return TaskSpec.id(kind: kind, h)
    }

    /// The id of a spec whose canonical JSON `h` (begun by `hasher(kind:)`) has hashed.
    static func id(kind: TaskKind, _ h: ContentHasher) -> String { kind.rawValue + "-" + h.firstLane }

    /// A hasher to feed a spec's canonical JSON to, for `id(kind:_:)`.
    static func hasher(kind: TaskKind) -> ContentHasher {
        var h = ContentHasher()
        h.add(kind.rawValue + "\u{1E}")
        return h
    }

    static func canonicalJSON(_ body: some Encodable) -> String {
        (try? canonicalEncoder.encode(body)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Ids of the tasks whose tensors this one needs: a trial needs its parent,
    /// a round the rounds before it; both their teacher when that is a model.
    public var needs: [String] {
        switch self {
        case .parent, .teacher: []
        case .trial(let t): [TaskSpec.parent(t.parent).id] + (t.teacherSpec.map { [TaskSpec.teacher($0).id] } ?? [])
        case .round(let r): r.needsRounds.map { TaskSpec.round($0).id } + (r.teacherSpec.map { [TaskSpec.teacher($0).id] } ?? [])
        }
    }

    public var label: String {
        switch self {
        case .parent(let t): "parent seed=\(t.seed)"
        case .teacher(let t): "teacher \(t.arch) seed=\(t.seed)"
        case .trial(let t): "trial seed=\(t.seed) ratio=\(t.ratio) method=\(t.method.rawValue) teacher=\(t.teacher)"
        case .round(let r): "round \(r.round) seed=\(r.seed) method=\(r.variant.rawValue) rewind=\(r.imp.rewind) teacher=\(r.teacher)"
        }
    }

    static let canonicalEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

/// One unit of work: a spec and its identity, computed once.
public struct SweepTask: Codable, Hashable, Sendable {
    public let id: String
    public let spec: TaskSpec
    public let needs: [String]

    public init(_ spec: TaskSpec) { self.init(spec, needs: spec.needs) }

    /// With its needs' ids already known (`spec.needs` encodes them again).
    init(_ spec: TaskSpec, id: String? = nil, needs: [String]) {
        self.spec = spec
        self.id = id ?? spec.id
        self.needs = needs
    }

    public var kind: TaskKind { spec.kind }
    public var label: String { spec.label }
    public var round: RoundSpec? { if case .round(let r) = spec { r } else { nil } }

    enum CodingKeys: String, CodingKey { case kind, spec }

    /// `{"kind": ..., "spec": {...}}`: the id and needs follow from the spec.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try TaskSpec.decode(kind: try c.decode(TaskKind.self, forKey: .kind), from: c, key: .spec))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try spec.encode(into: &c, key: .spec)
    }
}

extension TaskSpec {
    static func decode<K: CodingKey>(kind: TaskKind, from c: KeyedDecodingContainer<K>, key: K) throws -> TaskSpec {
        switch kind {
        case .parent: .parent(try c.decode(TrainSpec.self, forKey: key))
        case .teacher: .teacher(try c.decode(TrainSpec.self, forKey: key))
        case .trial: .trial(try c.decode(TrialSpec.self, forKey: key))
        case .round: .round(try c.decode(RoundSpec.self, forKey: key))
        }
    }

    func encode<K: CodingKey>(into c: inout KeyedEncodingContainer<K>, key: K) throws {
        switch self {
        case .parent(let t), .teacher(let t): try c.encode(t, forKey: key)
        case .trial(let t): try c.encode(t, forKey: key)
        case .round(let r): try c.encode(r, forKey: key)
        }
    }
}

/// 128-bit FNV-1a (two 64-bit lanes) as 32 hex digits: the identity of a
/// sweep file or a task's spec. Not cryptographic; stable everywhere.
public func contentHash(_ bytes: [UInt8]) -> String {
    var h = ContentHasher()
    bytes.withUnsafeBufferPointer { h.add($0) }
    return h.hex
}

public func contentHash(_ text: String) -> String {
    var h = ContentHasher()
    h.add(text)
    return h.hex
}

/// `contentHash` fed piece by piece: the pieces' hash is their concatenation's.
public struct ContentHasher {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4

    public mutating func add(_ bytes: UnsafeBufferPointer<UInt8>) {
        for x in bytes {
            a = (a ^ UInt64(x)) &* 0x100_0000_01b3
            b = (b ^ UInt64(x)) &* 0x100_0000_01b3 ^ (b >> 29)
        }
    }

    public mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add($0) }
    }

    public var hex: String { Self.hex16(a) + Self.hex16(b) }
    /// The first lane's 16 digits: a task id's.
    var firstLane: String { Self.hex16(a) }

    private static func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension CheckpointSource {
    /// The checkpoint at `path`, its headers checked and its files' CRC-32s taken.
    public static func read(_ path: String) throws -> CheckpointSource {
        let c = try Checkpoint.open(path)
        return CheckpointSource(path: path, crc32: try c.shards.map { Checksum.format(try Checksum.crc32(file: $0.path)) })
    }
}
