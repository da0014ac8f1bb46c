import CKernels

/// Max over k x k windows with stride k (PyTorch's MaxPool2d(k)); x [C, H, W, B]
/// -> y [C, H/k, W/k, B]. The first maximum in scan order wins, as in PyTorch;
/// backward routes dy to that position.
public final class MaxPool2d: Layer {
    let size: Int
    private var which: [UInt8] = []   // window position of each output's maximum
    private var inShape: [Int] = []

    public init(_ size: Int) {
        precondition(size >= 1 && size * size <= 256, "MaxPool2d window must have at most 256 positions")
        self.size = size
    }

    public func outputSide(_ side: Int) -> Int { side / size }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (c, h, w, b) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var arg = [UInt8](repeating: 0, count: c * (h / size) * (w / size) * b)
        let y = Tensor(uninitialized: [c, h / size, w / size, b]) { y in
            ps_maxpool_forward(x.data, Int64(c), Int64(h), Int64(w), Int64(b), Int64(size), y, &arg)
        }
        if training { which = arg; inShape = x.shape }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let (c, h, w, b) = (inShape[0], inShape[1], inShape[2], inShape[3])
        let dx = Tensor(uninitialized: inShape) { dx in
            ps_maxpool_backward(dy.data, which, Int64(c), Int64(h), Int64(w), Int64(b), Int64(size), dx)
        }
        which = []
        return dx
    }
}
