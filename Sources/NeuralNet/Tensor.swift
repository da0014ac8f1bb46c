import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// A dense Float array with a shape. Activations between conv layers use the
/// layout [C, B, H, W] (channel-major over the batch) so that a whole batch is
/// one GEMM; linear layers use [B, features].
public struct Tensor {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape; self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
}

/// Row-major C = alpha * op(A) * op(B) + beta * C with A [m, k], B [k, n] after op.
@inline(__always)
func gemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int,
          _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          alpha: Float = 1, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
                beta, c, Int32(n))
}

/// Process-wide compute settings, made once at start-up.
public enum Compute {
    /// OpenBLAS threads. Set explicitly: results are bit-identical for a given
    /// count, and mpirun's core binding would otherwise decide it. Also keeps
    /// glibc from mmapping (and zero-faulting) every large activation buffer
    /// afresh each step, which cost half of the training time.
    public static func configure(threads: Int) {
        openblas_set_num_threads(Int32(max(1, threads)))
        _ = mallopt(M_MMAP_THRESHOLD, Int32.max)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }
}
