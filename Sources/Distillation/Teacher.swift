import Datasets
import NeuralNet
import Safetensors
import SeededRandom

/// Noise teachers: controls whose logits carry no information about the input.
public enum NoiseKind: String, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    /// Each logit ~ U(0, 1) (torch.rand).
    case uniform
    /// Each logit ~ N(0, 1) (torch.randn).
    case gaussian
    public var description: String { rawValue }
}

/// Who teaches a student. Parsed from the command line / sweep file as
/// `none`, `parent`, `uniform`, `gaussian`, a `.safetensors` path, or an
/// architecture (`lenet5`, `mlp:300,100`) meaning "train that model with the trial's seed".
public enum TeacherKind: Hashable, Sendable, CustomStringConvertible {
    /// Cross-entropy alone: the control.
    case none
    /// The unpruned parent of the pruned student.
    case parent
    case noise(NoiseKind)
    /// A saved model (any architecture).
    case file(String)
    /// A model of this architecture trained on demand with the trial's seed.
    case model(Architecture)

    public init(parsing text: String) throws {
        switch text {
        case "none": self = .none
        case "parent": self = .parent
        case "uniform": self = .noise(.uniform)
        case "gaussian": self = .noise(.gaussian)
        case _ where text.hasSuffix(".safetensors"): self = .file(text)
        default:
            guard let arch = try? Architecture(parsing: text) else { throw TeacherSpecError(text: text) }
            self = .model(arch)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .parent: "parent"
        case .noise(let k): k.rawValue
        case .file(let path): path
        case .model(let arch): arch.description
        }
    }
}

extension TeacherKind: Codable {
    /// Shorthands, so `case .uniform` / `case .gaussian` read as in a sweep file.
    public static let uniform = TeacherKind.noise(.uniform)
    public static let gaussian = TeacherKind.noise(.gaussian)

    /// Encoded as its spec string (as written in a sweep file).
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

public struct TeacherSpecError: Error, CustomStringConvertible {
    public let text: String
    public var description: String {
        "unknown teacher '\(text)': expected none, parent, uniform, gaussian, a path ending in .safetensors, or an architecture (lenet5, mlp:W1,W2,...)"
    }
}

/// Noise-teacher logits [count, classes]. Row i is drawn from its own stream
/// RandomStream("noise-teacher", kind, seed, i) — or ("noise-teacher", kind,
/// seed, i, epoch) when `epoch` is given, to redraw every epoch — so a row
/// depends only on (kind, seed, example, epoch), never on batch order, shard or rank.
public func noiseTeacherLogits(kind: NoiseKind, count: Int, classes: Int, seed: UInt64, epoch: Int? = nil) -> Tensor {
    var out = Tensor(zeros: [count, classes])
    out.data.withUnsafeMutableBufferPointer { z in
        for i in 0..<count {
            var rng = epoch.map { RandomStream("noise-teacher", kind, seed, i, $0) } ?? RandomStream("noise-teacher", kind, seed, i)
            let row = z.baseAddress! + i * classes
            for j in 0..<classes {
                switch kind {
                case .uniform: row[j] = rng.nextUnit()
                case .gaussian: row[j] = rng.normal()
                }
            }
        }
    }
    return out
}

/// Teacher outputs computed once per (teacher, training set): logits for
/// every training example, [N, K], looked up by dataset row index during KD.
public struct TeacherLogits {
    public static let tensorName = "teacher_logits"
    public var logits: Tensor
    public var count: Int { logits.shape[0] }
    public var classes: Int { logits.shape[1] }

    public init(_ logits: Tensor) {
        precondition(logits.shape.count == 2, "teacher logits must be [N, K]")
        self.logits = logits
    }

    /// A model's logits on every example of `data`.
    public init(model: Model, data: ImageDataset) throws {
        guard model.classes == data.classes else {
            throw DistillationError("teacher has \(model.classes) classes but the data has \(data.classes)")
        }
        self.init(predictLogits(model, on: data))
    }

    /// For the tensor store: one F32 tensor [N, K] plus provenance metadata.
    public func safetensors(metadata: [String: String] = [:]) -> Safetensors {
        Safetensors(tensors: [NamedTensor(name: Self.tensorName, shape: logits.shape, floats: logits.data)], metadata: metadata)
    }

    public init(_ file: Safetensors, source: String) throws {
        guard let t = file[Self.tensorName] else {
            throw SafetensorsError(source: source, problem: "no tensor '\(Self.tensorName)'")
        }
        guard t.dtype == .F32, t.shape.count == 2 else {
            throw SafetensorsError(source: source, problem: "'\(Self.tensorName)' is \(t.dtype.rawValue) \(t.shape), expected F32 [N, K]")
        }
        self.init(Tensor(shape: t.shape, data: t.floats))
    }

    /// Checks the logits fit a training set (one row per example, one column per class).
    public func validate(for data: ImageDataset) throws {
        guard count == data.count else { throw DistillationError("teacher logits have \(count) rows but the training set has \(data.count) examples") }
        guard classes == data.classes else { throw DistillationError("teacher has \(classes) classes but the data has \(data.classes)") }
    }
}

public struct DistillationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
