/// y = max(x, 0); dx = dy where y > 0.
public final class ReLU: Layer {
    private var y: Tensor?
    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = Tensor(uninitialized: x.shape) { out in   // one pass; `var y = x` copied x first
            x.data.withUnsafeBufferPointer { p in
                for i in 0..<p.count { out[i] = max(p[i], 0) }
            }
        }
        if training { self.y = y }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y else { fatalError("ReLU.backward before a training forward") }
        let dx = Tensor(uninitialized: dy.shape) { d in
            dy.data.withUnsafeBufferPointer { g in
                y.data.withUnsafeBufferPointer { yp in
                    // 8 at a time as a masked select: the scalar ternary did not vectorise
                    let (gr, yr, dr) = (UnsafeRawPointer(g.baseAddress!), UnsafeRawPointer(yp.baseAddress!), UnsafeMutableRawPointer(d))
                    var i = 0
                    while i + 8 <= g.count {
                        let offset = i * MemoryLayout<Float>.stride
                        let v = gr.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                        let keep = yr.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) .> 0
                        dr.storeBytes(of: SIMD8<Float>(repeating: 0).replacing(with: v, where: keep), toByteOffset: offset, as: SIMD8<Float>.self)
                        i += 8
                    }
                    for j in i..<g.count { d[j] = yp[j] > 0 ? g[j] : 0 }
                }
            }
        }
        self.y = nil
        return dx
    }
}
