import NeuralNet
@testable import Pruning
import XCTest

final class CosineTests: XCTestCase {
    func testCosineSimilarityOnKnownVectors() {
        let a = Model(.mlp([2]), inputSide: 1, classes: 1), b = Model(.mlp([2]), inputSide: 1, classes: 1)
        XCTAssertEqual(a.store.count, 7)
        let x: [Float] = [1, 2, 0, -1, 3, 0, 1], y: [Float] = [2, 0, 1, 1, 0, 5, -1]
        _ = a.store.values.update(fromContentsOf: x); _ = b.store.values.update(fromContentsOf: y)
        // dot = 2 - 1 - 1 = 0 ... plus 0: orthogonal; then a scaled copy: 1.
        XCTAssertEqual(cosineSimilarity(a, b), 0, accuracy: 1e-15)
        _ = b.store.values.update(fromContentsOf: x.map { -2.5 * $0 })
        XCTAssertEqual(cosineSimilarity(a, b), -1, accuracy: 1e-12)
        _ = b.store.values.update(fromContentsOf: [1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(cosineSimilarity(a, b), 6 / (16.0.squareRoot() * 7.0.squareRoot()), accuracy: 1e-12)
        b.store.values.update(repeating: 0)
        XCTAssertEqual(cosineSimilarity(a, b), 0)
    }

    /// Every point of the curve: the prefix-sum shortcut, the closed form from the
    /// actual mask, and the cosine of the actually pruned model agree.
    func testCurveMatchesClosedFormAndActualPrunes() {
        let m = tiedModel(seed: 9)
        let curve = cosineCurve(m)
        XCTAssertEqual(curve.map(\.ratio), (0...100).map { Double($0) / 100 })
        let all = m.store.flatValues.reduce(0.0) { $0 + Double($1) * Double($1) }
        for point in curve {
            let masks = pruneMasks(m, ratio: point.ratio, method: .l1)
            let prunedSquares = zip(m.store.flatValues, masks.joined()).reduce(0.0) { $0 + ($1.1 == 0 ? Double($1.0) * Double($1.0) : 0) }
            let closed = (max(0, 1 - prunedSquares / all)).squareRoot()
            XCTAssertEqual(point.cosine, closed, accuracy: 1e-12, "ratio \(point.ratio)")
            XCTAssertEqual(point.cosine, cosineSimilarity(m, pruned(m, masks: masks)), accuracy: 1e-12, "ratio \(point.ratio)")
        }
        XCTAssertEqual(curve.first!.cosine, 1, accuracy: 1e-15)
        XCTAssertEqual(curve.last!.cosine, 0)
        XCTAssertTrue(zip(curve, curve.dropFirst()).allSatisfy { $0.cosine >= $1.cosine })
    }

    func testCurveRespectsScopeAndOtherMethods() {
        let m = Model(.lenet5, seed: 2)
        let scope = PruneScope(weightsOnly: true)
        let curve = cosineCurve(m, scope: scope, ratios: [0.5, 1])
        for point in curve {
            XCTAssertEqual(point.cosine, cosineSimilarity(m, pruned(m, masks: pruneMasks(m, ratio: point.ratio, method: .l1, scope: scope))), accuracy: 1e-12)
        }
        XCTAssertGreaterThan(curve[1].cosine, 0)   // biases survive
        for method in [PruneMethod.layerwise, .random] {   // the shortcut against pruning and measuring
            for point in cosineCurve(m, method: method, seed: 1, scope: scope, ratios: [0, 0.3, 0.5, 0.97, 1]) {
                let masks = pruneMasks(m, ratio: point.ratio, method: method, seed: 1, scope: scope)
                XCTAssertEqual(point.cosine, cosineSimilarity(m, pruned(m, masks: masks)), accuracy: 1e-9, "\(method) at \(point.ratio)")
            }
        }
        let random = cosineCurve(m, method: .random, seed: 1, ratios: [0.5])
        // A random half keeps about half the energy: cos ~ sqrt(0.5), far below L1's.
        XCTAssertEqual(random[0].cosine, 0.5.squareRoot(), accuracy: 0.02)
        XCTAssertLessThan(random[0].cosine, cosineCurve(m, ratios: [0.5])[0].cosine)
    }
}
