import CZlib
import Dispatch
import Foundation

/// zlib's crc32 of the data section, written "crc32:%08x" in `__metadata__`.
/// Large buffers are split across cores and the parts joined with
/// crc32_combine, so verifying costs less than reading the bytes.
public enum Checksum {
    static let parallelThreshold = 1 << 20
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// crc32 of `bytes`, continuing from `crc` (0 to start).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        let n = bytes.count
        guard n > 0 else { return crc }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard n >= parallelThreshold, cores > 1 else { return UInt32(crc32_z(UInt(crc), base, n)) }
        let parts = min(cores, n / (parallelThreshold / 2))
        let step = (n + parts - 1) / parts
        var crcs = [UInt32](repeating: 0, count: parts)
        crcs.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                let begin = i * step, end = min(n, begin + step)
                out[i] = UInt32(crc32_z(0, base + begin, end - begin))
            }
        }
        var total = crc
        for i in 0..<parts {
            let len = min(n, (i + 1) * step) - i * step
            total = UInt32(crc32_combine(UInt(total), UInt(crcs[i]), len))
        }
        return total
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { crc32($0) } }

    /// Joins the crc of a first part with the crc of the `length` bytes after it.
    public static func combine(_ first: UInt32, _ second: UInt32, length: Int) -> UInt32 {
        UInt32(crc32_combine(UInt(first), UInt(second), length))
    }

    public static func format(_ crc: UInt32) -> String { "crc32:" + String(format: "%08x", crc) }
}
