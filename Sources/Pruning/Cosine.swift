import NeuralNet

/// Cosine similarity of the flattened parameter vectors of two models with the
/// same architecture, accumulated in Double. 0 when either vector is all zeros
/// (the fully pruned net), where the ratio is otherwise 0/0.
public func cosineSimilarity(_ a: Model, _ b: Model) -> Double {
    precondition(a.store.count == b.store.count, "models have \(a.store.count) and \(b.store.count) parameters")
    var dot = 0.0, aa = 0.0, bb = 0.0
    let x = a.store.values, y = b.store.values
    for i in 0..<x.count {
        let (u, v) = (Double(x[i]), Double(y[i]))
        dot += u * v; aa += u * u; bb += v * v
    }
    guard aa > 0, bb > 0 else { return 0 }
    return dot / (aa.squareRoot() * bb.squareRoot())
}

public struct CurvePoint: Codable, Sendable, Equatable {
    public var ratio: Double
    public var cosine: Double
    public init(ratio: Double, cosine: Double) { self.ratio = ratio; self.cosine = cosine }
}

/// The ratios of the paper's curve: 0, 0.01, ..., 1.00.
public let curveRatios: [Double] = (0...100).map { Double($0) / 100 }

/// Cosine between `model` and its global-L1 prune at each ratio, without pruning:
/// pruning keeps w on the survivors and zeroes the rest, so <w, w*m> = |w*m|^2 and
/// cos = sqrt(1 - S_pruned / S_all), with S_pruned a prefix sum of the squares
/// in the order global L1 prunes them. One sort, one pass.
public func cosineCurve(_ model: Model, scope: PruneScope = .all, ratios: [Double] = curveRatios) -> [CurvePoint] {
    let keys = sortedMagnitudeKeys(model, scope: scope)
    let w = model.store.values
    var total = 0.0
    for i in 0..<w.count { total += Double(w[i]) * Double(w[i]) }
    var prefix = [Double](repeating: 0, count: keys.count + 1)   // [prunable + 1]: prefix[k] = sum of the k smallest squares
    for (j, key) in keys.enumerated() {
        let v = Double(w[Int(key & 0xFFFF_FFFF)])
        prefix[j + 1] = prefix[j] + v * v
    }
    return ratios.map { r in
        let kept = total - prefix[pruneCount(r, of: keys.count)]
        // Rounding can leave a tiny negative remainder when everything is pruned.
        return CurvePoint(ratio: r, cosine: total > 0 && kept > 0 ? (kept / total).squareRoot() : 0)
    }
}

/// The same curve for any method, by the same identity: each tensor's sorted
/// prefix sums for layerwise, the first round(r n) entries of the ratio's seeded
/// permutation for random (the entries `pruneMasks` would prune).
public func cosineCurve(_ model: Model, method: PruneMethod, seed: UInt64 = 0, scope: PruneScope = .all,
                        ratios: [Double] = curveRatios) -> [CurvePoint] {
    let w = model.store.values
    var total = 0.0
    for i in 0..<w.count { total += Double(w[i]) * Double(w[i]) }
    func square(_ i: Int) -> Double { Double(w[i]) * Double(w[i]) }
    let prunedSquares: (Double) -> Double
    switch method {
    case .l1: return cosineCurve(model, scope: scope, ratios: ratios)
    case .layerwise:
        let layout = MaskLayout(model, scope: scope)
        let prefixes = layout.inScope.map { t in   // per tensor [count + 1]: sums of its k smallest squares
            var keys: [UInt64] = []
            appendKeys(model.parameters[t], base: layout.offsets[t], to: &keys)
            keys.sort()
            var prefix = [0.0]
            for key in keys { prefix.append(prefix.last! + square(Int(key & 0xFFFF_FFFF))) }
            return prefix
        }
        prunedSquares = { r in prefixes.reduce(0.0) { $0 + $1[pruneCount(r, of: $1.count - 1)] } }
    case .random:
        let indices = randomPruneCandidates(model, scope: scope)
        prunedSquares = { r in randomPruneOrder(indices.count, ratio: r, seed: seed).reduce(0.0) { $0 + square(indices[$1]) } }
    }
    return ratios.map { r in
        let kept = total - prunedSquares(r)
        return CurvePoint(ratio: r, cosine: total > 0 && kept > 0 ? (kept / total).squareRoot() : 0)
    }
}
