import Foundation

/// A checkpoint on disk, read without loading it: one `.safetensors` file, a
/// directory of them, or a Hugging Face sharded checkpoint
/// (`model.safetensors.index.json` naming each tensor's shard). Every header
/// is parsed and checked against its file (offsets, sizes, dtypes, shapes)
/// before any data is read; tensors are then read in bounded chunks.
public struct Checkpoint: Sendable {
    public struct Shard: Sendable {
        public let path: String
        public let size: Int
        public let layout: Safetensors.Layout
    }

    public struct Tensor: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Index into `shards`.
        public let shard: Int
        /// Absolute byte range in the shard file.
        public let offset: Int
        public let byteCount: Int
        public var count: Int { byteCount / dtype.size }
    }

    /// The files in reading order.
    public let shards: [Shard]
    /// Every tensor, in shard order, then offset order.
    public let tensors: [Tensor]
    /// The index file of a sharded checkpoint, if any.
    public let indexPath: String?

    /// Largest header accepted: real headers are kilobytes to a few megabytes.
    public static let maxHeader = 100 << 20

    public static func open(_ path: String) throws -> Checkpoint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CheckpointError("\(path): no such file or directory") }
        var indexPath: String?
        var files: [String]
        if isDirectory.boolValue {
            let index = (path as NSString).appendingPathComponent("model.safetensors.index.json")
            if FileManager.default.fileExists(atPath: index) {
                indexPath = index
                files = []
            } else {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".safetensors") }.sorted()
                guard !names.isEmpty else { throw CheckpointError("\(path): no .safetensors files in the directory") }
                files = names.map { (path as NSString).appendingPathComponent($0) }
            }
        } else if path.hasSuffix(".index.json") {
            indexPath = path
            files = []
        } else {
            files = [path]
        }
        var weightMap: [String: String] = [:]
        if let indexPath {
            weightMap = try readIndex(indexPath)
            let dir = (indexPath as NSString).deletingLastPathComponent
            files = Set(weightMap.values).sorted().map { (dir as NSString).appendingPathComponent($0) }
            if let missing = files.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
                throw CheckpointError("\(indexPath): shard \(missing) is listed in the weight_map but missing")
            }
        }
        let shards = try files.map(readShard)
        var tensors: [Tensor] = []
        for (i, s) in shards.enumerated() {
            for e in s.layout.entries {
                tensors.append(Tensor(name: e.name, dtype: e.dtype, shape: e.shape, shard: i,
                                      offset: s.layout.headerEnd + e.begin, byteCount: e.end - e.begin))
            }
        }
        var seen: [String: String] = [:]
        for t in tensors {
            let file = shards[t.shard].path
            if let other = seen.updateValue(file, forKey: t.name) { throw CheckpointError("tensor '\(t.name)' is in both \(other) and \(file)") }
        }
        if let indexPath {
            for (name, file) in weightMap.sorted(by: { $0.key < $1.key }) where (seen[name] as NSString?)?.lastPathComponent != file {
                throw CheckpointError("\(indexPath): tensor '\(name)' is listed in \(file) but that shard does not hold it")
            }
            if let extra = seen.keys.sorted().first(where: { weightMap[$0] == nil }) {
                throw CheckpointError("\(indexPath): tensor '\(extra)' of \(seen[extra] ?? "") is not in the index's weight_map")
            }
        }
        return Checkpoint(shards: shards, tensors: tensors, indexPath: indexPath)
    }

    /// `weight_map` of a Hugging Face index: tensor name -> shard file name (in the index's directory).
    static func readIndex(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError("\(path): cannot read the index") }
        guard data.count <= maxHeader else { throw CheckpointError("\(path): index of \(data.count) bytes is larger than \(maxHeader)") }
        let json: JSON
        do { json = try JSONParser.parse(ArraySlice(data)) } catch {
            throw CheckpointError("\(path): not JSON: at byte \(error.offset), expected \(error.expected)")
        }
        guard case .object(let root) = json, case .object(let map)? = root["weight_map"] else {
            throw CheckpointError("\(path): expected an object with a \"weight_map\" of tensor names to shard files")
        }
        var out: [String: String] = [:]
        for (name, v) in map {
            guard case .string(let file) = v, !file.contains("/"), file.hasSuffix(".safetensors") else {
                throw CheckpointError("\(path): weight_map[\"\(name)\"] must name a .safetensors file in the same directory")
            }
            out[name] = file
        }
        guard !out.isEmpty else { throw CheckpointError("\(path): the weight_map is empty") }
        return out
    }

    /// A shard's header, checked against the file's size.
    static func readShard(_ path: String) throws -> Shard {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError("\(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError("\(path): not a regular file") }
        let size = Int(st.st_size)
        let first = try readFully(fd, count: min(size, 8), at: 0, path: path)
        guard let end = Safetensors.Layout.headerEnd(first) else {
            throw SafetensorsError(source: path, problem: "file is \(size) bytes, shorter than the 8-byte header length")
        }
        guard end - 8 <= maxHeader else { throw SafetensorsError(source: path, problem: "header of \(end - 8) bytes is larger than the \(maxHeader) accepted") }
        guard end <= size else { throw SafetensorsError(source: path, problem: "header length \(end - 8) exceeds the file (\(size - 8) bytes after the length)") }
        let layout = try Safetensors.Layout.parse(try readFully(fd, count: end, at: 0, path: path), source: path, fileSize: size)
        guard layout.totalSize == size else {
            throw SafetensorsError(source: path, problem: layout.totalSize > size
                ? "truncated: tensors need \(layout.dataSize) data bytes, file has \(size - layout.headerEnd)"
                : "\(size - layout.totalSize) trailing bytes after the last tensor")
        }
        return Shard(path: path, size: size, layout: layout)
    }

    static func readFully(_ fd: Int32, count: Int, at offset: Int, path: String) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            n = 0
            guard let base = buf.baseAddress else { return }
            while n < count {
                let r = pread(fd, base + n, count - n, off_t(offset + n))
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw CheckpointError("\(path): read failed at byte \(offset + n): \(r == 0 ? "unexpected end of file" : String(cString: strerror(errno)))") }
                n += r
            }
        }
    }
}

