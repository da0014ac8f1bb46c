import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files read as input, checked before they are trusted: only regular files
/// (opening a FIFO blocks until a writer comes, perhaps never), and nothing
/// read or allocated that the file's real size or the free memory cannot hold.
public enum InputFile {
    /// The size of the regular file at `path`; anything else is an error.
    public static func regularSize(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw FileError(path: path, problem: errno == ENOENT ? "file not found" : "cannot read: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileError(path: path, problem: "not a regular file (\(kind(st.st_mode))); expected a file")
        }
        return Int(st.st_size)
    }

    /// MemAvailable of /proc/meminfo in bytes (nil where there is none).
    public static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kb * 1024
    }

    /// Throws unless `bytes` fit in the memory available now; `what` names them.
    public static func checkMemory(_ bytes: Int, for what: String, path: String) throws {
        guard let free = availableMemory(), bytes > free else { return }
        throw FileError(path: path, problem: "\(what) needs \(bytes) bytes, more than the \(free) bytes of memory available")
    }

    /// The whole file, once it is known to be a regular file that fits in memory.
    public static func read(_ path: String) throws -> [UInt8] {
        let size = try regularSize(path)
        try checkMemory(size, for: "reading the file", path: path)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)   // no block if it became a FIFO since the stat
        guard fd >= 0 else { throw FileError(path: path, problem: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw FileError(path: path, problem: "not a regular file") }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileError(path: path, problem: n == 0 ? "file shrank while read" : "read failed: \(String(cString: strerror(errno)))") }
            done += n
        }
        return out
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }
}
