/// SGD with PyTorch's update rule (dampening 0):
/// g = grad + wd * p;  v = momentum * v + g;  p -= lr * v,
/// or with Nesterov p -= lr * (g + momentum * v).
/// Masked entries get g = 0 and stay exactly zero.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private var velocity: [Float]

    public init(store: ParameterStore, learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        velocity = [Float](repeating: 0, count: store.count)
    }

    public func step(_ store: ParameterStore) {
        let (lr, mu, wd, lookAhead) = (learningRate, momentum, weightDecay, nesterov ? momentum : 0)
        velocity.withUnsafeMutableBufferPointer { v in
            for p in store.parameters {
                p.applyMask(to: p.grad)
                let base = p.value.baseAddress! - store.values.baseAddress!
                for i in 0..<p.count {
                    let g = p.grad[i] + wd * p.value[i]
                    v[base + i] = mu * v[base + i] + g
                    p.value[i] -= lr * (lookAhead == 0 ? v[base + i] : g + lookAhead * v[base + i])
                }
                p.applyMask(to: p.value)
            }
        }
    }
}
