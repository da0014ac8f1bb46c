@testable import Reports
import SeededRandom
import TestSupport
import XCTest

/// The percentile bootstrap against numpy on the same resamples, and against
/// the exact bootstrap distribution (all n^n resamples, enumerated in Python).
final class BootstrapTests: XCTestCase {
    let x = [0.61, 0.74, 0.69, 0.88, 0.93]

    /// The resamples the bootstrap draws for a stream: resample b takes n seeds in turn.
    func resamples(_ b: Bootstrap, n: Int, stream: String) -> [[Int]] {
        var rng = RandomStream("bootstrap", b.seed, stream)
        return (0..<b.resamples).map { _ in (0..<n).map { _ in Bootstrap.draw(n, &rng) } }
    }

    func testMeansAndPercentilesAgainstNumpyOnTheSameResamples() throws {
        let b = Bootstrap()
        let y = x.map { 1 - $0 * $0 }   // a second metric of the same seeds
        let s = b.summaries([x, y], stream: "cell")
        let idx = resamples(b, n: x.count, stream: "cell")
        let ref = numbers(try python("""
        idx = numpy.array(\(idx))
        for v in (\(pyList(x)), \(pyList(y))):
            means = numpy.array(v)[idx].mean(axis=1)
            print(*numpy.percentile(means, [2.5, 97.5]), numpy.mean(v), numpy.std(v, ddof=1))
        """))
        for (k, summary) in s.enumerated() {
            XCTAssertEqual(summary.interval, .percentileBootstrap)
            assertClose(summary.lower, ref[4 * k], rel: 1e-12)
            assertClose(summary.upper, ref[4 * k + 1], rel: 1e-12)
            assertClose(summary.mean, ref[4 * k + 2], rel: 1e-12)
            assertClose(summary.sd, ref[4 * k + 3], rel: 1e-12)
        }
        XCTAssertEqual(b.summaries([x], stream: "cell"), [s[0]], "a column's interval does not depend on the others beside it")
        var cell = RandomStream("bootstrap", b.seed, "cell"), other = RandomStream("bootstrap", b.seed, "other cell")
        XCTAssertNotEqual(b.resampledMeans([x], using: &cell), b.resampledMeans([x], using: &other), "each cell has its own stream")
        XCTAssertEqual(b.summaries([x], stream: "cell"), b.summaries([x], stream: "cell"), "seeded: the same every run")
    }

    func testAgainstTheExactBootstrapDistribution() throws {
        // Many resamples: the percentiles converge to those of the exact distribution
        // of the resampled mean, which Python enumerates over all 5^5 resamples.
        let b = Bootstrap(resamples: 200_000, seed: 7)
        let s = b.summaries([x], stream: "exact")[0]
        let ref = numbers(try python("""
        import itertools
        x = \(pyList(x))
        means = numpy.sort([numpy.mean(t) for t in itertools.product(x, repeat=len(x))])
        print(means[int(numpy.ceil(0.025 * len(means))) - 1], means[int(numpy.ceil(0.975 * len(means))) - 1], means.var())
        """))
        XCTAssertEqual(s.lower, ref[0], accuracy: 0.004)
        XCTAssertEqual(s.upper, ref[1], accuracy: 0.004)
        // Closed form: the resampled mean's variance is the plug-in variance over n.
        let mean = x.reduce(0, +) / 5, plugIn = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
        XCTAssertEqual(ref[2], plugIn / 5, accuracy: 1e-12)
        var rng = RandomStream("bootstrap", b.seed, "exact")
        let means = b.resampledMeans([x], using: &rng)[0]
        let m = means.reduce(0, +) / Double(means.count)
        XCTAssertEqual(means.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(means.count), plugIn / 5, accuracy: 0.01 * plugIn / 5)
        XCTAssertEqual(m, mean, accuracy: 1e-3)
    }

    func testBoundsStayInsideTheValuesAndNoBandBelowThreeSeeds() {
        let b = Bootstrap()
        // the last: three equal values whose rounded sum / 3 is an ulp above them (a real run's sparsity)
        for values in [[1.0, 1.0, 0.99], [0.0, 0.001, 0.0, 0.002], [0.999, 0.95, 0.998, 0.9, 1.0], [Double](repeating: 0.8400078600903911, count: 3)] {
            let s = b.summaries([values], stream: "edge")[0]
            XCTAssertGreaterThanOrEqual(s.lower, values.min() ?? .nan)
            XCTAssertLessThanOrEqual(s.upper, values.max() ?? .nan)
            XCTAssertLessThanOrEqual(s.lower, s.mean); XCTAssertGreaterThanOrEqual(s.upper, s.mean)
        }
        for values in [[0.5], [0.4, 0.6]] {
            let s = b.summaries([values], stream: "few")[0]
            XCTAssertEqual(s.interval, .noInterval)
            XCTAssert(s.lower.isNaN && s.upper.isNaN)
        }
    }

    func testPercentileInterpolatesAsNumpy() {
        XCTAssertEqual(Bootstrap.percentile([1, 2, 3, 4], 0.5), 2.5)
        XCTAssertEqual(Bootstrap.percentile([1, 2, 3, 4], 0.025), 1.075, accuracy: 1e-12)
        XCTAssertEqual(Bootstrap.percentile([1, 2, 3, 4], 1), 4)
        XCTAssertEqual(Bootstrap.percentile([7], 0.3), 7)
        var rng = RandomStream(seed: 5)
        for n in [1, 2, 3, 10, 2000] {   // selected, not sorted: the same bits as from the sorted values, ties or not
            for values in [(0..<n).map { _ in Double(rng.next() % 1000) / 7 }, (0..<n).map { _ in Double(rng.next() % 3) }] {
                let sorted = values.sorted()
                for q in [0, 0.025, 0.3, 0.5, 0.975, 1] {
                    let h = Double(n - 1) * q, i = Int(h.rounded(.down))
                    let want = i + 1 < n ? sorted[i] + (h - Double(i)) * (sorted[i + 1] - sorted[i]) : sorted[n - 1]
                    XCTAssertEqual(Bootstrap.percentile(values, q).bitPattern, want.bitPattern, "n \(n), q \(q)")
                }
            }
        }
    }
}
