import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// The embedded store: one directory, each key a file `<root>/<key>.safetensors`
/// (keys' '/' are subdirectories). Writes go through AtomicFile (temporary
/// name, fsync, rename): readers see the whole old object or
/// the whole new one, a crash leaves at most a hidden temporary file, and
/// several processes may write the same key at once (the last rename wins).
public final class FileStore: TensorStore, @unchecked Sendable {
    public let root: String
    public var url: String { "file://" + root }
    static let suffix = ".safetensors"

    /// `file:///path` or a plain path; the directory is created if needed
    /// (`create`), else it must exist.
    public convenience init(url: String, create: Bool = true) throws {
        var path = url
        if url.hasPrefix("file://") {
            path = String(url.dropFirst("file://".count))
            guard path.hasPrefix("/") else { throw StoreError.badURL(url, "expected file:///absolute/path") }
        } else if url.contains("://") {
            throw StoreError.badURL(url, "unknown scheme (expected file:// or rados://)")
        }
        guard !path.isEmpty else { throw StoreError.badURL(url, "empty path") }
        try self.init(directory: path, create: create)
    }

    public init(directory: String, create: Bool = true) throws {
        root = (directory as NSString).standardizingPath
        if create { try FileStore.makeDirectories(root, key: root) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError.badURL(directory, create ? "not a directory" : "no such directory (a store that does not exist has nothing to read)")
        }
    }

    public func path(_ key: String) -> String { "\(root)/\(key)\(FileStore.suffix)" }

    public func put(_ key: String, _ object: Safetensors, provenance: Provenance) throws {
        try KeyRule.check(key)
        try write(key, chunks: Seal.chunks(object, provenance: provenance))
    }

    /// One object in flight per core (two here): one is written while another
    /// waits for its fsync, which the rename to a fresh inode makes slower than an overwrite.
    public func putMany(_ items: [(key: String, object: Safetensors, provenance: Provenance)]) throws {
        var failures = [Error?](repeating: nil, count: items.count)
        failures.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer   // each put writes its own slot
            DispatchQueue.concurrentPerform(iterations: items.count) { i in
                do { try put(items[i].key, items[i].object, provenance: items[i].provenance) } catch { out[i] = error }
            }
        }
        if let first = failures.lazy.compactMap({ $0 }).first { throw first }
    }

    public func putBlob(_ key: String, _ blob: [UInt8]) throws {
        try KeyRule.check(key)
        try write(key, chunks: [blob])
    }

    func write(_ key: String, chunks: [[UInt8]]) throws {
        let p = path(key)
        try FileStore.makeDirectories((p as NSString).deletingLastPathComponent, key: key)
        // No directory fsync: the data is fsync'd before the rename, so a crash
        // leaves the old object or the new one, never a torn one; at worst a
        // just-written object is missing after the crash, a cache miss.
        do { try AtomicFile.write(chunks: chunks, to: p, syncDirectory: false) } catch let e as FileError {
            throw StoreError.io(key, e.description)
        }
    }

    /// Reads the header, then each tensor straight into its own buffer, and
    /// checks the data section's crc32 as the tensors arrive.
    public func get(_ key: String) throws -> Safetensors {
        try KeyRule.check(key)
        let file = try OpenFile(path(key), key: key)
        defer { file.close() }
        let layout = try file.layout()
        try file.checkMemory(file.size)
        var crc: UInt32 = 0
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(layout.entries.count)
        for e in layout.entries {
            let n = e.end - e.begin
            var partCRC: UInt32 = 0
            let bytes = try [UInt8](unsafeUninitializedCapacity: n) { buf, count in
                partCRC = try file.readChecksummed(into: UnsafeMutableRawBufferPointer(buf), at: layout.headerEnd + e.begin)
                count = n
            }
            crc = Checksum.combine(crc, partCRC, length: n)
            tensors.append(NamedTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: bytes))
        }
        try Seal.check(layout, crc: crc, key: key)
        return Safetensors(tensors: tensors, metadata: layout.metadata)
    }

    public func getBlob(_ key: String) throws -> [UInt8] {
        try KeyRule.check(key)
        let file = try OpenFile(path(key), key: key)
        defer { file.close() }
        try file.checkMemory(file.size)
        let blob = try [UInt8](unsafeUninitializedCapacity: file.size) { buf, count in
            try file.read(into: UnsafeMutableRawBufferPointer(buf), at: 0)
            count = file.size
        }
        try Seal.verify(blob, key: key)
        return blob
    }

    public func exists(_ key: String) throws -> Bool {
        try KeyRule.check(key)
        var st = stat()
        return stat(path(key), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public func delete(_ key: String) throws {
        try KeyRule.check(key)
        guard unlink(path(key)) == 0 else {
            if errno == ENOENT { throw StoreError.missing(key) }
            throw StoreError.io(key, "cannot remove \(path(key)): \(String(cString: strerror(errno)))")
        }
    }

    /// Every object whose key starts with `prefix`, sorted by key, with what its header says.
    public func list(prefix: String) throws -> [ObjectInfo] {
        try KeyRule.checkPrefix(prefix)
        // Walk only the subtree the prefix can be in.
        let dirPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
        let start = dirPart.isEmpty ? root : "\(root)/\(dirPart)"
        guard let walker = FileManager.default.enumerator(atPath: start) else { return [] }
        var keys: [String] = []
        while let rel = walker.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            guard !name.hasPrefix("."), rel.hasSuffix(FileStore.suffix) else { continue }
            let key = (dirPart.isEmpty ? "" : dirPart + "/") + rel.dropLast(FileStore.suffix.count)
            if key.hasPrefix(prefix), (try? KeyRule.check(key)) != nil { keys.append(key) }
        }
        return keys.sorted().map(info)
    }

    func info(_ key: String) -> ObjectInfo {
        do {
            let file = try OpenFile(path(key), key: key)
            defer { file.close() }
            let layout = try file.layout()
            return ObjectInfo(key: key, size: file.size, provenance: Seal.provenance(layout.metadata),
                              checksum: layout.metadata[Seal.checksumKey], problem: nil)
        } catch {
            var st = stat()
            let size = stat(path(key), &st) == 0 ? Int(st.st_size) : 0
            return ObjectInfo(key: key, size: size, provenance: nil, checksum: nil, problem: "\(error)")
        }
    }

    static func makeDirectories(_ dir: String, key: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue { return } // a concurrent writer made it
            throw StoreError.io(key, "cannot create directory \(dir): \(error.localizedDescription)")
        }
    }
}

