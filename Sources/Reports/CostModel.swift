import NeuralNet

/// The parameters and multiply-adds of an architecture, tensor by tensor, from
/// which a pruned net's compression ratio and theoretical speed-up follow.
/// Counted as ShrinkBench (Blalock et al. 2020) counts: the multiply-adds of
/// convolution and linear weights in one forward pass of one image (a conv
/// weight meets every output position, a linear weight once); biases, pooling
/// and ReLU are left out; a pruned weight costs nothing. The shapes are
/// rebuilt from the architecture for 28 x 28 single-channel images and 10
/// classes: the MNIST layout every dataset a sweep reads today has.
public struct CostModel: Sendable {
    public static let inputSide = 28, classes = 10

    public struct TensorCost: Sendable {
        public var name: String
        public var count: Int
        public var multiplyAddsPerEntry: Int
    }

    public let tensors: [TensorCost]
    public var parameters: Int { tensors.reduce(0) { $0 + $1.count } }
    public var denseMultiplyAdds: Int { tensors.reduce(0) { $0 + $1.count * $1.multiplyAddsPerEntry } }

    public init(_ architecture: Architecture) {
        let model = Model(architecture, inputSide: CostModel.inputSide, classes: CostModel.classes)
        tensors = zip(model.parameters, model.multiplyAddsPerEntry).map { TensorCost(name: $0.name, count: $0.count, multiplyAddsPerEntry: $1) }
    }

    /// Dense multiply-adds over those of the nonzero weights, from each tensor's
    /// fraction of zeros; nil when a weight tensor's sparsity is not recorded,
    /// infinite when every weight is pruned.
    public func speedUp(sparsityPerTensor: [String: Double]) -> Double? {
        var dense = 0.0, sparse = 0.0
        for t in tensors where t.multiplyAddsPerEntry > 0 {
            guard let s = sparsityPerTensor[t.name] else { return nil }
            let macs = Double(t.count * t.multiplyAddsPerEntry)
            dense += macs
            sparse += macs * (1 - s)
        }
        return dense / sparse
    }

    /// Parameters over nonzero parameters, from the fraction of all entries that are zero.
    public static func compression(sparsity: Double) -> Double { 1 / (1 - sparsity) }
}
