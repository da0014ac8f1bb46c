import CKernels
import Foundation
import Safetensors

/// Writes a checkpoint pruned at a `PruneCut`, streamed: the same files (shard
/// layout, index), tensor names, dtypes, shapes and metadata (plus `extra`),
/// in-scope tensors with their pruned entries set to zero, every other tensor
/// copied bit for bit. With `masks`, masks/<shard> holds a U8 tensor (1 kept,
/// 0 pruned) per in-scope tensor. Every file is written under a temporary name
/// and renamed when all are complete.
public enum CheckpointPruning {
    public static func write(_ c: Checkpoint, cut: PruneCut, to dir: String, metadata extra: [String: String], masks: Bool) throws {
        if masks { try FileManager.default.createDirectory(atPath: (dir as NSString).appendingPathComponent("masks"), withIntermediateDirectories: true) }
        // shards on every core at once; each file is committed only when all are written
        var results = [Result<[AtomicFile.Writer], Error>](repeating: .success([]), count: c.shards.count)
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let slots = buffer   // each shard writes its own slot
            DispatchQueue.concurrentPerform(iterations: c.shards.count) { s in
                slots[s] = Result { try shard(s, of: c, cut: cut, to: dir, metadata: extra, masks: masks) }
            }
        }
        var done = try results.flatMap { try $0.get() }
        if let index = c.indexPath {
            let w = try AtomicFile.Writer((dir as NSString).appendingPathComponent((index as NSString).lastPathComponent))
            try Self.append(try AtomicFile.read(index), to: w)
            done.append(w)
        }
        for w in done { try w.commit() }
    }

    /// Shard `s` pruned (and its masks), written but not yet committed.
    static func shard(_ s: Int, of c: Checkpoint, cut: PruneCut, to dir: String, metadata extra: [String: String], masks: Bool) throws -> [AtomicFile.Writer] {
        let reader = try CheckpointReader(c)
        let code: [DType: Int32] = [.F32: 0, .F64: 1, .F16: 2, .BF16: 3]
        var done: [AtomicFile.Writer] = []
        let shard = c.shards[s]
        let name = (shard.path as NSString).lastPathComponent
        let out = try AtomicFile.Writer((dir as NSString).appendingPathComponent(name))
        try Self.append(Safetensors.Layout.encodeHeader(metadata: shard.layout.metadata.merging(extra) { $1 }, entries: shard.layout.entries), to: out)
        let inScope = c.tensors.indices.filter { c.tensors[$0].shard == s && cut.ties[$0] != nil }
        var maskOut: AtomicFile.Writer?
        if masks {
            let m = try AtomicFile.Writer((dir as NSString).appendingPathComponent("masks/\(name)"))
            var offset = 0
            let entries = inScope.map { t in
                defer { offset += c.tensors[t].count }
                return Safetensors.Layout.Entry(name: c.tensors[t].name, dtype: .U8, shape: c.tensors[t].shape, begin: offset, end: offset + c.tensors[t].count)
            }
            try Self.append(Safetensors.Layout.encodeHeader(metadata: ["pruned_from": name], entries: entries), to: m)
            maskOut = m
        }
        var mask = [UInt8]()
        for t in c.tensors.indices where c.tensors[t].shard == s {
            let tensor = c.tensors[t]
            var ties = Int64(cut.ties[t] ?? 0)
            let prune = cut.ties[t] != nil
            try reader.read(tensor) { raw, _ in
                if prune, let key = cut.key, let dtype = code[tensor.dtype] {
                    let n = raw.count / tensor.dtype.size
                    if mask.count < n { mask = [UInt8](repeating: 0, count: n) }
                    mask.withUnsafeMutableBufferPointer { m in
                        ps_prune(UnsafeMutableRawPointer(mutating: raw.baseAddress), dtype, Int64(n), key, Int32(cut.width), &ties,
                                 maskOut == nil ? nil : m.baseAddress)
                    }
                    if let m = maskOut { try mask.withUnsafeBytes { try m.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
                } else if let m = maskOut, prune {
                    let ones = [UInt8](repeating: 1, count: raw.count / tensor.dtype.size)
                    try ones.withUnsafeBytes { try m.append($0) }
                }
                try out.append(raw)
            }
        }
        done.append(out)
        if let m = maskOut { done.append(m) }
        return done
    }

    static func append(_ bytes: [UInt8], to w: AtomicFile.Writer) throws { try bytes.withUnsafeBytes { try w.append($0) } }
}
