import Datasets
import NeuralNet
@testable import Pruning
import XCTest

/// A small MLP (16 -> 5 -> 3, 103 parameters) with deliberate ties: several
/// entries share magnitudes, with both signs, and a few are exactly zero.
func tiedModel(seed: UInt64 = 1) -> Model {
    let m = Model(.mlp([5]), inputSide: 4, classes: 3, seed: seed)
    let w = m.store.values
    for i in stride(from: 0, to: w.count, by: 7) { w[i] = (i % 2 == 0 ? 0.25 : -0.25) }
    for i in stride(from: 3, to: w.count, by: 11) { w[i] = 0 }
    return m
}

/// The reference: every in-scope entry as (|w|, flat index), sorted as tuples, the first k pruned.
func referenceL1Zeros(_ m: Model, ratio: Double, scope: PruneScope = .all) -> Set<Int> {
    var entries: [(Float, Int)] = []
    var base = 0
    for p in m.parameters {
        if scope.contains(p) { for i in 0..<p.count { entries.append((abs(p.value[i]), base + i)) } }
        base += p.count
    }
    entries.sort { $0 < $1 }
    let k = Int((ratio * Double(entries.count)).rounded())
    return Set(entries.prefix(k).map(\.1))
}

func zeroIndices(_ masks: [[Float]]) -> Set<Int> {
    Set(masks.joined().enumerated().filter { $0.element == 0 }.map(\.offset))
}

final class MaskTests: XCTestCase {
    func testGlobalL1MatchesSortBasedReferenceWithTies() {
        let m = tiedModel()
        for ratio in [0, 0.01, 0.1, 0.2, 0.333, 0.5, 0.77, 0.99, 1.0] {
            let masks = pruneMasks(m, ratio: ratio, method: .l1, seed: 0)
            XCTAssertEqual(masks.map(\.count), m.parameters.map(\.count))
            let zeros = zeroIndices(masks)
            XCTAssertEqual(zeros.count, Int((ratio * 103).rounded()), "ratio \(ratio)")
            XCTAssertEqual(zeros, referenceL1Zeros(m, ratio: ratio), "ratio \(ratio)")
        }
    }

    /// Magnitudes one ulp apart, descending with the index: only an exact order
    /// on |w| picks the high indices first.
    func testGlobalL1OrdersMagnitudesToTheLastBit() {
        let m = tiedModel()
        var v: Float = 0.5
        for i in 0..<20 { m.store.values[i] = i % 2 == 0 ? v : -v; v = v.nextDown }
        for i in 20..<m.store.count { m.store.values[i] = 1 }
        XCTAssertEqual(zeroIndices(pruneMasks(m, ratio: 5 / 103, method: .l1)), Set(15..<20))
        XCTAssertEqual(zeroIndices(pruneMasks(m, ratio: 5 / 103, method: .l1)), referenceL1Zeros(m, ratio: 5 / 103))
    }

    func testGlobalL1OnLeNet5CountsExactly() {
        let m = Model(.lenet5, seed: 3)
        XCTAssertEqual(m.store.count, 61706)
        for ratio in [0.0, 0.6317, 0.83, 1.0] {
            let zeros = zeroIndices(pruneMasks(m, ratio: ratio, method: .l1))
            XCTAssertEqual(zeros.count, Int((ratio * 61706).rounded()))
            XCTAssertEqual(zeros, referenceL1Zeros(m, ratio: ratio))
        }
    }

    func testScopeWeightsOnlyAndNamedLayers() throws {
        let m = tiedModel()
        let weights = PruneScope(weightsOnly: true)
        let masks = pruneMasks(m, ratio: 0.5, method: .l1, scope: weights)
        for (p, mask) in zip(m.parameters, masks) where p.isBias { XCTAssertTrue(mask.allSatisfy { $0 == 1 }, p.name) }
        XCTAssertEqual(zeroIndices(masks), referenceL1Zeros(m, ratio: 0.5, scope: weights))
        XCTAssertEqual(zeroIndices(masks).count, Int((0.5 * 95).rounded()))   // 80 + 15 weights

        let fc2 = PruneScope(layers: ["fc2"])
        let masks2 = pruneMasks(m, ratio: 0.4, method: .l1, scope: fc2)
        XCTAssertEqual(zeroIndices(masks2), referenceL1Zeros(m, ratio: 0.4, scope: fc2))
        XCTAssertTrue(masks2[0].allSatisfy { $0 == 1 } && masks2[1].allSatisfy { $0 == 1 })
        XCTAssertEqual(zeroIndices(masks2).count, Int((0.4 * 18).rounded()))

        XCTAssertNoThrow(try fc2.check(m))
        XCTAssertThrowsError(try PruneScope(layers: ["conv9"]).check(m)) { e in
            XCTAssertTrue("\(e)".contains("conv9") && "\(e)".contains("fc1.weight"), "\(e)")
        }
    }

