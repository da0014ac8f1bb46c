import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
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
        let w = try Writer(path)
        for c in chunks { try c.withUnsafeBytes { try w.append($0) } }
        try w.commit(syncDirectory: sync)
    }

    /// A file written in pieces under a temporary name, renamed into place by
    /// `commit`; dropped without a commit, it leaves nothing behind.
    public final class Writer {
        public let path: String
        let temporary: String
        private var fd: Int32

        public init(_ path: String) throws {
            self.path = path
            let dir = (path as NSString).deletingLastPathComponent
            temporary = "\(dir.isEmpty ? "." : dir)/.\((path as NSString).lastPathComponent).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError(path: path, problem: "cannot create temporary file: \(String(cString: strerror(errno)))") }
        }

        deinit {
            if fd >= 0 { close(fd); unlink(temporary) }
        }

        public func append(_ raw: UnsafeRawBufferPointer) throws {
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

        public func commit(syncDirectory sync: Bool = true) throws {
            guard fsync(fd) == 0 else { throw FileError(path: path, problem: "fsync failed: \(String(cString: strerror(errno)))") }
            close(fd)
            fd = -1
            guard rename(temporary, path) == 0 else {
                unlink(temporary)
                throw FileError(path: path, problem: "rename failed: \(String(cString: strerror(errno)))")
            }
            let dir = (path as NSString).deletingLastPathComponent
            if sync { syncDirectory(dir.isEmpty ? "." : dir) }
        }
    }

    public static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// A whole input file (see `InputFile`: regular files only, sizes checked).
    public static func read(_ path: String) throws -> [UInt8] { try InputFile.read(path) }
}
