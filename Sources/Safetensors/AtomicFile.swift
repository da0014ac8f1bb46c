import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

/// Writes go to a unique temporary name in the same directory, are fsync'd,
/// then renamed over the target (and the directory fsync'd): a reader sees the
/// old file or the whole new one, never a part, and a crash leaves no torn file.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(chunks: [bytes], to: path)
    }

    /// The file is the chunks one after another (e.g. a header, then tensors'
    /// own buffers, so nothing is copied into one big array first).
    /// `syncDirectory: false` skips the directory fsync: still never torn, but
    /// after a crash the file may be the old one (fine for a cache that recomputes).
    public static func write(chunks: [[UInt8]], to path: String, syncDirectory sync: Bool = true) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = "\(dir.isEmpty ? "." : dir)/.\((path as NSString).lastPathComponent).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, problem: "cannot create temporary file: \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            for bytes in chunks {
                try bytes.withUnsafeBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw FileError(path: path, problem: "write failed: \(String(cString: strerror(errno)))")
                        }
                        off += n
                    }
                }
            }
            guard fsync(fd) == 0 else { throw FileError(path: path, problem: "fsync failed: \(String(cString: strerror(errno)))") }
        }
        guard rename(tmp, path) == 0 else { throw FileError(path: path, problem: "rename failed: \(String(cString: strerror(errno)))") }
        ok = true
        if sync { syncDirectory(dir.isEmpty ? "." : dir) }
    }

    public static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    public static func read(_ path: String) throws -> [UInt8] {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, problem: FileManager.default.fileExists(atPath: path) ? "cannot read" : "file not found")
        }
        return [UInt8](d)
    }
}
