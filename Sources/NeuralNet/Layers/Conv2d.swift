import CKernels

/// 2-D convolution (cross-correlation, as PyTorch) on the batch-innermost
/// layout, by one of three kernels chosen by measurement (bench/train-throughput):
/// up to 64 x 64 channels (LeNet5, resnet20, every first layer) directly, 16
/// images per vector step (CKernels); wider 3x3 ones with stride 1 and padding 1
/// on even planes by Winograd's F(2x2, 3x3), 16 matrix products with 2.25x fewer
/// multiplies (winograd.c); other wide ones as a matrix product with sgemm over
/// a band of output rows copied tap by tap (im2col), where BLAS runs near its peak.
/// x [C, H, W, B] -> y [O, OH, OW, B]; W [O, C, k, k] (PyTorch layout), b [O]
/// (none when a BatchNorm follows, as in torchvision's ResNets);
/// OH = (H + 2 pad - k) / stride + 1.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// False for the first layer: nobody needs dLoss/dImage.
    public var computesInputGrad = true
    enum Method { case direct, im2col, winograd }
    /// The kernel (see above); tests set it to compare kernels on one layer.
    var method: Method
    private var x: Tensor?
    /// Stand-ins for a missing bias: zeros in, a gradient nobody reads out.
    private lazy var noBias = [Float](repeating: 0, count: outChannels)
    private lazy var noBiasGrad = [Float](repeating: 0, count: outChannels)

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, initializer: Parameter.Initializer = .uniform) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        method = inChannels * outChannels < Conv2d.gemmChannelProduct ? .direct
            : kernel == 3 && stride == 1 && padding == 1 ? .winograd : .im2col
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: "\(name).weight", shape: [outChannels, inChannels, kernel, kernel], fanIn: fanIn, initializer: initializer)
        let biasInit: Parameter.Initializer = if case .kaimingNormal = initializer { .constant(0) } else { .uniform }
        self.bias = bias ? Parameter(name: "\(name).bias", shape: [outChannels], fanIn: fanIn, initializer: biasInit) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    func outputSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }
    public func outputSide(_ side: Int) -> Int { outputSize(side) }
    /// A weight meets every output position once; a bias is an add, not a multiply-add.
    public func multiplyAddsPerEntry(inputSide: Int) -> [Int] {
        let side = outputSize(inputSide)
        return [side * side] + (bias == nil ? [] : [0])
    }

    private func shape(of x: Tensor) -> ps_conv_shape {
        precondition(x.shape.count == 4 && x.shape[0] == inChannels, "Conv2d expects [\(inChannels), H, W, B], got \(x.shape)")
        let (h, w) = (x.shape[1], x.shape[2])
        return ps_conv_shape(batch: Int64(x.shape[3]), inChannels: Int64(inChannels), height: Int64(h), width: Int64(w),
                             outChannels: Int64(outChannels), outHeight: Int64(outputSize(h)), outWidth: Int64(outputSize(w)),
                             kernel: Int64(kernel), stride: Int64(stride), padding: Int64(padding))
    }

    /// Input x output channels from which the matrix-product kernel is faster: measured with
    /// `prunesweep bench train --threads 1 --batch 128`, resnet20 (at most 64 x 64) runs 7 %
    /// faster all direct, vgg11_bn (64 x 128 and up) 1.9x faster with sgemm from 64 x 128 on.
    static let gemmChannelProduct = 64 * 128

    /// The kernel for input x: Winograd's tiles need even planes.
    private func method(for s: ps_conv_shape) -> Method {
        method == .winograd && (s.height % 2 != 0 || s.width % 2 != 0) ? .im2col : method
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var s = shape(of: x)
        let y = Tensor(uninitialized: [outChannels, Int(s.outHeight), Int(s.outWidth), Int(s.batch)]) { y in
            switch method(for: s) {
            case .winograd: winogradForward(s, x, y); return
            case .im2col: gemmForward(&s, x, y); return
            case .direct: break
            }
            if let bias { ps_conv_forward(&s, x.data, weight.value.baseAddress!, bias.value.baseAddress!, y) }
            else { ps_conv_forward(&s, x.data, weight.value.baseAddress!, noBias, y) }
        }
        if training { self.x = x }
        return y
    }

    /// dW += sum over pixels and images of dY x (per tap), db += sum of dY; dx gathered per input pixel.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x else { fatalError("Conv2d.backward before a training forward") }
        var s = shape(of: x)
        if s.batch == 0 { self.x = nil; return x }   // an empty shard of a batch
        switch method(for: s) {
        case .winograd: return winogradBackward(s, x, dy)
        case .im2col: return gemmBackward(&s, x, dy)
        case .direct: break
        }
        if let bias { ps_conv_backward_weight(&s, x.data, dy.data, weight.grad.baseAddress!, bias.grad.baseAddress!) }
        else { ps_conv_backward_weight(&s, x.data, dy.data, weight.grad.baseAddress!, &noBiasGrad) }
        self.x = nil
        guard computesInputGrad else { return Tensor(zeros: [0]) }
        return Tensor(uninitialized: x.shape) { dx in ps_conv_backward_input(&s, dy.data, weight.value.baseAddress!, dx) }
    }

    // MARK: the matrix-product kernel
    // For the band of output rows [oh0, oh0 + rows), n = rows*OW*B columns, taps = C*k*k:
    // col [taps, n] (ps_im2col_rows); y[:, band] [O, n] = W [O, taps] col, rows of y OH*OW*B apart;
    // dW [O, taps] += dy[:, band] col^T; dcol [taps, n] = W^T dy[:, band], added back into dx (ps_col2im_rows).

    /// Output rows per band: col stays within 8 MiB (cache-friendly, and small beside activations).
    private func bandRows(_ s: ps_conv_shape) -> Int {
        max(1, min(Int(s.outHeight), (1 << 21) / max(1, inChannels * kernel * kernel * Int(s.outWidth * s.batch))))
    }

    private func gemmForward(_ s: inout ps_conv_shape, _ x: Tensor, _ y: UnsafeMutablePointer<Float>) {
        let (taps, plane, rowLength) = (inChannels * kernel * kernel, Int(s.outHeight * s.outWidth * s.batch), Int(s.outWidth * s.batch))
        let band = bandRows(s)
        var col = [Float](repeating: 0, count: taps * band * rowLength)
        for oh0 in Swift.stride(from: 0, to: Int(s.outHeight), by: band) {
            let rows = min(band, Int(s.outHeight) - oh0), n = rows * rowLength, out = y + oh0 * rowLength
            col.withUnsafeMutableBufferPointer { c in
                ps_im2col_rows(&s, x.data, Int64(oh0), Int64(rows), c.baseAddress!)
                gemm(false, false, m: outChannels, n: n, k: taps, weight.value.baseAddress!, c.baseAddress!, out, ldb: n, ldc: plane)
            }
            if let bias { for o in 0..<outChannels { let row = out + o * plane, b = bias.value[o]; for i in 0..<n { row[i] += b } } }
        }
    }

    private func gemmBackward(_ s: inout ps_conv_shape, _ x: Tensor, _ dy: Tensor) -> Tensor {
        let (taps, plane, rowLength) = (inChannels * kernel * kernel, Int(s.outHeight * s.outWidth * s.batch), Int(s.outWidth * s.batch))
        let band = bandRows(s)
        var col = [Float](repeating: 0, count: taps * band * rowLength)
        var dx = computesInputGrad ? Tensor(zeros: x.shape) : Tensor(zeros: [0])
        dy.data.withUnsafeBufferPointer { g in
            addBiasGradient(g, plane: plane)
            for oh0 in Swift.stride(from: 0, to: Int(s.outHeight), by: band) {
                let rows = min(band, Int(s.outHeight) - oh0), n = rows * rowLength, d = g.baseAddress! + oh0 * rowLength
                col.withUnsafeMutableBufferPointer { c in
                    ps_im2col_rows(&s, x.data, Int64(oh0), Int64(rows), c.baseAddress!)
                    gemm(false, true, m: outChannels, n: taps, k: n, d, c.baseAddress!, weight.grad.baseAddress!, beta: 1, lda: plane, ldb: n)
                    guard computesInputGrad else { return }
                    gemm(true, false, m: taps, n: n, k: outChannels, weight.value.baseAddress!, d, c.baseAddress!, ldb: plane, ldc: n)
                    dx.data.withUnsafeMutableBufferPointer { ps_col2im_rows(&s, c.baseAddress!, Int64(oh0), Int64(rows), $0.baseAddress!) }
                }
            }
        }
        self.x = nil
        return dx
    }

    /// db += the sum of dy over pixels and images, per output channel (dy [O, plane]).
    private func addBiasGradient(_ dy: UnsafeBufferPointer<Float>, plane: Int) {
        guard let bias else { return }
        for o in 0..<outChannels { bias.grad[o] += Float(channelSum(dy.baseAddress! + o * plane, plane) { $0 }) }
    }

    // MARK: the Winograd kernel
    // Per band of tile rows (n = rows * W/2 * B columns) and point xi of the 4x4 domain:
    // forward M[xi] [O, n] = U[xi] [O, C] V[xi] [C, n]; weight gradient P[xi] [O, C] += D[xi] [O, n] V[xi]^T;
    // input gradient M'[xi] [C, n] = U'[xi] [C, O] V'[xi] [O, n], V' from dy. Shapes in winograd.c.

    /// Floats in the larger transformed band (16 MiB); tests lower it to take several bands.
    var winogradBandFloats = 1 << 22

    /// Tile rows per band: the larger transformed band stays within winogradBandFloats.
    private func tileRows(_ s: ps_conv_shape) -> Int {
        let perRow = 16 * max(inChannels, outChannels) * Int(s.width / 2 * s.batch)
        return max(1, min(Int(s.height / 2), winogradBandFloats / max(1, perRow)))
    }

    /// body(first tile row, tile rows, columns n) for each band of tile rows, in order.
    private func forEachTileBand(_ s: ps_conv_shape, _ body: (_ ty0: Int, _ rows: Int, _ n: Int) -> Void) {
        let band = tileRows(s), tileRowCount = Int(s.height / 2)
        for ty0 in Swift.stride(from: 0, to: tileRowCount, by: band) {
            let rows = min(band, tileRowCount - ty0)
            body(ty0, rows, rows * Int(s.width / 2 * s.batch))
        }
    }

    /// U [16, O, C], or with flip U' [16, C, O]; the caller deallocates.
    private func winogradWeights(flip: Bool) -> UnsafeMutablePointer<Float> {
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * inChannels)
        ps_wino_weights(weight.value.baseAddress!, Int64(outChannels), Int64(inChannels), flip ? 1 : 0, u)
        return u
    }

    /// y [O, H, W, B] = conv(x) + bias: per band, V from x, the 16 products, y from M.
    private func winogradForward(_ s: ps_conv_shape, _ x: Tensor, _ y: UnsafeMutablePointer<Float>) {
        let (c, o) = (inChannels, outChannels)
        let u = winogradWeights(flip: false)
        let columns = tileRows(s) * Int(s.width / 2 * s.batch)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * columns), m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * columns)
        defer { u.deallocate(); v.deallocate(); m.deallocate() }
        forEachTileBand(s) { ty0, rows, n in
            ps_wino_input(x.data, s.inChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), v)
            for xi in 0..<16 { gemm(false, false, m: o, n: n, k: c, u + xi * o * c, v + xi * c * n, m + xi * o * n) }
            ps_wino_output(m, s.outChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), bias?.value.baseAddress, y)
        }
    }

    /// dW += G^T (sum over tiles of D . V) G per channel pair, db += sum of dy; dx by the forward
    /// kernel on dy with U' (the flipped, transposed weights).
    private func winogradBackward(_ s: ps_conv_shape, _ x: Tensor, _ dy: Tensor) -> Tensor {
        let (c, o) = (inChannels, outChannels)
        let columns = tileRows(s) * Int(s.width / 2 * s.batch)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * max(c, o) * columns)
        let d = UnsafeMutablePointer<Float>.allocate(capacity: 16 * max(c, o) * columns)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * c)
        defer { v.deallocate(); d.deallocate(); p.deallocate() }
        dy.data.withUnsafeBufferPointer { g in
            addBiasGradient(g, plane: Int(s.height * s.width * s.batch))
            forEachTileBand(s) { ty0, rows, n in
                ps_wino_input(x.data, s.inChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), v)
                ps_wino_grad_output(g.baseAddress!, s.outChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), d)
                for xi in 0..<16 {
                    gemm(false, true, m: o, n: c, k: n, d + xi * o * n, v + xi * c * n, p + xi * o * c, beta: ty0 == 0 ? 0 : 1)
                }
            }
        }
        ps_wino_weight_grad(p, Int64(o), Int64(c), weight.grad.baseAddress!)
        self.x = nil
        guard computesInputGrad else { return Tensor(zeros: [0]) }
        let u = winogradWeights(flip: true)
        defer { u.deallocate() }
        return Tensor(uninitialized: x.shape) { dx in
            forEachTileBand(s) { ty0, rows, n in
                ps_wino_input(dy.data, s.outChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), v)
                for xi in 0..<16 { gemm(false, false, m: c, n: n, k: o, u + xi * c * o, v + xi * o * n, d + xi * c * n) }
                ps_wino_output(d, s.inChannels, s.height, s.width, s.batch, Int64(ty0), Int64(rows), nil, dx)
            }
        }
    }
}
