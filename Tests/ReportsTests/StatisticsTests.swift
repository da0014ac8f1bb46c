import XCTest
@testable import Reports
import TestSupport

final class StatisticsTests: XCTestCase {
    func testIncompleteBetaAgainstScipy() throws {
        let cases: [(Double, Double, Double)] = [(0.3, 2, 3), (0.9, 0.5, 7.5), (0.01, 5, 0.5), (0.5, 30, 40), (0.999, 2.5, 0.5)]
        let ref = numbers(try python("""
        from scipy.special import betainc
        print(' '.join(repr(float(betainc(a, b, x))) for x, a, b in [\(cases.map { "(\($0.0),\($0.1),\($0.2))" }.joined(separator: ","))]))
        """))
        for (i, c) in cases.enumerated() { assertClose(regularizedIncompleteBeta(c.0, a: c.1, b: c.2), ref[i], rel: 1e-10, abs: 1e-14) }
    }

    func testSummaryAgainstNumpy() throws {
        let x = [0.861, 0.874, 0.869, 0.858, 0.880]
        let s = Summary(x)
        let ref = numbers(try python("""
        x = numpy.array(\(pyList(x)))
        print(x.mean(), x.std(ddof=1))
        """))
        XCTAssertEqual(s.n, 5)
        assertClose(s.mean, ref[0]); assertClose(s.sd, ref[1], rel: 1e-9)
        XCTAssertEqual(s.interval, .noInterval)
        XCTAssert(s.lower.isNaN && s.upper.isNaN, "no interval without the bootstrap")
        XCTAssert(Summary([1.0]).sd.isNaN && Summary([1.0]).mean == 1)
        XCTAssert(Summary([]).mean.isNaN)
    }

    func testWelchAgainstScipy() throws {
        let groups: [([Double], [Double])] = [
            ([0.861, 0.874, 0.869, 0.858, 0.880], [0.851, 0.849, 0.862, 0.845, 0.855]),
            ([1, 2, 3], [4, 5, 6, 7, 8, 9.5]),
            ([2.1, 2.1, 2.2, 2.0], [2.15, 2.05, 2.1, 2.2, 2.0]),   // ties, small difference
        ]
        let ref = numbers(try python("""
        for a, b in [\(groups.map { "(\(pyList($0.0)), \(pyList($0.1)))" }.joined(separator: ","))]:
            r = scipy.stats.ttest_ind(a, b, equal_var=False)
            print(repr(float(r.statistic)), repr(float(r.df)), repr(float(r.pvalue)))
        """))
        for (i, (a, b)) in groups.enumerated() {
            let w = welchTTest(a, b)
            assertClose(w.t, ref[3 * i], rel: 1e-10); assertClose(w.df, ref[3 * i + 1], rel: 1e-10); assertClose(w.p, ref[3 * i + 2], rel: 1e-8)
        }
        // Degenerate: constant groups.
        XCTAssertEqual(welchTTest([1, 1], [1, 1]).p, 1)
        XCTAssertEqual(welchTTest([2, 2], [1, 1]).p, 0)
        XCTAssert(welchTTest([1], [1, 2]).p.isNaN)
    }

    func testMannWhitneyAgainstScipy() throws {
        let cases: [([Double], [Double], MannWhitneyMethod, String)] = [
            ([0.861, 0.874, 0.869, 0.858, 0.880], [0.851, 0.849, 0.862, 0.845, 0.855], .exact, "exact"),
            ([1, 2, 3], [4, 5, 6, 7], .exact, "exact"),                           // total separation, n = 3, 4
            ([3.1, 1.2, 5.5, 2.2, 9.0, 4.4, 7.7], [2.9, 6.1, 0.5, 8.8, 1.1, 5.0], .exact, "exact"),
            ([1, 2, 2, 3, 3, 3], [2, 3, 4, 4, 5], .asymptotic, "asymptotic"),        // ties
            ([0.5, 0.5, 0.7, 0.9, 0.9, 1.0, 1.2], [0.5, 0.6, 0.6, 0.8, 0.9], .asymptotic, "asymptotic"),
            ((0..<30).map { Double($0 % 7) }, (0..<25).map { Double($0 % 5) + 1.5 }, .auto, "asymptotic"),  // many ties
        ]
        let ref = numbers(try python("""
        for a, b, m in [\(cases.map { "(\(pyList($0.0)), \(pyList($0.1)), '\($0.3)')" }.joined(separator: ","))]:
            r = scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method=m, use_continuity=True)
            print(repr(float(r.statistic)), repr(float(r.pvalue)))
        """))
        for (i, (a, b, method, _)) in cases.enumerated() {
            let m = mannWhitneyU(a, b, method: method)
            assertClose(m.u, ref[2 * i], "U \(a) \(b)"); assertClose(m.p, ref[2 * i + 1], rel: 1e-9, abs: 1e-14, "p \(a) \(b)")
        }
        // Published: n1 = n2 = 5, complete separation: exact two-sided p = 2/252.
        assertClose(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p, 2.0 / 252)
        // Counts of U form the Gaussian binomial: sum = C(m+n, m), symmetric.
        let c = mannWhitneyCounts(4, 6)
        XCTAssertEqual(c.reduce(0, +), 210); XCTAssertEqual(c, c.reversed())
        XCTAssertEqual(mannWhitneyU([1, 1], [1, 1]).p, 1)
    }

    func testHolm() throws {
        // Worked example: p = (0.01, 0.04, 0.03, 0.005) -> sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 = .02, .03, .06, .06 (monotone).
        let adj = holm([0.01, 0.04, 0.03, 0.005])
        for (x, y) in zip(adj, [0.03, 0.06, 0.06, 0.02]) { XCTAssertEqual(x, y, accuracy: 1e-15) }
        XCTAssertEqual(holm([0.5, 0.9]), [1, 1])
        let withNaN = holm([0.02, .nan, 0.04])
        XCTAssertEqual(withNaN[0], 0.04, accuracy: 1e-15); XCTAssert(withNaN[1].isNaN); XCTAssertEqual(withNaN[2], 0.04, accuracy: 1e-15)
        // Against an independent step-down in Python on random p-values.
        let p = [0.0002, 0.3, 0.012, 0.049, 0.0101, 0.7, 0.02]
        let ref = numbers(try python("""
        p = numpy.array(\(pyList(p))); m = len(p); o = numpy.argsort(p)
        adj = numpy.empty(m); run = 0.0
        for k, i in enumerate(o):
            run = max(run, min(1.0, (m - k) * p[i])); adj[i] = run
        print(' '.join(repr(float(v)) for v in adj))
        """))
        for (x, y) in zip(holm(p), ref) { assertClose(x, y) }
    }

    func testEffectSizes() {
        // a: mean 2, var 1; b: mean 1, var 1 -> pooled sd 1, d = 1.
        let a = [1.0, 2, 3], b = [0.0, 1, 2]
        XCTAssertEqual(cohensD(a, b), 1, accuracy: 1e-12)
        // df = 4: J = Gamma(2) / (sqrt(2) Gamma(1.5)) = 1 / (sqrt 2 * sqrt(pi)/2) = 0.7978845608
        XCTAssertEqual(hedgesG(a, b), 0.7978845608, accuracy: 1e-9)
        XCTAssertEqual(cohensD(b, a), -1, accuracy: 1e-12)
        XCTAssert(cohensD([1, 1], [1, 1]).isNaN)
    }
}
