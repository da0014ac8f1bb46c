/// Max over k x k windows with stride k (PyTorch's MaxPool2d(k)); x [C, B, H, W]
/// -> y [C, B, H/k, W/k]. The first maximum in scan order wins, as in PyTorch;
/// backward routes dy to that position.
public final class MaxPool2d: Layer {
    let size: Int
    private var argmax: [Int32] = []
    private var inShape: [Int] = []

    public init(_ size: Int) { self.size = size }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let oh = h / size, ow = w / size
        var y = Tensor(zeros: [x.shape[0], x.shape[1], oh, ow])
        var arg = [Int32](repeating: 0, count: y.count)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                arg.withUnsafeMutableBufferPointer { ap in
                    for p in 0..<planes {
                        let src = p * h * w
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let o = (p * oh + oy) * ow + ox
                                let corner = src + oy * size * w + ox * size
                                var best = corner
                                if size == 2 {
                                    // LeNet's case, unrolled: same scan order and ties as below
                                    if xp[corner + 1] > xp[best] { best = corner + 1 }
                                    if xp[corner + w] > xp[best] { best = corner + w }
                                    if xp[corner + w + 1] > xp[best] { best = corner + w + 1 }
                                } else {
                                    for dy in 0..<size {
                                        for dx in 0..<size where xp[corner + dy * w + dx] > xp[best] { best = corner + dy * w + dx }
                                    }
                                }
                                yp[o] = xp[best]; ap[o] = Int32(best)
                            }
                        }
                    }
                }
            }
        }
        if training { argmax = arg; inShape = x.shape }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var dx = Tensor(zeros: inShape)
        dx.data.withUnsafeMutableBufferPointer { dxp in
            dy.data.withUnsafeBufferPointer { dyp in
                argmax.withUnsafeBufferPointer { ap in
                    for o in 0..<dyp.count { dxp[Int(ap[o])] += dyp[o] }
                }
            }
        }
        argmax = []
        return dx
    }
}
