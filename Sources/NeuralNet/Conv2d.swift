/// 2-D convolution (cross-correlation, as PyTorch) by im2col and one GEMM per batch.
/// x [C, B, H, W] -> y [O, B, OH, OW]; W [O, C, k, k] (PyTorch layout), b [O];
/// cols [C*k*k, B*OH*OW], OH = (H + 2 pad - k) / stride + 1.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// False for the first layer: nobody needs dLoss/dImage.
    public var computesInputGrad = true
    private var cols: [Float] = []
    private var inShape: [Int] = []

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: "\(name).weight", shape: [outChannels, inChannels, kernel, kernel], fanIn: fanIn)
        bias = Parameter(name: "\(name).bias", shape: [outChannels], fanIn: fanIn)
    }

    public var parameters: [Parameter] { [weight, bias] }

    func outputSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (c, b, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(c == inChannels, "Conv2d expects \(inChannels) channels, got \(c)")
        let oh = outputSize(h), ow = outputSize(w), n = b * oh * ow, rows = c * kernel * kernel
        var cols = [Float](repeating: 0, count: rows * n)
        x.data.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                im2col(xp.baseAddress!, cp.baseAddress!, b: b, h: h, w: w, oh: oh, ow: ow)
            }
        }
        var y = Tensor(zeros: [outChannels, b, oh, ow])
        y.data.withUnsafeMutableBufferPointer { yp in
            for o in 0..<outChannels { (yp.baseAddress! + o * n).initialize(repeating: bias.value[o], count: n) }
            cols.withUnsafeBufferPointer { cp in
                gemm(false, false, m: outChannels, n: n, k: rows, weight.value.baseAddress!, cp.baseAddress!, yp.baseAddress!, beta: 1)
            }
        }
        if training { self.cols = cols; inShape = x.shape }
        return y
    }

    /// dW = dY cols^T, db = row sums of dY, dCols = W^T dY scattered back by col2im.
    public func backward(_ dy: Tensor) -> Tensor {
        let (b, h, w) = (inShape[1], inShape[2], inShape[3])
        let oh = outputSize(h), ow = outputSize(w), n = b * oh * ow, rows = inChannels * kernel * kernel
        var dx = Tensor(zeros: computesInputGrad ? inShape : [0])
        dy.data.withUnsafeBufferPointer { dyp in
            cols.withUnsafeBufferPointer { cp in
                gemm(false, true, m: outChannels, n: rows, k: n, dyp.baseAddress!, cp.baseAddress!, weight.grad.baseAddress!, beta: 1)
            }
            for o in 0..<outChannels {
                var s: Float = 0
                let row = dyp.baseAddress! + o * n
                for i in 0..<n { s += row[i] }
                bias.grad[o] += s
            }
            guard computesInputGrad else { return }
            var dcols = [Float](repeating: 0, count: rows * n)
            dcols.withUnsafeMutableBufferPointer { dcp in
                gemm(true, false, m: rows, n: n, k: outChannels, weight.value.baseAddress!, dyp.baseAddress!, dcp.baseAddress!)
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    col2im(dcp.baseAddress!, dxp.baseAddress!, b: b, h: h, w: w, oh: oh, ow: ow)
                }
            }
        }
        cols = []
        return dx
    }

    /// Row (c, ki, kj) of cols holds, for every output pixel (b, oy, ox),
    /// x[c, b, oy*stride - pad + ki, ox*stride - pad + kj] (0 outside).
    private func im2col(_ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, b: Int, h: Int, w: Int, oh: Int, ow: Int) {
        let n = b * oh * ow
        forEachTap(h: h, w: w, oh: oh, ow: ow) { row, c, ki, kj, oy, ox0, ox1 in
            let iy = oy * stride - padding + ki
            for bi in 0..<b {
                let src = x + ((c * b + bi) * h + iy) * w
                let dst = cols + row * n + (bi * oh + oy) * ow
                var ix = ox0 * stride - padding + kj
                for ox in ox0..<ox1 { dst[ox] = src[ix]; ix += stride }
            }
        }
    }

    /// The adjoint of im2col: every entry of dCols adds into the input pixel it was copied from.
    private func col2im(_ cols: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, b: Int, h: Int, w: Int, oh: Int, ow: Int) {
        let n = b * oh * ow
        forEachTap(h: h, w: w, oh: oh, ow: ow) { row, c, ki, kj, oy, ox0, ox1 in
            let iy = oy * stride - padding + ki
            for bi in 0..<b {
                let dst = dx + ((c * b + bi) * h + iy) * w
                let src = cols + row * n + (bi * oh + oy) * ow
                var ix = ox0 * stride - padding + kj
                for ox in ox0..<ox1 { dst[ix] += src[ox]; ix += stride }
            }
        }
    }

    /// Visits each (tap, output row) whose input row is inside the image, with
    /// the range [ox0, ox1) of output columns whose input column is inside too.
    @inline(__always)
    private func forEachTap(h: Int, w: Int, oh: Int, ow: Int,
                            _ body: (_ row: Int, _ c: Int, _ ki: Int, _ kj: Int, _ oy: Int, _ ox0: Int, _ ox1: Int) -> Void) {
        for c in 0..<inChannels {
            for ki in 0..<kernel {
                for kj in 0..<kernel {
                    let row = (c * kernel + ki) * kernel + kj
                    // ox in range when 0 <= ox*stride - pad + kj < w
                    let ox0 = max(0, (padding - kj + stride - 1) / stride)
                    let ox1 = min(ow, (w - 1 + padding - kj) / stride + 1)
                    for oy in 0..<oh {
                        let iy = oy * stride - padding + ki
                        if iy < 0 || iy >= h || ox0 >= ox1 { continue }
                        body(row, c, ki, kj, oy, ox0, ox1)
                    }
                }
            }
        }
    }
}
