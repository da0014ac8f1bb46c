import Datasets
import NeuralNet
@testable import Pruning
import SeededRandom
import XCTest

final class RatioTests: XCTestCase {
    func testKurtosisAgainstMomentFormulas() {
        XCTAssertEqual(kurtosis([1.0, 2, 3, 4, 5])!, 1.7, accuracy: 1e-12)   // m2 = 2, m4 = 6.8
        XCTAssertEqual(kurtosis([-1.0, 1, -1, 1])!, 1, accuracy: 1e-15)      // two points: the minimum
        XCTAssertNil(kurtosis([Float](repeating: 3, count: 9)))
        // Random data: m4/m2^2 from raw moments, E[x^4] - 4 mu E[x^3] + 6 mu^2 E[x^2] - 3 mu^4.
        var rng = RandomStream("kurtosis-test", 1)
        let x = (0..<5000).map { _ in rng.normal() * rng.normal() + 0.3 }
        let n = Double(x.count)
        let e1 = x.reduce(0.0) { $0 + Double($1) } / n
        let e2 = x.reduce(0.0) { $0 + pow(Double($1), 2) } / n
        let e3 = x.reduce(0.0) { $0 + pow(Double($1), 3) } / n
        let e4 = x.reduce(0.0) { $0 + pow(Double($1), 4) } / n
        let m2 = e2 - e1 * e1, m4 = e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * pow(e1, 4)
        XCTAssertEqual(kurtosis(x)!, m4 / (m2 * m2), accuracy: 1e-9)
        XCTAssertGreaterThan(kurtosis(x)!, 5)   // product of normals: heavy tails (population value 9)
    }

    func testOptimalIsNearestToUtopia() {
        let hand = [CurvePoint(ratio: 0, cosine: 1), CurvePoint(ratio: 0.5, cosine: 0.9),
                    CurvePoint(ratio: 0.8, cosine: 0.7), CurvePoint(ratio: 1, cosine: 0)]
        XCTAssertEqual(optimalRatio(hand), 0.8)   // distances 1, 0.51, 0.36, 1
        // Quarter circle cos = sqrt(1 - r^2): nearest to (1, 1) at r = 1/sqrt(2), 0.71 on the grid.
        XCTAssertEqual(optimalRatio(curveRatios.map { CurvePoint(ratio: $0, cosine: (1 - $0 * $0).squareRoot()) }), 0.71)
        // The pure-mask curve of a model never crosses the diagonal badly: the optimum is interior.
        let r = optimalRatio(cosineCurve(Model(.lenet5, seed: 0)))
        XCTAssertTrue(r > 0 && r < 1)
        // Ties go to the smaller ratio.
        XCTAssertEqual(optimalRatio([CurvePoint(ratio: 0.6, cosine: 1), CurvePoint(ratio: 1, cosine: 0.6)]), 0.6)
    }

    func testSafeRuleBranchesAndClamp() throws {
        let e = M_E
        var s = try safeRatio(optimal: 0.8, k2: e * e)               // ln = 2
        XCTAssertEqual(s.ratio, 0.4, accuracy: 1e-15); XCTAssertEqual(s.log, .ln)
        s = try safeRatio(optimal: 0.83, k2: 2.5)                     // log2 branch: 0.83 / 1.3219
        XCTAssertEqual(s.ratio, 0.83 / log2(2.5), accuracy: 1e-15); XCTAssertEqual(s.log, .log2)
        XCTAssertEqual(s.ratio, 0.6279, accuracy: 1e-4)               // ln would give 0.906 -> clamped 0.83
        s = try safeRatio(optimal: 0.83, k2: 2.4862)                  // the paper's LeNet5: 63.17 %
        XCTAssertEqual(s.ratio, 0.6317, accuracy: 1e-4)
        s = try safeRatio(optimal: 0.7, k2: 1.5)                      // log2(1.5) < 1: clamped to optimal
        XCTAssertEqual(s.ratio, 0.7)
        s = try safeRatio(optimal: 0.7, k2: e)                        // ln(e) = 1 exactly at the switch
        XCTAssertEqual(s.ratio, 0.7, accuracy: 1e-15); XCTAssertEqual(s.log, .ln)
        for bad in [1.0, 0.5, 0, -3, .nan] {
            XCTAssertThrowsError(try safeRatio(optimal: 0.7, k2: bad)) { XCTAssertTrue("\($0)".contains("K2"), "\($0)") }
        }
    }

    func testK2AndItsErrors() throws {
        XCTAssertEqual(try kurtosisOfKurtoses([1, 2, 3, 4, 5]), 1.7, accuracy: 1e-12)
        XCTAssertThrowsError(try kurtosisOfKurtoses([3])) { XCTAssertTrue("\($0)".contains("at least 2"), "\($0)") }
        XCTAssertThrowsError(try kurtosisOfKurtoses([3, 3, 3])) { XCTAssertTrue("\($0)".contains("same kurtosis"), "\($0)") }
        // Two tensors always give K2 = 1: the analysis refuses instead of dividing by ln 1 = 0.
        let m = Model(.mlp([5]), inputSide: 4, classes: 3, seed: 0)
        let two = RatioAnalysis.analyse(m, scope: PruneScope(weightsOnly: true))
        XCTAssertNil(two.safe)
        XCTAssertTrue(two.problem?.contains("K2") == true, "\(two.problem ?? "")")
        XCTAssertEqual(try two.resolve(.optimal), two.optimal, "the optimal ratio needs no K2")
        XCTAssertThrowsError(try two.resolve(.safe)) { XCTAssertTrue("\($0)".contains("no safe ratio"), "\($0)") }
        XCTAssertTrue(RatioAnalysis.analyse(m, scope: PruneScope(layers: ["fc1.weight"])).problem?.contains("at least 2") == true)
    }

    func testAnalyseAssemblesTheRules() throws {
        let m = Model(.lenet5, seed: 5)
        let a = RatioAnalysis.analyse(m)
        XCTAssertEqual(a.curve, cosineCurve(m))
        XCTAssertEqual(a.optimal, optimalRatio(a.curve))
        XCTAssertEqual(a.perTensorKurtosis.map(\.name), m.parameters.map(\.name))
        XCTAssertEqual(a.kurtosisByName["fc1.weight"]!, kurtosis(m.parameters[4].value)!, accuracy: 1e-12)
        XCTAssertEqual(a.kurtosisByName["fc1.weight"]!, 1.8, accuracy: 0.05)   // uniform init: 9/5
        XCTAssertEqual(a.k2, try kurtosisOfKurtoses(a.perTensorKurtosis.map(\.kurtosis)))
        XCTAssertEqual(a.safe, try safeRatio(optimal: a.optimal, k2: a.k2!).ratio)
        let json = try JSONEncoder().encode(a)
        XCTAssertEqual(try JSONDecoder().decode(RatioAnalysis.self, from: json).k2, a.k2)
    }
}
