import NeuralNet

public struct TensorKurtosis: Codable, Sendable, Equatable {
    public var name: String
    public var kurtosis: Double
    public init(name: String, kurtosis: Double) { self.name = name; self.kurtosis = kurtosis }
}

/// Everything the paper derives from a parent before pruning: the L1 cosine
/// curve, the optimal ratio (nearest the utopia), the per-tensor kurtoses,
/// K2, and the safe ratio. The optimal ratio always exists; K2 and the safe
/// ratio do not when a tensor is constant or K2 <= 1 (`problem` says why).
public struct RatioAnalysis: Codable, Sendable {
    public var curve: [CurvePoint]
    public var optimal: Double
    public var perTensorKurtosis: [TensorKurtosis]   // model order; empty when one is undefined
    public var k2: Double?
    public var safe: Double?
    public var safeLog: SafeLog?
    public var problem: String?

    public var kurtosisByName: [String: Double] {
        Dictionary(uniqueKeysWithValues: perTensorKurtosis.map { ($0.name, $0.kurtosis) })
    }

    /// Over the tensors of `scope` (every weight and bias: the paper's).
    public static func analyse(_ model: Model, scope: PruneScope = .all) -> RatioAnalysis {
        let curve = cosineCurve(model, scope: scope)
        var a = RatioAnalysis(curve: curve, optimal: optimalRatio(curve), perTensorKurtosis: [])
        do {
            a.perTensorKurtosis = try tensorKurtoses(model, scope: scope).map { TensorKurtosis(name: $0.name, kurtosis: $0.kurtosis) }
            let k2 = try kurtosisOfKurtoses(a.perTensorKurtosis.map(\.kurtosis))
            a.k2 = k2
            (a.safe, a.safeLog) = try safeRatio(optimal: a.optimal, k2: k2)
        } catch {
            a.problem = "\(error)"
        }
        return a
    }

    /// The fraction a ratio stands for on this parent.
    public func resolve(_ ratio: Ratio) throws -> Double { try ratio.resolve(optimal: optimal, safe: safe, problem: problem) }
}
