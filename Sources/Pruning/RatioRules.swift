import Foundation

/// The curve point nearest (Euclidean, in the (cosine, ratio) plane) to the
/// utopia (cosine 1, ratio 1): as much pruned as possible for as much similarity.
/// Ties go to the smaller ratio.
public func optimalRatio(_ curve: [CurvePoint]) -> Double {
    precondition(!curve.isEmpty, "empty curve")
    func distance(_ p: CurvePoint) -> Double { ((1 - p.cosine) * (1 - p.cosine) + (1 - p.ratio) * (1 - p.ratio)).squareRoot() }
    var best = curve[0]
    for p in curve.dropFirst() where distance(p) < distance(best) || (distance(p) == distance(best) && p.ratio < best.ratio) { best = p }
    return best.ratio
}

public enum SafeLog: String, Codable, Sendable { case ln, log2 }

/// The paper's safe ratio: optimal / ln(K2), or optimal / log2(K2) when K2 < e,
/// clamped to [0, optimal]. K2 <= 1 would divide by zero or a negative: an error.
public func safeRatio(optimal: Double, k2: Double) throws -> (ratio: Double, log: SafeLog) {
    guard k2.isFinite, k2 > 1 else {
        throw PruningError(String(format: "K2 = %.6g is not above 1: 1/log(K2) is undefined or negative, so there is no safe ratio", k2))
    }
    let (divisor, base): (Double, SafeLog) = k2 < M_E ? (log2(k2), .log2) : (log(k2), .ln)
    return (min(optimal, max(0, optimal / divisor)), base)
}
