import Datasets
import CKernels
import Foundation
import Safetensors

/// Models as safetensors with PyTorch's names and layouts, so
/// `module.load_state_dict(safetensors.torch.load_file(path))` works on the
/// equivalent PyTorch module. A mask travels as `<name>_mask` (the name
/// torch.nn.utils.prune uses); the architecture is in `__metadata__`.
extension Model {
    public func safetensors(metadata: [String: String] = [:]) -> Safetensors {
        var tensors = parameters.map { NamedTensor(name: $0.name, shape: $0.shape, floats: $0.values) }
        for p in parameters { if let m = p.mask { tensors.append(NamedTensor(name: p.name + "_mask", shape: p.shape, floats: m)) } }
        tensors += buffers.map(\.tensor)
        var meta = metadata
        meta["format"] = "pt"
        meta["architecture"] = architecture.description
        meta["classes"] = String(classes)
        meta["input_side"] = String(imageSide)
        if inputChannels != 1 { meta["input_channels"] = String(inputChannels) }
        return Safetensors(tensors: tensors, metadata: meta)
    }

    public convenience init(_ file: Safetensors, source: String) throws {
        func fail(_ p: String) -> SafetensorsError { SafetensorsError(source: source, problem: p) }
        guard let archText = file.metadata["architecture"] else { throw fail("no 'architecture' in __metadata__ (not written by prunesweep?)") }
        let arch: Architecture
        do { arch = try Architecture(parsing: archText) } catch { throw fail("\(error)") }
        func number(_ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
            guard let text = file.metadata[key] else { return d }
            guard let v = Int(text), range.contains(v) else {
                throw fail("__metadata__ '\(key)' is '\(text)'; expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        let classes = try number("classes", default: 10, in: 2...Model.maxClasses)
        let side = try number("input_side", default: 28, in: arch.smallestSide...(arch.fixedSide ?? Model.maxSide))
        let channels = try number("input_channels", default: 1, in: 1...Model.maxChannels)
        // every parameter is in the file as F32: a model larger than its file is a lie, not an allocation
        let need = arch.parameterCount(inputSide: side, channels: channels, classes: classes)
        guard let need, need <= file.dataSize / 4 else {
            throw fail("\(arch) on \(side)x\(side) images of \(channels) channels with \(classes) classes has \(need.map(String.init) ?? "more than Int.max") parameters; the file holds \(file.dataSize / 4) floats")
        }
        self.init(arch, inputSide: side, channels: channels, classes: classes)
        for p in parameters {
            guard let t = file[p.name] else { throw fail("missing tensor '\(p.name)' for \(arch)") }
            guard t.shape == p.shape, t.dtype == .F32 else {
                throw fail("tensor '\(p.name)' is \(t.dtype.rawValue) \(t.shape), expected F32 \(p.shape)")
            }
            p.setMask(nil)
            p.copy(from: t.floats)
            if let m = file[p.name + "_mask"] {
                guard m.shape == p.shape else { throw fail("mask '\(m.name)' has shape \(m.shape), expected \(p.shape)") }
                let values = m.floats
                guard values.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw fail("mask '\(m.name)' has entries other than 0 and 1") }
                p.setMask(values)
            }
        }
        for b in buffers {
            guard let t = file[b.name] else { throw fail("missing buffer '\(b.name)' for \(arch)") }
            try b.load(t.shape, t.dtype, t.floatsAndIntegers, source: source)
        }
    }

    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try AtomicFile.write(safetensors(metadata: metadata).encode(), to: path)
    }

    public static func load(path: String) throws -> Model {
        try Model(Safetensors.decode(AtomicFile.read(path), source: path), source: path)
    }
}

extension Model {
    /// A model of a known architecture from any checkpoint that holds its
    /// parameters under PyTorch's names (F32, F64, F16 or BF16; e.g. one
    /// PyTorch saved): every parameter must be there with its shape.
    public convenience init(checkpoint c: Checkpoint, architecture: Architecture, for data: ImageDataset) throws {
        self.init(architecture, for: data)
        let reader = try CheckpointReader(c)
        for p in parameters {
            guard let t = c.tensors.first(where: { $0.name == p.name }) else {
                throw CheckpointError("\(c.shards.first?.path ?? ""): no tensor '\(p.name)' for \(architecture) (it has \(c.tensors.prefix(8).map(\.name).joined(separator: ", "))\(c.tensors.count > 8 ? ", ..." : ""))")
            }
            guard t.shape == p.shape else { throw CheckpointError("\(c.shards[t.shard].path): tensor '\(t.name)' is \(t.shape), \(architecture) needs \(p.shape)") }
            var values = [Float](repeating: 0, count: p.count)
            try values.withUnsafeMutableBufferPointer { out in
                try reader.read(t) { raw, first in
                    let n = raw.count / t.dtype.size, dst = out.baseAddress! + first
                    switch t.dtype {
                    case .F32: UnsafeMutableRawPointer(dst).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
                    case .F64: for i in 0..<n { dst[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                    case .F16: ps_widen_f16(raw.baseAddress!.assumingMemoryBound(to: UInt16.self), Int64(n), dst)
                    case .BF16: ps_widen_bf16(raw.baseAddress!.assumingMemoryBound(to: UInt16.self), Int64(n), dst)
                    default: throw CheckpointError("\(c.shards[t.shard].path): tensor '\(t.name)' is \(t.dtype.rawValue), not a floating-point type")
                    }
                }
            }
            p.copy(from: values)
        }
        for b in buffers {
            guard let t = c.tensors.first(where: { $0.name == b.name }) else {
                throw CheckpointError("\(c.shards.first?.path ?? ""): no buffer '\(b.name)' for \(architecture) (BatchNorm's running statistics)")
            }
            var bytes = [UInt8](repeating: 0, count: t.count * t.dtype.size)
            try bytes.withUnsafeMutableBytes { out in
                try reader.read(t) { raw, first in
                    (out.baseAddress! + first * t.dtype.size).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
                }
            }
            try b.load(t.shape, t.dtype, NamedTensor(name: t.name, dtype: t.dtype, shape: t.shape, bytes: bytes).floatsAndIntegers,
                       source: c.shards[t.shard].path)
        }
    }
}

extension Buffer {
    /// As saved: F32, or I64 for a counter.
    var tensor: NamedTensor {
        if isCounter {
            let v = values.map { Int64($0) }
            return NamedTensor(name: name, dtype: .I64, shape: shape, bytes: v.withUnsafeBytes { Array($0) })
        }
        return NamedTensor(name: name, shape: shape, floats: values.map { Float($0) })
    }

    /// Values read from a file: the shape must match; any float or integer type is taken.
    func load(_ shape: [Int], _ dtype: DType, _ read: [Double]?, source: String) throws {
        guard shape == self.shape || (self.shape.isEmpty && shape == [1]) else {
            throw SafetensorsError(source: source, problem: "buffer '\(name)' has shape \(shape), expected \(self.shape)")
        }
        guard let read, read.count == values.count, read.allSatisfy(\.isFinite) else {
            throw SafetensorsError(source: source, problem: "buffer '\(name)' is \(dtype.rawValue); expected finite F32, F64 or integer values")
        }
        if isCounter, let bad = read.first(where: { $0 < 0 || $0 != $0.rounded() }) {
            throw SafetensorsError(source: source, problem: "buffer '\(name)' is \(bad); expected a count of batches")
        }
        if name.hasSuffix("running_var"), let bad = read.first(where: { $0 < 0 }) {
            throw SafetensorsError(source: source, problem: "buffer '\(name)' holds the variance \(bad); expected at least 0")
        }
        values = isCounter ? read : read.map { Double(Float($0)) }
    }
}

extension NamedTensor {
    /// The values as Double for float and integer types, nil for others.
    var floatsAndIntegers: [Double]? {
        func load<T>(_: T.Type, _ f: (T) -> Double) -> [Double] {
            bytes.withUnsafeBytes { raw in (0..<raw.count / MemoryLayout<T>.size).map { f(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
        }
        switch dtype {
        case .F32: return load(Float.self) { Double($0) }
        case .F64: return load(Double.self) { $0 }
        case .I64: return load(Int64.self) { Double($0) }
        case .I32: return load(Int32.self) { Double($0) }
        case .F16, .BF16:
            let n = bytes.count / 2
            var out = [Float](repeating: 0, count: n)
            bytes.withUnsafeBytes { raw in
                let u = raw.bindMemory(to: UInt16.self).baseAddress!
                if dtype == .F16 { ps_widen_f16(u, Int64(n), &out) } else { ps_widen_bf16(u, Int64(n), &out) }
            }
            return out.map(Double.init)
        default: return nil
        }
    }
}
