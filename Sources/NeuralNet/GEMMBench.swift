import CBLAS
import Foundation

/// Measured sgemm throughput (GFLOP/s) for n x n matrices with OpenBLAS on
/// `Compute.threads` threads: the roofline a training loop is compared with.
public func measureSGEMM(n: Int = 512, seconds: Double = 1) -> Double {
    openblas_set_num_threads(Int32(Compute.threads))
    defer { openblas_set_num_threads(1) }
    let a = [Float](repeating: 1.0001, count: n * n), b = [Float](repeating: 0.9999, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var calls = 0
    let start = Date()
    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
        while Date().timeIntervalSince(start) < seconds {
            gemm(false, false, m: n, n: n, k: n, ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
            calls += 1
        }
    }}}
    return 2 * Double(n * n * n) * Double(calls) / Date().timeIntervalSince(start) / 1e9
}
