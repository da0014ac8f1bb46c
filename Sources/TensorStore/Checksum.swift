import CISAL
import CZlib
import Dispatch
import Foundation
import Safetensors

/// The CRC-32 of zlib and gzip over the data section, written "crc32:%08x" in
/// `__metadata__`. ISA-L computes it with carry-less multiply folding (about
/// 50 GB/s here, zlib's tables about 4), so verifying costs a fraction of
/// reading the bytes; buffers of several MiB are also split across cores.
public enum Checksum {
    static let parallelThreshold = 4 << 20
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// crc32 of `bytes`, continuing from `crc` (0 to start).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        let n = bytes.count
        guard n > 0 else { return crc }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard n >= parallelThreshold, cores > 1 else { return crc32_gzip_refl(crc, base, UInt64(n)) }
        let parts = min(cores, n / (parallelThreshold / 2))
        let step = (n + parts - 1) / parts
        var crcs = [UInt32](repeating: 0, count: parts)
        crcs.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let (out, start) = (buffer, base)   // each iteration reads its own range, writes its own slot
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                let begin = i * step, end = min(n, begin + step)
                out[i] = crc32_gzip_refl(0, start + begin, UInt64(end - begin))
            }
        }
        var total = crc
        for i in 0..<parts { total = combine(total, crcs[i], length: min(n, (i + 1) * step) - i * step) }
        return total
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { crc32($0) } }

    /// crc32 of a whole file, read in 8 MiB pieces.
    public static func crc32(file path: String) throws -> UInt32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, problem: String(cString: strerror(errno))) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8 << 20), crc: UInt32 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError(path: path, problem: "read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { return crc }
            crc = buffer.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<n]), continuing: crc) }
        }
    }

    /// Joins the crc of a first part with the crc of the `length` bytes after it.
    public static func combine(_ first: UInt32, _ second: UInt32, length: Int) -> UInt32 {
        UInt32(crc32_combine(UInt(first), UInt(second), length))
    }

    public static func format(_ crc: UInt32) -> String {
        let hex = String(crc, radix: 16)
        return "crc32:" + String(repeating: "0", count: 8 - hex.count) + hex
    }
}
