/// y = max(x, 0); dx = dy where y > 0.
public final class ReLU: Layer {
    private var y: Tensor?
    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = max(p[i], 0) }
        }
        if training { self.y = y }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { fatalError("ReLU.backward before a training forward") }
        let dx = Tensor(uninitialized: dy.shape) { d in
            dy.data.withUnsafeBufferPointer { g in
                y.data.withUnsafeBufferPointer { yp in
                    for i in 0..<g.count { d[i] = yp[i] > 0 ? g[i] : 0 }
                }
            }
        }
        self.y = nil
        return dx
    }
}
