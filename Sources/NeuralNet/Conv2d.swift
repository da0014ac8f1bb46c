/// 2-D convolution (cross-correlation, as PyTorch) by im2col and GEMM, a few
/// images at a time so the column buffer stays in cache.
/// x [C, B, H, W] -> y [O, B, OH, OW]; W [O, C, k, k] (PyTorch layout), b [O];
/// cols [C*k*k, nb*OH*OW] for a chunk of nb images; OH = (H + 2 pad - k) / stride + 1.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// False for the first layer: nobody needs dLoss/dImage.
    public var computesInputGrad = true
    private var x: Tensor?

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: "\(name).weight", shape: [outChannels, inChannels, kernel, kernel], fanIn: fanIn)
        bias = Parameter(name: "\(name).bias", shape: [outChannels], fanIn: fanIn)
    }

    public var parameters: [Parameter] { [weight, bias] }

    func outputSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }

    /// Images per chunk: about 512 KiB of columns.
    func chunk(rows: Int, pixels: Int) -> Int { max(1, (512 << 10) / (4 * rows * pixels)) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (c, b, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(c == inChannels, "Conv2d expects \(inChannels) channels, got \(c)")
        let oh = outputSize(h), ow = outputSize(w), p = oh * ow, rows = c * kernel * kernel
        let step = chunk(rows: rows, pixels: p)
        var cols = [Float](repeating: 0, count: rows * min(step, b) * p)
        var y = Tensor(zeros: [outChannels, b, oh, ow])
        x.data.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    for o in 0..<outChannels { (yp.baseAddress! + o * b * p).initialize(repeating: bias.value[o], count: b * p) }
                    for b0 in Swift.stride(from: 0, to: b, by: step) {
                        let nb = min(step, b - b0)
                        im2col(xp.baseAddress!, cp.baseAddress!, images: b0..<b0 + nb, batch: b, h: h, w: w, oh: oh, ow: ow)
                        gemm(false, false, m: outChannels, n: nb * p, k: rows, weight.value.baseAddress!, cp.baseAddress!,
                             yp.baseAddress! + b0 * p, beta: 1, ldc: b * p)
                    }
                }
            }
        }
        if training { self.x = x }
        return y
    }

    /// Per chunk: dW += dY cols^T, db = row sums of dY, dCols = W^T dY scattered back by col2im.
    /// The columns are rebuilt from x rather than kept: cheaper than a round trip through memory.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x else { fatalError("Conv2d.backward before a training forward") }
        let (b, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let oh = outputSize(h), ow = outputSize(w), p = oh * ow, rows = inChannels * kernel * kernel
        let step = chunk(rows: rows, pixels: p)
        var cols = [Float](repeating: 0, count: rows * min(step, b) * p)
        var dcols = [Float](repeating: 0, count: computesInputGrad ? cols.count : 0)
        var dx = Tensor(zeros: computesInputGrad ? x.shape : [0])
        x.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        cols.withUnsafeMutableBufferPointer { cp in
        dcols.withUnsafeMutableBufferPointer { dcp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
            for o in 0..<outChannels { bias.grad[o] += sumRow(dyp.baseAddress! + o * b * p, b * p) }
            for b0 in Swift.stride(from: 0, to: b, by: step) {
                let nb = min(step, b - b0)
                im2col(xp.baseAddress!, cp.baseAddress!, images: b0..<b0 + nb, batch: b, h: h, w: w, oh: oh, ow: ow)
                gemm(false, true, m: outChannels, n: rows, k: nb * p, dyp.baseAddress! + b0 * p, cp.baseAddress!,
                     weight.grad.baseAddress!, beta: 1, lda: b * p)
                guard computesInputGrad else { continue }
                gemm(true, false, m: rows, n: nb * p, k: outChannels, weight.value.baseAddress!, dyp.baseAddress! + b0 * p,
                     dcp.baseAddress!, ldb: b * p)
                col2im(dcp.baseAddress!, dxp.baseAddress!, images: b0..<b0 + nb, batch: b, h: h, w: w, oh: oh, ow: ow)
            }
        }}}}}
        self.x = nil
        return dx
    }

    /// Row (c, ki, kj) of cols holds, for every output pixel (image, oy, ox) of the chunk,
    /// x[c, image, oy*stride - pad + ki, ox*stride - pad + kj] (0 outside).
    private func im2col(_ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, images: Range<Int>, batch: Int,
                        h: Int, w: Int, oh: Int, ow: Int) {
        forEachTap(cols, images: images, batch: batch, h: h, w: w, oh: oh, ow: ow) { dst, plane, iy, ox0, ox1, ix0 in
            guard let plane else { dst.update(repeating: 0, count: ow); return }
            let src = x + plane + iy * w + ix0
            for ox in 0..<ox0 { dst[ox] = 0 }
            if stride == 1 { copyRow(src, dst + ox0, ox1 - ox0) } else {
                for ox in ox0..<ox1 { dst[ox] = src[(ox - ox0) * stride] }
            }
            for ox in ox1..<ow { dst[ox] = 0 }
        }
    }

    /// The adjoint of im2col: every entry of dCols adds into the input pixel it was copied from.
    private func col2im(_ cols: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, images: Range<Int>, batch: Int,
                        h: Int, w: Int, oh: Int, ow: Int) {
        forEachTap(UnsafeMutablePointer(mutating: cols), images: images, batch: batch, h: h, w: w, oh: oh, ow: ow) { src, plane, iy, ox0, ox1, ix0 in
            guard let plane else { return }
            let dst = dx + plane + iy * w + ix0
            if stride == 1 { addRow(src + ox0, dst, ox1 - ox0) } else {
                for ox in ox0..<ox1 { dst[(ox - ox0) * stride] += src[ox] }
            }
        }
    }

    /// Walks the column buffer one output row (ow entries) at a time, in memory
    /// order: tap row, image, oy. `visit` gets that row, the offset of the input
    /// plane (nil when input row iy is padding), iy, the range [ox0, ox1) of
    /// output columns whose input pixel is inside the image, and the first one's ix.
    @inline(__always)
    private func forEachTap(_ cols: UnsafeMutablePointer<Float>, images: Range<Int>, batch: Int, h: Int, w: Int, oh: Int, ow: Int,
                            _ visit: (_ row: UnsafeMutablePointer<Float>, _ plane: Int?, _ iy: Int, _ ox0: Int, _ ox1: Int, _ ix0: Int) -> Void) {
        let taps = kernel * kernel
        var row = cols
        for tap in 0..<inChannels * taps {
            let c = tap / taps, ki = tap % taps / kernel, kj = tap % kernel
            // ox in range when 0 <= ox*stride - pad + kj < w
            let ox0 = min(ow, max(0, (padding - kj + stride - 1) / stride))
            let ox1 = max(ox0, min(ow, (w - 1 + padding - kj) / stride + 1))
            let ix0 = ox0 * stride - padding + kj
            for image in images {
                let plane = (c * batch + image) * h * w
                for oy in 0..<oh {
                    let iy = oy * stride - padding + ki
                    visit(row, iy < 0 || iy >= h ? nil : plane, iy, ox0, ox1, ix0)
                    row += ow
                }
            }
        }
    }
}
