import NeuralNet

public struct Sparsity: Codable, Sendable {
    /// Fraction of all parameter entries that are exactly zero.
    public var global: Double
    /// The same per tensor, in model order.
    public var perTensor: [TensorSparsity]
    /// Tensors pruned to 100 %: the layer no longer passes anything through its weights.
    public var collapsed: [String] { perTensor.filter { $0.sparsity == 1 }.map(\.name) }
    public var byName: [String: Double] { Dictionary(uniqueKeysWithValues: perTensor.map { ($0.name, $0.sparsity) }) }
}

public struct TensorSparsity: Codable, Sendable, Equatable {
    public var name: String
    public var zeros: Int
    public var count: Int
    public var sparsity: Double { Double(zeros) / Double(count) }
    enum CodingKeys: String, CodingKey { case name, zeros, count, sparsity }
    public init(name: String, zeros: Int, count: Int) { self.name = name; self.zeros = zeros; self.count = count }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), zeros: try c.decode(Int.self, forKey: .zeros), count: try c.decode(Int.self, forKey: .count))
    }
    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(zeros, forKey: .zeros)
        try c.encode(count, forKey: .count); try c.encode(sparsity, forKey: .sparsity)
    }
}

public func sparsity(_ model: Model) -> Sparsity {
    let per = model.parameters.map { p in
        TensorSparsity(name: p.name, zeros: p.value.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }, count: p.count)
    }
    let zeros = per.reduce(0) { $0 + $1.zeros }
    return Sparsity(global: Double(zeros) / Double(max(1, model.store.count)), perTensor: per)
}

/// Names of the tensors whose every entry is zero.
public func collapsedTensors(_ model: Model) -> [String] { sparsity(model).collapsed }
