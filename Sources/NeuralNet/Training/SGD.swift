/// SGD with PyTorch's update rule (dampening 0):
/// g = grad + wd * p;  v = momentum * v + g;  p -= lr * v,
/// or with Nesterov p -= lr * (g + momentum * v).
/// Masked entries get g = 0 and stay exactly zero.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private let velocity: UnsafeMutableBufferPointer<Float>

    public init(store: ParameterStore, learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        velocity = .allocate(capacity: store.count)
        velocity.initialize(repeating: 0)
    }

    deinit { velocity.deallocate() }

    /// One update of the whole flat store, 16 entries at a time (the same
    /// operations per entry as one at a time, so the same bits).
    public func step(_ store: ParameterStore) {
        for p in store.parameters { p.applyMask(to: p.grad) }
        let (n, w, g, v) = (store.count, store.values.baseAddress!, store.grads.baseAddress!, velocity.baseAddress!)
        let (lr, mu, wd) = (learningRate, momentum, weightDecay)
        let lookAhead: Float? = nesterov ? momentum : nil
        var i = 0
        while i + 16 <= n {
            let gi = load16(g + i) + wd * load16(w + i)
            let vi = mu * load16(v + i) + gi
            store16(vi, v + i)
            store16(load16(w + i) - lr * (lookAhead.map { gi + $0 * vi } ?? vi), w + i)
            i += 16
        }
        for j in i..<n {
            let gj = g[j] + wd * w[j]
            v[j] = mu * v[j] + gj
            w[j] -= lr * (lookAhead.map { gj + $0 * v[j] } ?? v[j])
        }
        for p in store.parameters { p.applyMask(to: p.value) }
    }
}

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func store16(_ x: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD16<Float>.self)
}
