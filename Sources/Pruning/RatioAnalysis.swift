import NeuralNet

public struct TensorKurtosis: Codable, Sendable, Equatable {
    public var name: String
    public var kurtosis: Double
    public init(name: String, kurtosis: Double) { self.name = name; self.kurtosis = kurtosis }
}

/// Everything the paper derives from a parent before pruning: the L1 cosine
/// curve, the optimal ratio (nearest the utopia), the per-tensor kurtoses,
/// K2, and the safe ratio.
public struct RatioAnalysis: Codable, Sendable {
    public var curve: [CurvePoint]
    public var optimal: Double
    public var safe: Double
    public var safeLog: SafeLog
    public var k2: Double
    public var perTensorKurtosis: [TensorKurtosis]   // model order

    public var kurtosisByName: [String: Double] {
        Dictionary(uniqueKeysWithValues: perTensorKurtosis.map { ($0.name, $0.kurtosis) })
    }

    /// Throws a PruningError naming the problem when K2 is undefined or <= 1.
    public static func analyse(_ model: Model, scope: PruneScope = .all) throws -> RatioAnalysis {
        let curve = cosineCurve(model, scope: scope)
        let optimal = optimalRatio(curve)
        let kurtoses = try tensorKurtoses(model, scope: scope)
        let k2 = try kurtosisOfKurtoses(kurtoses.map(\.kurtosis))
        let (safe, base) = try safeRatio(optimal: optimal, k2: k2)
        return RatioAnalysis(curve: curve, optimal: optimal, safe: safe, safeLog: base, k2: k2,
                             perTensorKurtosis: kurtoses.map { TensorKurtosis(name: $0.name, kurtosis: $0.kurtosis) })
    }
}
