import CBLAS

/// A dense Float array with a shape. Activations between conv layers use the
/// batch-innermost layout [C, H, W, B], so each pixel's images are adjacent
/// and vector steps run over 16 images; linear layers use [B, features].
public struct Tensor: Sendable {
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

    /// A tensor whose every value `fill` writes (given the start of the buffer).
    init(uninitialized shape: [Int], _ fill: (UnsafeMutablePointer<Float>) -> Void) {
        let n = shape.reduce(1, *)
        self.init(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buffer, count in
            if n > 0 { fill(buffer.baseAddress!) }
            count = n
        })
    }

    public var count: Int { data.count }
}

/// Row-major C = alpha * op(A) * op(B) + beta * C with A [m, k], B [k, n] after op;
/// leading dimensions default to dense rows and may be wider (a column block of a larger matrix).
@inline(__always)
func gemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int,
          _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          alpha: Float = 1, beta: Float = 0, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda ?? (transA ? m : k)), b, Int32(ldb ?? (transB ? k : n)),
                beta, c, Int32(ldc ?? n))
}

/// Process-wide compute settings, made once at start-up.
public enum Compute {
    /// Threads for one process. Work is split by batch: each thread runs a
    /// shard of every batch with single-threaded BLAS (LeNet5's small GEMMs
    /// gain nothing from BLAS threads), and gradients are summed in shard
    /// order, so results are bit-identical for a given count. Also keeps freed
    /// activation buffers for the next step.
    public static func configure(threads: Int) {
        openblas_set_num_threads(1)
        configuredThreads = max(1, threads)
        keepFreedMemory()
    }

    /// glibc malloc's policy for a process that moves tensors of many MiB: one
    /// arena, blocks up to 32 MiB (its limit) from the heap rather than mapped
    /// one by one, and freed memory kept. By default a 16 MiB buffer freed on
    /// one thread is unmapped, or lands in another thread's arena, so the next
    /// one is faulted in and zero-filled afresh: that was half the CPU of a
    /// RADOS get, and half of a training step before.
    public static func keepFreedMemory() {
        _ = mallopt(M_ARENA_MAX, 1)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    }

    nonisolated(unsafe) private static var configuredThreads = 1
    public static var threads: Int { configuredThreads }
}
