import SeededRandom

/// One named tensor of a model (PyTorch's name and layout), viewing a slice of
/// the model's flat value and gradient buffers. An optional 0/1 mask keeps
/// pruned entries exactly zero through forward passes and updates.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public let fanIn: Int
    public let initializer: Initializer
    public internal(set) var value: UnsafeMutableBufferPointer<Float>
    public internal(set) var grad: UnsafeMutableBufferPointer<Float>
    public private(set) var mask: [Float]?

    /// How a fresh model draws the values.
    public enum Initializer: Sendable {
        /// PyTorch's default for Linear and Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        case uniform
        /// torchvision's ResNet/VGG convolutions: kaiming_normal_(mode="fan_out", nonlinearity="relu"), N(0, 2 / fanOut).
        case kaimingNormal(fanOut: Int)
        /// BatchNorm's weight (1) and bias (0).
        case constant(Float)
    }

    init(name: String, shape: [Int], fanIn: Int, initializer: Initializer = .uniform) {
        self.name = name; self.shape = shape; self.fanIn = fanIn; self.initializer = initializer
        value = .init(start: nil, count: 0); grad = .init(start: nil, count: 0)
    }

    public var count: Int { shape.reduce(1, *) }
    public var isBias: Bool { name.hasSuffix(".bias") }
    public var values: [Float] { Array(value) }

    /// Sets the mask and zeroes the masked entries; nil removes it.
    public func setMask(_ m: [Float]?) {
        if let m {
            precondition(m.count == count && m.allSatisfy { $0 == 0 || $0 == 1 }, "mask for \(name) must be 0/1 with \(count) entries")
        }
        mask = m
        applyMask(to: value)
    }

    func applyMask(to buf: UnsafeMutableBufferPointer<Float>) {
        guard let m = mask else { return }
        m.withUnsafeBufferPointer { mp in
            for i in 0..<buf.count { buf[i] *= mp[i] }
        }
    }

    public func copy(from source: [Float]) {
        precondition(source.count == count, "\(name): expected \(count) values, got \(source.count)")
        _ = value.update(fromContentsOf: source)
        applyMask(to: value)
    }
}

/// The parameters of a model in one contiguous buffer, in declaration order:
/// the "flattened parameter vector" of cosine similarity, and the one buffer
/// a data-parallel group allreduces per step.
public final class ParameterStore {
    public let parameters: [Parameter]
    public let values: UnsafeMutableBufferPointer<Float>
    public let grads: UnsafeMutableBufferPointer<Float>

    init(_ parameters: [Parameter]) {
        self.parameters = parameters
        let total = parameters.reduce(0) { $0 + $1.count }
        values = .allocate(capacity: total); values.initialize(repeating: 0)
        grads = .allocate(capacity: total); grads.initialize(repeating: 0)
        var offset = 0
        for p in parameters {
            p.value = UnsafeMutableBufferPointer(rebasing: values[offset..<offset + p.count])
            p.grad = UnsafeMutableBufferPointer(rebasing: grads[offset..<offset + p.count])
            offset += p.count
        }
    }

    deinit { values.deallocate(); grads.deallocate() }

    public var count: Int { values.count }
    public var flatValues: [Float] { Array(values) }

    public func zeroGrads() { grads.update(repeating: 0) }

    /// Each parameter from its initializer, drawn from ("init", seed, name).
    /// PyTorch's default, kaiming-uniform(a = sqrt 5) for weights, is
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases.
    public func initialize(seed: UInt64) {
        for p in parameters {
            var rng = RandomStream("init", seed, p.name)
            switch p.initializer {
            case .uniform:
                let bound = 1 / Float(p.fanIn).squareRoot()
                for i in 0..<p.count { p.value[i] = rng.uniform(-bound, bound) }
            case .kaimingNormal(let fanOut):
                let std = (2 / Float(fanOut)).squareRoot()
                for i in 0..<p.count { p.value[i] = std * rng.normal() }
            case .constant(let c): p.value.update(repeating: c)
            }
            p.applyMask(to: p.value)
        }
    }

    public subscript(name: String) -> Parameter? { parameters.first { $0.name == name } }
}