/// An object file opened for reading, with its size; errors name the key.
struct OpenFile {
    let fd: Int32
    let size: Int
    let key: String

    init(_ path: String, key: String) throws {
        self.key = key
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)   // a FIFO would block this open for ever
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw StoreError.missing(key) }
            throw StoreError.io(key, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw StoreError.io(key, "\(path) is not a regular file")
        }
        size = Int(st.st_size)
    }

    /// Throws unless `bytes` fit in the memory available (before they are allocated).
    func checkMemory(_ bytes: Int) throws {
        do { try InputFile.checkMemory(bytes, for: "the object", path: key) } catch let e as FileError {
            throw StoreError.io(key, e.problem)
        }
    }

    func close() { Glibc.close(fd) }

    /// Reads `buf.count` bytes at `offset` and returns their crc32. Reads of
    /// 256 KiB or more are split in two halves, each read and checksummed on
    /// its own core while still in cache, then the crcs combined.
    func readChecksummed(into buf: UnsafeMutableRawBufferPointer, at offset: Int) throws -> UInt32 {
        let n = buf.count
        guard n >= 1 << 18, Checksum.cores > 1 else {
            try read(into: buf, at: offset)
            return Checksum.crc32(UnsafeRawBufferPointer(buf))
        }
        let half = n / 2
        func part(_ range: Range<Int>) -> Result<UInt32, Error> {
            let part = UnsafeMutableRawBufferPointer(rebasing: buf[range])
            return Result { try read(into: part, at: offset + range.lowerBound); return Checksum.crc32(UnsafeRawBufferPointer(part)) }
        }
        var first: Result<UInt32, Error> = .success(0), second = first
        SecondThread.shared.run({ first = part(0..<half) }, alongside: { second = part(half..<n) })
        return Checksum.combine(try first.get(), try second.get(), length: n - half)
    }

    /// Fills `buf` from `offset`; a short file is a truncated object.
    func read(into buf: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buf.count {
            let n = pread(fd, buf.baseAddress! + done, buf.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io(key, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw StoreError.corrupt(key, "truncated: file ends at \(offset + done) bytes") }
            done += n
        }
    }

    /// Parses the header (reading more if it is long) and checks the file's size against it.
    func layout() throws -> Safetensors.Layout {
        func prefix(_ n: Int) throws -> [UInt8] {
            try [UInt8](unsafeUninitializedCapacity: n) { buf, count in
                try read(into: UnsafeMutableRawBufferPointer(buf), at: 0); count = n
            }
        }
        guard size >= 8 else { throw StoreError.corrupt(key, "file is \(size) bytes, shorter than the 8-byte header length") }
        var head = try prefix(min(size, 4096))
        if let end = Safetensors.Layout.headerEnd(head), end > head.count, end <= size { head = try prefix(end) }
        let layout: Safetensors.Layout
        do { layout = try Safetensors.Layout.parse(head, source: key, fileSize: size) } catch let e as SafetensorsError {
            throw StoreError.corrupt(key, e.problem)
        }
        guard layout.totalSize == size else {
            throw StoreError.corrupt(key, layout.totalSize > size
                ? "truncated: \(size) of \(layout.totalSize) bytes"
                : "\(size - layout.totalSize) bytes after the data section")
        }
        return layout
    }
}
