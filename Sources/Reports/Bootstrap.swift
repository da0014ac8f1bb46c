import Foundation
import SeededRandom

/// How a summary's interval was made.
public enum IntervalMethod: String, Codable, Sendable {
    /// Percentiles of the means of seeds drawn with replacement.
    case percentileBootstrap = "percentile-bootstrap"
    /// Fewer than `Bootstrap.minimumSeeds` values: no band; the values are shown.
    case noInterval = "none"
}

/// Mean and sample standard deviation (n - 1) over seeds, and the interval of
/// the mean (NaN bounds when `interval` is `.noInterval`; sd is NaN with n < 2).
public struct Summary: Equatable, Sendable {
    public var n: Int
    public var mean: Double
    public var sd: Double
    public var lower: Double
    public var upper: Double
    public var interval: IntervalMethod

    /// Without an interval.
    public init(_ values: [Double]) {
        n = values.count
        // inside the values' range, which a rounded sum can leave by an ulp (three equal values)
        mean = values.isEmpty ? .nan : min(max(values.reduce(0, +) / Double(n), values.min() ?? .nan), values.max() ?? .nan)
        sd = n < 2 ? .nan : sampleVariance(values).squareRoot()
        lower = .nan; upper = .nan; interval = .noInterval
    }
}

/// The seeded percentile bootstrap behind every interval of the report. Its
/// bounds are means of observed values, so they stay inside the range of the
/// values, hence inside the range of any bounded metric, with no clipping.
public struct Bootstrap: Sendable, Equatable {
    public var resamples: Int
    public var seed: UInt64
    public var confidence: Double
    /// Below this many seeds a cell shows its values instead of a band.
    public static let minimumSeeds = 3

    public init(resamples: Int = 2000, seed: UInt64 = 19, confidence: Double = 0.95) {
        self.resamples = resamples; self.seed = seed; self.confidence = confidence
    }

    /// Summaries of metrics measured on the same seeds: `columns[k][i]` is metric
    /// k of seed i, every column as long. A resample draws seeds, and every column
    /// is averaged over the same draw (the metrics of a seed stay together).
    /// `stream` names the random stream (e.g. the cell), so one summary does not
    /// depend on what else the report holds.
    public func summaries(_ columns: [[Double]], stream: String) -> [Summary] {
        var out = columns.map(Summary.init)
        guard let n = columns.first?.count, n >= Bootstrap.minimumSeeds else { return out }
        precondition(columns.allSatisfy { $0.count == n }, "bootstrap columns of different lengths")
        var rng = RandomStream("bootstrap", seed, stream)
        let means = resampledMeans(columns, using: &rng)
        let tail = (1 - confidence) / 2
        for k in columns.indices {
            // Clamped to the values' range: a percentile of means cannot leave it,
            // but a rounded sum can by an ulp.
            let lo = columns[k].min() ?? .nan, hi = columns[k].max() ?? .nan
            out[k].lower = min(max(Bootstrap.percentile(means[k], tail), lo), hi)
            out[k].upper = min(max(Bootstrap.percentile(means[k], 1 - tail), lo), hi)
            out[k].interval = .percentileBootstrap
        }
        return out
    }

    /// Summaries of named metrics of n seeds, each given with the values the
    /// seeds have of it: those every seed has are resampled together, each
    /// other one alone (over the seeds that have it, in a stream of its own).
    public func summaries<Metric: Hashable & CustomStringConvertible>(_ values: [(metric: Metric, values: [Double])], seeds n: Int,
                                                                     stream: String) -> [Metric: Summary] {
        let complete = values.filter { $0.values.count == n }
        var out = Dictionary(uniqueKeysWithValues: zip(complete.map(\.metric), summaries(complete.map(\.values), stream: stream)))
        for (m, v) in values where v.count != n { out[m] = summaries([v], stream: "\(stream) \(m)")[0] }
        return out
    }

    /// `resamples` means per column, each over n seeds drawn with replacement.
    func resampledMeans(_ columns: [[Double]], using rng: inout RandomStream) -> [[Double]] {
        // A seed's metrics side by side, sixteen to a vector (the last padded with
        // zeros). Each is summed in draw order as one Double would be, sixteen at
        // once in registers: a resample's seeds are drawn first, then each vector summed over them.
        let m = columns.count, n = columns[0].count, w = (m + 15) / 16
        var rows = [SIMD16<Double>](repeating: .zero, count: n * w)
        for k in 0..<m { for i in 0..<n { rows[i * w + k / 16][k % 16] = columns[k][i] } }
        var means = [Double](repeating: 0, count: m * resamples)   // column k's resamples at k * resamples
        var drawn = [Int](repeating: 0, count: n)   // the rows a resample draws
        rows.withUnsafeBufferPointer { rows in
            guard let first = rows.baseAddress else { return }
            means.withUnsafeMutableBufferPointer { means in
                drawn.withUnsafeMutableBufferPointer { drawn in
                    for b in 0..<resamples {
                        for j in 0..<n { drawn[j] = Bootstrap.draw(n, &rng) * w }
                        for q in 0..<w {
                            var sums = SIMD16<Double>.zero
                            for j in 0..<n { sums += first[drawn[j] + q] }
                            for k in q * 16 ..< min(m, q * 16 + 16) { means[k * resamples + b] = sums[k % 16] / Double(n) }
                        }
                    }
                }
            }
        }
        return (0..<m).map { k in Array(means[k * resamples ..< (k + 1) * resamples]) }
    }

    /// An index in 0..<n: the high word of a 64 x 64-bit product (bias below n / 2^64).
    @inline(__always) static func draw(_ n: Int, _ rng: inout RandomStream) -> Int {
        Int(rng.next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// The q-quantile of the values, interpolating linearly between order
    /// statistics (numpy.percentile's default). The two it needs are selected,
    /// not sorted out: a report takes two quantiles of each metric of every cell.
    static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let h = Double(values.count - 1) * q, i = Int(h.rounded(.down))
        var v = values
        let low: Double, high: Double?
        if v.contains(where: \.isNaN) {   // no order to select by: as a sort leaves them
            v.sort()
            (low, high) = (v[i], i + 1 < v.count ? v[i + 1] : nil)
        } else {
            (low, high) = (select(&v, i), v[(i + 1)...].min())
        }
        guard let high else { return low }
        return low + (h - Double(i)) * (high - low)
    }

    /// Moves the k-th smallest value to v[k], smaller ones before it and larger
    /// ones after it (Hoare's quickselect), and returns it.
    static func select(_ values: inout [Double], _ k: Int) -> Double {
        values.withUnsafeMutableBufferPointer { v in
            var lo = 0, hi = v.count - 1
            while lo < hi {
                let pivot = v[(lo + hi) / 2]
                var i = lo, j = hi
                while i <= j {
                    while v[i] < pivot { i += 1 }
                    while pivot < v[j] { j -= 1 }
                    if i <= j {
                        v.swapAt(i, j)
                        i += 1; j -= 1
                    }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { break }
            }
            return v[k]
        }
    }
}
