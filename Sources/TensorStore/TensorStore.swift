import Foundation
import Safetensors

/// Where the sweep keeps every intermediate tensor (parents, masks, teacher
/// logits, fine-tuned students). Each object is a safetensors blob whose
/// `__metadata__` carries its provenance and a crc32 of its data section;
/// `get` verifies it, so a torn or tampered object is `.corrupt`, never data.
/// Stores are safe to use from several threads and several processes.
public protocol TensorStore: AnyObject {
    var url: String { get }
    func put(_ key: String, _ object: Safetensors, provenance: Provenance) throws
    func get(_ key: String) throws -> Safetensors
    func exists(_ key: String) throws -> Bool
    func delete(_ key: String) throws
    func list(prefix: String) throws -> [ObjectInfo]

    /// The verified bytes exactly as stored (what `rados get` or `cat` would give).
    func getBlob(_ key: String) throws -> [UInt8]
    /// Stores bytes that are already a sealed object (`Seal.seal`); no re-encoding.
    func putBlob(_ key: String, _ blob: [UInt8]) throws
    /// Many objects at once; the first failure is thrown after all finished.
    func putMany(_ items: [(key: String, object: Safetensors, provenance: Provenance)]) throws
    /// Many objects at once, each verified; one result per key, in order.
    func getMany(_ keys: [String]) -> [Result<Safetensors, StoreError>]
}

/// Who made an object: the task, the sweep file's hash, the tool's version.
public struct Provenance: Equatable, Sendable {
    public var task: String
    public var sweepHash: String
    public var toolVersion: String
    public init(task: String, sweepHash: String, toolVersion: String) {
        self.task = task; self.sweepHash = sweepHash; self.toolVersion = toolVersion
    }
}

/// One line of `list`: the object's size in bytes and, read from its header,
/// provenance and checksum (nil with `problem` set if the header is unreadable).
public struct ObjectInfo: Equatable, Sendable {
    public let key: String
    public let size: Int
    public let provenance: Provenance?
    public let checksum: String?
    public let problem: String?
}

extension TensorStore {
    public func put(_ key: String, _ object: Safetensors, provenance: Provenance) throws {
        try putBlob(key, Seal.seal(object, provenance: provenance))
    }

    public func get(_ key: String) throws -> Safetensors {
        try Seal.open(getBlob(key), key: key)
    }

    public func putMany(_ items: [(key: String, object: Safetensors, provenance: Provenance)]) throws {
        for item in items { try put(item.key, item.object, provenance: item.provenance) }
    }

    public func getMany(_ keys: [String]) -> [Result<Safetensors, StoreError>] {
        keys.map { key in Result { try get(key) }.mapError { $0 as? StoreError ?? .io(key, "\($0)") } }
    }
}

/// `file:///path`, a plain path, or `rados://POOL?conf=PATH&id=NAME[&timeout=S]`;
/// a file store's directory is made only if `create`.
public func openStore(url: String, create: Bool = true) throws -> TensorStore {
    if url.hasPrefix("rados://") { return try RadosStore(url: url) }
    return try FileStore(url: url, create: create)
}
