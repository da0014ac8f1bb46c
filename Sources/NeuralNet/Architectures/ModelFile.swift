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
        var meta = metadata
        meta["format"] = "pt"
        meta["architecture"] = architecture.description
        meta["classes"] = String(classes)
        meta["input_side"] = String(imageSide)
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
        let side = try number("input_side", default: 28, in: arch.smallestSide...Model.maxSide)
        // every parameter is in the file as F32: a model larger than its file is a lie, not an allocation
        let need = arch.parameterCount(inputSide: side, classes: classes)
        guard let need, need <= file.dataSize / 4 else {
            throw fail("\(arch) on \(side)x\(side) images with \(classes) classes has \(need.map(String.init) ?? "more than Int.max") parameters; the file holds \(file.dataSize / 4) floats")
        }
        self.init(arch, inputSide: side, classes: classes)
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
    public convenience init(checkpoint c: Checkpoint, architecture: Architecture, inputSide: Int, classes: Int) throws {
        self.init(architecture, inputSide: inputSide, classes: classes)
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
    }
}
