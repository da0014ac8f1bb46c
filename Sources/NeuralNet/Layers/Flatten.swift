import CKernels

/// [C, H, W, B] -> [B, C*H*W] in PyTorch's (c, h, w) order, so fc weights keep
/// PyTorch's layout: a transpose of the [C*H*W, B] matrix; backward transposes back.
public final class Flatten: Layer {
    private var inShape: [Int] = []
    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { inShape = x.shape }   // inference keeps no state: threads may share a model
        let b = x.shape[3]
        return transposed(x, into: [b, x.count / b])
    }

    public func backward(_ dy: Tensor) -> Tensor { transposed(dy, into: inShape) }
}

/// x viewed as a matrix with shape.last rows, transposed, and given `shape`.
func transposed(_ x: Tensor, into shape: [Int]) -> Tensor {
    let rows = shape.last!
    if x.count == 0 { return Tensor(zeros: shape) }   // an empty shard of a batch
    return Tensor(uninitialized: shape) { y in ps_transpose(x.data, Int64(rows), Int64(x.count / rows), y) }
}
