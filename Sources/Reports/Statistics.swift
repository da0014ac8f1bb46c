import Foundation

// Tests across seeds: Welch's t-test, the Mann-Whitney U test, Holm's
// correction and standardised effect sizes (intervals: Bootstrap.swift).
// Everything in Double; no input traps (degenerate cases are documented per function).

func sampleVariance(_ x: [Double]) -> Double {
    let m = x.reduce(0, +) / Double(x.count)
    return x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)
}

// MARK: distributions

/// The regularized incomplete beta function I_x(a, b), by the continued
/// fraction of Numerical Recipes (modified Lentz), using the symmetry
/// I_x(a, b) = 1 - I_{1-x}(b, a) where that converges faster.
public func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
    if x < (a + 1) / (a + b + 2) { return exp(logFront) * betaContinuedFraction(x, a, b) / a }
    return 1 - exp(logFront) * betaContinuedFraction(1 - x, b, a) / b
}

private func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
    let tiny = 1e-300, eps = 1e-16
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...10_000 {
        let m = Double(m), m2 = 2 * m
        // even step
        var aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d; h *= d * c
        // odd step
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < eps { break }
    }
    return h
}

/// Two-sided p-value of Student's t: P(|T| >= |t|).
public func studentTTwoSided(_ t: Double, df: Double) -> Double {
    if t.isInfinite { return 0 }
    return regularizedIncompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
}

/// P(Z <= z) for the standard normal.
public func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

// MARK: tests

/// Welch's unequal-variance t-test, two-sided (scipy.stats.ttest_ind(a, b, equal_var=False)).
/// Needs two values per group (else t, df, p are NaN). If both groups have
/// zero variance: equal means give t = 0, p = 1; different means t = +-inf, p = 0.
public func welchTTest(_ a: [Double], _ b: [Double]) -> (t: Double, df: Double, p: Double) {
    guard a.count >= 2, b.count >= 2 else { return (.nan, .nan, .nan) }
    let na = Double(a.count), nb = Double(b.count)
    let va = sampleVariance(a) / na, vb = sampleVariance(b) / nb
    let diff = a.reduce(0, +) / na - b.reduce(0, +) / nb
    let se2 = va + vb
    guard se2 > 0 else { return diff == 0 ? (0, na + nb - 2, 1) : (diff > 0 ? .infinity : -.infinity, na + nb - 2, 0) }
    let t = diff / se2.squareRoot()
    let df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    return (t, df, studentTTwoSided(t, df: df))
}

public enum MannWhitneyMethod: String, Sendable {
    /// Exact when there are no ties and na * nb <= 10 000, else asymptotic.
    case auto
    /// The exact null distribution of U (no-ties formula; ties make it approximate).
    case exact
    /// Normal approximation with tie correction of the variance and continuity correction.
    case asymptotic
}

/// The Mann-Whitney U test, two-sided (scipy.stats.mannwhitneyu(a, b,
/// method=...)). u is U of the first group: the number of pairs (x in a, y in b)
/// with x > y, ties counting one half. Empty groups give NaN; all values
/// tied gives p = 1.
public func mannWhitneyU(_ a: [Double], _ b: [Double], method: MannWhitneyMethod = .auto) -> (u: Double, p: Double) {
    let na = a.count, nb = b.count
    guard na > 0, nb > 0 else { return (.nan, .nan) }
    let (ranks, tieGroups) = midranks(a + b)
    let rankSumA = ranks[0..<na].reduce(0, +)
    let u = rankSumA - Double(na * (na + 1)) / 2
    let uMax = max(u, Double(na * nb) - u)   // the larger of U1, U2: its upper tail is the two-sided half
    let hasTies = tieGroups.contains { $0 > 1 }
    let useExact = method == .exact || (method == .auto && !hasTies && na * nb <= 10_000)
    if useExact {
        let counts = mannWhitneyCounts(na, nb)            // counts[u] = arrangements with U == u
        let total = counts.reduce(0, +)
        let upper = counts[Int(uMax.rounded(.up))...].reduce(0, +) / total   // P(U >= uMax)
        return (u, min(1, 2 * upper))
    }
    let n = Double(na + nb), mu = Double(na * nb) / 2
    let tieTerm = tieGroups.reduce(0.0) { $0 + Double($1 * $1 * $1 - $1) }
    let variance = Double(na * nb) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
    guard variance > 0 else { return (u, 1) }
    let z = (uMax - mu - 0.5) / variance.squareRoot()
    return (u, min(1, 2 * (1 - normalCDF(z))))
}

/// Ranks 1...n with ties given their mean rank, and the sizes of the tie groups.
func midranks(_ x: [Double]) -> (ranks: [Double], tieGroups: [Int]) {
    let order = x.indices.sorted { x[$0] < x[$1] }
    var ranks = [Double](repeating: 0, count: x.count)
    var groups: [Int] = []
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
        let mean = Double(i + j + 2) / 2   // ranks i+1 ... j+1
        for k in i...j { ranks[order[k]] = mean }
        groups.append(j - i + 1)
        i = j + 1
    }
    return (ranks, groups)
}

/// The number of orderings of m + n distinct values giving U = u, for u in 0...mn:
/// the coefficients of the Gaussian binomial [m+n choose m]_q
/// = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i). Double counts: relative error ~1e-16.
func mannWhitneyCounts(_ m: Int, _ n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n + 1)
    c[0] = 1
    for i in stride(from: 1, through: m, by: 1) {
        let k = n + i
        for u in stride(from: m * n, through: k, by: -1) { c[u] -= c[u - k] }   // times (1 - q^k)
        for u in i...max(i, m * n) where u <= m * n { c[u] += c[u - i] }          // divided by (1 - q^i)
    }
    return c
}

/// Holm's step-down adjustment of a family of p-values (same order as given):
/// sorted ascending, adjusted_(j) = max_{i <= j} min(1, (m - i + 1) p_(i)).
/// NaN p-values are passed through as NaN and do not count toward m.
public func holm(_ p: [Double]) -> [Double] {
    let valid = p.indices.filter { !p[$0].isNaN }.sorted { p[$0] < p[$1] }
    var adjusted = [Double](repeating: .nan, count: p.count)
    var running = 0.0
    for (rank, i) in valid.enumerated() {
        running = max(running, min(1, Double(valid.count - rank) * p[i]))
        adjusted[i] = running
    }
    return adjusted
}

/// Cohen's d: difference of means over the pooled sample sd. NaN with fewer
/// than two values in all, or zero pooled variance.
public func cohensD(_ a: [Double], _ b: [Double]) -> Double {
    let na = Double(a.count), nb = Double(b.count)
    guard na >= 1, nb >= 1, na + nb > 2 else { return .nan }
    let va = a.count > 1 ? sampleVariance(a) : 0, vb = b.count > 1 ? sampleVariance(b) : 0
    let pooled = (((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)).squareRoot()
    guard pooled > 0 else { return .nan }
    return (a.reduce(0, +) / na - b.reduce(0, +) / nb) / pooled
}

/// Hedges' g: Cohen's d times the exact small-sample bias correction
/// J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = na + nb - 2.
public func hedgesG(_ a: [Double], _ b: [Double]) -> Double {
    let df = Double(a.count + b.count - 2)
    guard df > 1 else { return .nan }
    return cohensD(a, b) * exp(lgamma(df / 2) - lgamma((df - 1) / 2)) / (df / 2).squareRoot()
}
