import Safetensors
/// A stored object is a safetensors blob with provenance and a checksum of its
/// data section in `__metadata__` under these names. `seal` stamps them,
/// `open` checks them; other metadata (e.g. a model's architecture) is kept.
public enum Seal {
    public static let taskKey = "task"
    public static let sweepHashKey = "sweep_hash"
    public static let toolVersionKey = "tool_version"
    public static let checksumKey = "checksum"

    /// The object's header with provenance and checksum stamped in; the data
    /// section is the tensors' bytes in order, so a writer can send them as they are.
    public static func header(_ object: Safetensors, provenance: Provenance) -> [UInt8] {
        var crc: UInt32 = 0
        for t in object.tensors {
            let c = t.bytes.withUnsafeBytes { Checksum.crc32($0) }
            crc = Checksum.combine(crc, c, length: t.bytes.count)
        }
        var stamped = Safetensors(tensors: object.tensors, metadata: object.metadata)
        stamped.metadata[taskKey] = provenance.task
        stamped.metadata[sweepHashKey] = provenance.sweepHash
        stamped.metadata[toolVersionKey] = provenance.toolVersion
        stamped.metadata[checksumKey] = Checksum.format(crc)
        return stamped.encodeHeader()
    }

    /// The sealed object as the arrays it is made of: the header, then each
    /// tensor's own bytes, for writers that send them without joining them first.
    public static func chunks(_ object: Safetensors, provenance: Provenance) -> [[UInt8]] {
        [header(object, provenance: provenance)] + object.tensors.map(\.bytes)
    }

    /// The whole sealed blob.
    public static func seal(_ object: Safetensors, provenance: Provenance) -> [UInt8] {
        var out = header(object, provenance: provenance)
        out.reserveCapacity(out.count + object.dataSize)
        for t in object.tensors { out += t.bytes }
        return out
    }

    public static func provenance(_ metadata: [String: String]) -> Provenance? {
        guard let task = metadata[taskKey] else { return nil }
        return Provenance(task: task, sweepHash: metadata[sweepHashKey] ?? "", toolVersion: metadata[toolVersionKey] ?? "")
    }

    /// Checks a blob read back: valid safetensors, exactly as long as its
    /// header says, data section matching the recorded checksum.
    @discardableResult
    public static func verify(_ blob: [UInt8], key: String) throws -> Safetensors.Layout {
        try blob.withUnsafeBytes { try verify($0, key: key) }
    }

    @discardableResult
    public static func verify(_ blob: UnsafeRawBufferPointer, key: String) throws -> Safetensors.Layout {
        let layout = try parse(blob, key: key)
        guard layout.totalSize == blob.count else {
            throw StoreError.corrupt(key, layout.totalSize > blob.count
                ? "truncated: \(blob.count) of \(layout.totalSize) bytes"
                : "\(blob.count - layout.totalSize) bytes after the data section")
        }
        try check(layout, crc: Checksum.crc32(UnsafeRawBufferPointer(rebasing: blob[layout.headerEnd...])), key: key)
        return layout
    }

    /// The layout from a prefix holding at least the header; errors are `.corrupt(key, ...)`.
    public static func parse(_ prefix: UnsafeRawBufferPointer, key: String, size: Int? = nil) throws -> Safetensors.Layout {
        guard prefix.count >= 8 else { throw StoreError.corrupt(key, "\(prefix.count) bytes, shorter than the 8-byte header length") }
        let end = Safetensors.Layout.headerEnd(Array(prefix[0..<8]))!
        do {
            return try Safetensors.Layout.parse(Array(prefix[0..<min(end, prefix.count)]), source: key, fileSize: size ?? prefix.count)
        } catch let e as SafetensorsError {
            throw StoreError.corrupt(key, e.problem)
        }
    }

    /// The recorded checksum against the data section's crc32, and the
    /// provenance against the key (see `boundTask`).
    public static func check(_ layout: Safetensors.Layout, crc: UInt32, key: String) throws {
        try checkBinding(layout.metadata, key: key)
        guard let recorded = layout.metadata[checksumKey] else {
            throw StoreError.corrupt(key, "no '\(checksumKey)' in __metadata__ (not written by a store)")
        }
        guard recorded == Checksum.format(crc) else {
            throw StoreError.corrupt(key, "checksum mismatch: header says \(recorded), data is \(Checksum.format(crc))")
        }
    }

    /// The task a key names, when its last segment is a sweep's name for one
    /// ("parent-", "teacher-", "trial-", "pruned-" or "round-" and hex digits): an object
    /// under such a key must say that task made it, so an object copied over
    /// another key is corrupt there, not a silent substitute.
    public static func boundTask(_ key: String) -> String? {
        let last = key.split(separator: "/").last.map(String.init) ?? key
        guard let dash = last.firstIndex(of: "-"), ["parent", "teacher", "trial", "pruned", "round"].contains(last[..<dash]) else { return nil }
        let hex = last[last.index(after: dash)...]
        return !hex.isEmpty && hex.allSatisfy(\.isHexDigit) ? last : nil
    }

    public static func checkBinding(_ metadata: [String: String], key: String) throws {
        guard let task = boundTask(key) else { return }
        let found = metadata[taskKey]
        guard found == task else {
            throw StoreError.corrupt(key, "provenance names task '\(found ?? "none")', the key names '\(task)' (an object of another key?)")
        }
    }

    /// Verifies and decodes.
    public static func open(_ blob: [UInt8], key: String) throws -> Safetensors {
        try blob.withUnsafeBytes { try open($0, key: key) }
    }

    public static func open(_ blob: UnsafeRawBufferPointer, key: String) throws -> Safetensors {
        let layout = try verify(blob, key: key)
        let h = layout.headerEnd
        let tensors = layout.entries.map { e in
            NamedTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: Array(blob[h + e.begin..<h + e.end]))
        }
        return Safetensors(tensors: tensors, metadata: layout.metadata)
    }
}