    func testExistingMasksStayPrunedAndOutOfScopeMasksKept() {
        let m = tiedModel()
        applyMasks(pruneMasks(m, ratio: 0.3, method: .l1), to: m)
        let before = zeroIndices(m.parameters.map { $0.mask! })
        let again = globalL1Masks(m, pruning: before.count + 10)
        XCTAssertTrue(before.isSubset(of: zeroIndices(again)))
        XCTAssertEqual(zeroIndices(again).count, before.count + 10)
        // A surviving weight that is exactly zero does not take a pruned entry's place.
        let survivor = (0..<m.store.count).first { !before.contains($0) }!
        XCTAssertLessThan(survivor, before.max()!)
        m.store.values[survivor] = 0
        XCTAssertEqual(zeroIndices(globalL1Masks(m, pruning: before.count)), before)
        // Re-pruning fc2 only leaves fc1's existing mask as it was.
        let fc2 = pruneMasks(m, ratio: 0.5, method: .l1, scope: PruneScope(layers: ["fc2"]))
        XCTAssertEqual(fc2[0], m.parameters[0].mask)
    }

    func testRandomControlIsSeededAndExact() {
        let m = Model(.lenet5, seed: 0)
        let a = pruneMasks(m, ratio: 0.63, method: .random, seed: 4)
        XCTAssertEqual(a, pruneMasks(m, ratio: 0.63, method: .random, seed: 4))
        XCTAssertNotEqual(a, pruneMasks(m, ratio: 0.63, method: .random, seed: 5))
        XCTAssertEqual(zeroIndices(a).count, Int((0.63 * 61706).rounded()))
        // Not magnitude-driven: it prunes plenty of the largest entries too.
        let topQuartile = Set(referenceL1Zeros(m, ratio: 0.75)).symmetricDifference(Set(0..<61706))
        let hits = zeroIndices(a).intersection(topQuartile).count
        XCTAssertEqual(Double(hits) / Double(topQuartile.count), 0.63, accuracy: 0.02)
        let weights = pruneMasks(m, ratio: 0.5, method: .random, seed: 1, scope: PruneScope(weightsOnly: true))
        for (p, mask) in zip(m.parameters, weights) where p.isBias { XCTAssertTrue(mask.allSatisfy { $0 == 1 }) }
    }

    func testLayerwisePrunesTheSameRatioPerTensor() {
        let m = tiedModel()
        let masks = pruneMasks(m, ratio: 0.4, method: .layerwise)
        var base = 0
        for (p, mask) in zip(m.parameters, masks) {
            let zeros = Set(mask.enumerated().filter { $0.element == 0 }.map { $0.offset + base })
            let ref = (0..<p.count).map { (abs(p.value[$0]), base + $0) }.sorted { $0 < $1 }
                .prefix(Int((0.4 * Double(p.count)).rounded())).map(\.1)
            XCTAssertEqual(zeros, Set(ref), p.name)
            base += p.count
        }
    }

    func testSparsityAndCollapseDetection() {
        let m = tiedModel()
        let p = pruned(m, masks: pruneMasks(m, ratio: 1, method: .l1, scope: PruneScope(layers: ["fc2"])))
        XCTAssertEqual(collapsedTensors(p), ["fc2.weight", "fc2.bias"])
        let s = sparsity(p)
        XCTAssertEqual(s.byName["fc2.weight"], 1)
        let naturalZeros = m.parameters[0...1].reduce(0) { $0 + $1.values.filter { $0 == 0 }.count }
        XCTAssertEqual(s.global, Double(18 + naturalZeros) / 103, accuracy: 1e-12)
        // Global L1 collapses a layer whose entries are all small.
        let q = tiedModel()
        for i in 0..<q.parameters[3].count { q.parameters[3].value[i] = 1e-4 }
        XCTAssertEqual(collapsedTensors(pruned(q, masks: pruneMasks(q, ratio: 0.2, method: .l1))), ["fc2.bias"])
        XCTAssertEqual(collapsedTensors(m), [])
    }
}
