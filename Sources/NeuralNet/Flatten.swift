/// [C, B, H, W] -> [B, C*H*W] in PyTorch's (c, h, w) order, so fc weights keep
/// PyTorch's layout; backward is the inverse permutation.
public final class Flatten: Layer {
    private var inShape: [Int] = []
    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { inShape = x.shape }   // inference keeps no state: threads may share a model
        let (c, b, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var y = Tensor(zeros: [b, c * hw])
        permute(x.data, into: &y.data, c: c, b: b, hw: hw, forward: true)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let (c, b, hw) = (inShape[0], inShape[1], inShape[2] * inShape[3])
        var dx = Tensor(zeros: inShape)
        permute(dy.data, into: &dx.data, c: c, b: b, hw: hw, forward: false)
        return dx
    }

    private func permute(_ src: [Float], into dst: inout [Float], c: Int, b: Int, hw: Int, forward: Bool) {
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                for ci in 0..<c {
                    for bi in 0..<b {
                        let cnhw = (ci * b + bi) * hw, bchw = (bi * c + ci) * hw
                        for i in 0..<hw {
                            if forward { d[bchw + i] = s[cnhw + i] } else { d[cnhw + i] = s[bchw + i] }
                        }
                    }
                }
            }
        }
    }
}
