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
            let sorted = means[k].sorted()
            // Clamped to the values' range: a percentile of means cannot leave it,
            // but a rounded sum can by an ulp.
            let lo = columns[k].min() ?? .nan, hi = columns[k].max() ?? .nan
            out[k].lower = min(max(Bootstrap.percentile(sorted, tail), lo), hi)
            out[k].upper = min(max(Bootstrap.percentile(sorted, 1 - tail), lo), hi)
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
        let m = columns.count, n = columns[0].count
        var rows = [Double](repeating: 0, count: n * m)   // row-major: one seed's metrics side by side
        for k in 0..<m { for i in 0..<n { rows[i * m + k] = columns[k][i] } }
        var means = [Double](repeating: 0, count: m * resamples)   // column k's resamples at k * resamples
        var sums = [Double](repeating: 0, count: m)
        rows.withUnsafeBufferPointer { rows in
            guard let first = rows.baseAddress else { return }
            means.withUnsafeMutableBufferPointer { means in
                sums.withUnsafeMutableBufferPointer { sums in
                    for b in 0..<resamples {
                        for k in 0..<m { sums[k] = 0 }
                        for _ in 0..<n {
                            let row = first + Bootstrap.draw(n, &rng) * m
                            for k in 0..<m { sums[k] += row[k] }
                        }
                        for k in 0..<m { means[k * resamples + b] = sums[k] / Double(n) }
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

    /// The q-quantile of sorted values, interpolating linearly between order
    /// statistics (numpy.percentile's default).
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * q, i = Int(h.rounded(.down))
        guard i + 1 < sorted.count else { return sorted[sorted.count - 1] }
        return sorted[i] + (h - Double(i)) * (sorted[i + 1] - sorted[i])
    }
}
