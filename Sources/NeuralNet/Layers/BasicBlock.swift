/// torchvision's BasicBlock: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
/// 3x3 convolutions without bias (conv1 carries the stride); the shortcut is x
/// itself, or a projection (downsample.0: 1x1 convolution with the stride,
/// downsample.1: BatchNorm) when the stride or the width changes.
/// x [C, H, W, B] -> y [O, H / stride, W / stride, B].
public final class BasicBlock: Layer {
    let conv1: Conv2d, bn1: BatchNorm2d, relu1 = ReLU()
    let conv2: Conv2d, bn2: BatchNorm2d, relu2 = ReLU()
    let downsample: (conv: Conv2d, bn: BatchNorm2d)?

    public init(_ name: String, _ inChannels: Int, _ outChannels: Int, stride: Int) {
        let he = { (k: Int) in Parameter.Initializer.kaimingNormal(fanOut: outChannels * k * k) }
        conv1 = Conv2d("\(name).conv1", inChannels, outChannels, kernel: 3, stride: stride, padding: 1, bias: false, initializer: he(3))
        bn1 = BatchNorm2d("\(name).bn1", outChannels)
        conv2 = Conv2d("\(name).conv2", outChannels, outChannels, kernel: 3, padding: 1, bias: false, initializer: he(3))
        bn2 = BatchNorm2d("\(name).bn2", outChannels)
        downsample = stride == 1 && inChannels == outChannels ? nil
            : (Conv2d("\(name).downsample.0", inChannels, outChannels, kernel: 1, stride: stride, bias: false, initializer: he(1)),
               BatchNorm2d("\(name).downsample.1", outChannels))
    }

    /// In PyTorch's state_dict order.
    public var children: [Layer] { [conv1, bn1, conv2, bn2] + (downsample.map { [$0.conv, $0.bn] } ?? []) }
    public var parameters: [Parameter] { children.flatMap(\.parameters) }
    public func outputSide(_ side: Int) -> Int { conv1.outputSide(side) }
    public func multiplyAddsPerEntry(inputSide: Int) -> [Int] {
        let mid = conv1.outputSide(inputSide)
        return conv1.multiplyAddsPerEntry(inputSide: inputSide) + bn1.multiplyAddsPerEntry(inputSide: mid)
            + conv2.multiplyAddsPerEntry(inputSide: mid) + bn2.multiplyAddsPerEntry(inputSide: mid)
            + (downsample.map { $0.conv.multiplyAddsPerEntry(inputSide: inputSide) + $0.bn.multiplyAddsPerEntry(inputSide: mid) } ?? [])
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var main = x
        for l in [conv1, bn1, relu1, conv2, bn2] as [Layer] { main = l.forward(main, training: training) }
        let shortcut = downsample.map { $0.bn.forward($0.conv.forward(x, training: training), training: training) } ?? x
        return relu2.forward(sum(main, shortcut), training: training)
    }

    /// The sum's gradient goes to both branches; their input gradients add.
    public func backward(_ dy: Tensor) -> Tensor {
        let d = relu2.backward(dy)
        var main = d
        for l in [bn2, conv2, relu1, bn1, conv1] as [Layer] { main = l.backward(main) }
        let shortcut = downsample.map { $0.conv.backward($0.bn.backward(d)) } ?? d
        return sum(main, shortcut)
    }
}

/// a + b, elementwise (same shapes).
func sum(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "cannot add \(a.shape) and \(b.shape)")
    var out = a
    out.data.withUnsafeMutableBufferPointer { o in b.data.withUnsafeBufferPointer { bp in for i in 0..<o.count { o[i] += bp[i] } } }
    return out
}
