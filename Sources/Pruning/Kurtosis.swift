import Foundation
import NeuralNet

/// Pearson kurtosis (not excess): m4 / m2^2 with population central moments,
/// scipy.stats.kurtosis(x, fisher=False). nil when x is constant (m2 = 0).
public func kurtosis<C: Collection>(_ x: C) -> Double? where C.Element: BinaryFloatingPoint {
    guard !x.isEmpty else { return nil }
    let n = Double(x.count)
    var sum = 0.0
    for v in x { sum += Double(v) }
    let mean = sum / n
    var m2 = 0.0, m4 = 0.0
    for v in x {
        let d = Double(v) - mean, d2 = d * d
        m2 += d2; m4 += d2 * d2
    }
    m2 /= n; m4 /= n
    guard m2 > 0 else { return nil }
    return m4 / (m2 * m2)
}

/// The kurtosis of each in-scope tensor, by name, in model order.
public func tensorKurtoses(_ model: Model, scope: PruneScope = .all) throws -> [(name: String, kurtosis: Double)] {
    try model.parameters.filter(scope.contains).map { p in
        guard let k = kurtosis(p.value) else {
            throw PruningError("tensor '\(p.name)' is constant (zero variance): its kurtosis is undefined")
        }
        return (p.name, k)
    }
}

/// K2, the kurtosis of the per-tensor kurtoses. It needs at least two tensors,
/// and is 1 exactly when the kurtoses take two values equally often (always with two tensors).
public func kurtosisOfKurtoses(_ kurtoses: [Double]) throws -> Double {
    guard kurtoses.count >= 2 else {
        throw PruningError("K2 needs the kurtoses of at least 2 tensors, got \(kurtoses.count): the safe ratio is undefined for this model/scope")
    }
    guard let k2 = kurtosis(kurtoses) else {
        throw PruningError("all \(kurtoses.count) tensors have the same kurtosis: K2 is undefined, so is the safe ratio")
    }
    return k2
}