/// Reads tensors of a checkpoint in chunks into one reused buffer: memory is
/// bounded by the chunk size, whatever the checkpoint's size.
public final class CheckpointReader {
    public let checkpoint: Checkpoint
    private var fds: [Int32]
    private var buffer: UnsafeMutableRawBufferPointer

    public init(_ checkpoint: Checkpoint, chunkBytes: Int = 1 << 20) throws {
        self.checkpoint = checkpoint
        fds = []
        buffer = .allocate(byteCount: chunkBytes, alignment: 64)
        for s in checkpoint.shards {
            let fd = open(s.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { close(); throw CheckpointError("\(s.path): \(String(cString: strerror(errno)))") }
            fds.append(fd)
        }
    }

    deinit { close() }

    private func close() {
        for fd in fds { Foundation.close(fd) }
        fds = []
        if buffer.count > 0 { buffer.deallocate(); buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0) }
    }

    /// Calls `body` with consecutive whole-element chunks of the tensor's bytes and the index of each chunk's first element.
    public func read(_ t: Checkpoint.Tensor, _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        let step = buffer.count / t.dtype.size * t.dtype.size
        var done = 0
        while done < t.byteCount {
            let n = min(step, t.byteCount - done)
            var got = 0
            while got < n {
                let r = pread(fds[t.shard], buffer.baseAddress! + got, n - got, off_t(t.offset + done + got))
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else {
                    throw CheckpointError("\(checkpoint.shards[t.shard].path): tensor '\(t.name)': read failed: \(r == 0 ? "file shrank while reading" : String(cString: strerror(errno)))")
                }
                got += r
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), done / t.dtype.size)
            done += n
        }
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
