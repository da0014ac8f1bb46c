import CKernels

/// 2-D convolution (cross-correlation, as PyTorch), computed directly on the
/// batch-innermost layout, 16 images per vector step (CKernels).
/// x [C, H, W, B] -> y [O, OH, OW, B]; W [O, C, k, k] (PyTorch layout), b [O]
/// (none when a BatchNorm follows, as in torchvision's ResNets);
/// OH = (H + 2 pad - k) / stride + 1.
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    /// False for the first layer: nobody needs dLoss/dImage.
    public var computesInputGrad = true
    private var x: Tensor?
    /// Stand-ins for a missing bias: zeros in, a gradient nobody reads out.
    private lazy var noBias = [Float](repeating: 0, count: outChannels)
    private lazy var noBiasGrad = [Float](repeating: 0, count: outChannels)

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, initializer: Parameter.Initializer = .uniform) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
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

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var s = shape(of: x)
        let y = Tensor(uninitialized: [outChannels, Int(s.outHeight), Int(s.outWidth), Int(s.batch)]) { y in
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
        if let bias { ps_conv_backward_weight(&s, x.data, dy.data, weight.grad.baseAddress!, bias.grad.baseAddress!) }
        else { ps_conv_backward_weight(&s, x.data, dy.data, weight.grad.baseAddress!, &noBiasGrad) }
        self.x = nil
        guard computesInputGrad else { return Tensor(zeros: [0]) }
        return Tensor(uninitialized: x.shape) { dx in ps_conv_backward_input(&s, dy.data, weight.value.baseAddress!, dx) }
    }
}
