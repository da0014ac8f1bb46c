import Datasets
@testable import Distillation
import Foundation
import NeuralNet
import SeededRandom
import TestSupport
import XCTest

final class RepresentationTests: XCTestCase {
    func matrix(_ n: Int, _ d: Int, _ seed: UInt64) -> [Float] {
        var rng = RandomStream("rep-test", seed)
        return (0..<n * d).map { _ in rng.normal() }
    }

    func testJacobiEigenvalues() {
        // Q diag(5, 2, -1, 0.5) Q^T with Q a rotation-composed orthogonal matrix.
        let n = 4, d: [Double] = [5, 2, -1, 0.5]
        var q = [Double](repeating: 0, count: 16)
        for i in 0..<4 { q[i * 4 + i] = 1 }
        for (p, r, angle) in [(0, 1, 0.3), (1, 3, 1.1), (0, 2, -0.7), (2, 3, 0.4)] {
            let (c, s) = (cos(angle), sin(angle))
            for k in 0..<4 { let (a, b) = (q[k * 4 + p], q[k * 4 + r]); q[k * 4 + p] = c * a - s * b; q[k * 4 + r] = s * a + c * b }
        }
        var m = [Double](repeating: 0, count: 16)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { m[i * n + j] += q[i * n + k] * d[k] * q[j * n + k] } } }
        let e = symmetricEigenvalues(m, size: n).sorted()
        for (x, y) in zip(e, d.sorted()) { XCTAssertEqual(x, y, accuracy: 1e-12) }
    }

    /// Against numpy with the textbook n x n kernel definitions:
    /// CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = X X^T, L = Y Y^T centred by H;
    /// NBS = tr sqrt(K^1/2 L K^1/2) / sqrt(tr K tr L) (via symmetric eigendecompositions).
    func testCKAandNBSAgainstNumpyKernels() throws {
        let n = 40
        for (dx, dy, seed) in [(5, 5, UInt64(1)), (8, 3, 2), (3, 9, 3)] {
            let x = matrix(n, dx, seed)
            var y = matrix(n, dy, seed + 100)
            for i in 0..<n { for j in 0..<min(dx, dy) { y[i * dy + j] += 0.8 * x[i * dx + j] } }   // partly shared
            let r = RepresentationSimilarity(x, y, rows: n)
            let ref = numbers(try python("""
            import numpy as np
            X = np.array(\(pyList(x.map(Double.init)))).reshape(\(n), \(dx)); Y = np.array(\(pyList(y.map(Double.init)))).reshape(\(n), \(dy))
            H = np.eye(\(n)) - 1.0 / \(n)
            K = H @ X @ X.T @ H; L = H @ Y @ Y.T @ H
            cka = np.trace(K @ L) / np.sqrt(np.trace(K @ K) * np.trace(L @ L))
            w, V = np.linalg.eigh(K); Kh = V @ np.diag(np.sqrt(np.clip(w, 0, None))) @ V.T
            m = np.linalg.eigvalsh(Kh @ L @ Kh)
            nbs = np.sum(np.sqrt(np.clip(m, 0, None))) / np.sqrt(np.trace(K) * np.trace(L))
            print(repr(float(cka)), repr(float(nbs)))
            """))
            assertClose(r.linearCKA, ref[0], rel: 1e-6)
            assertClose(r.normalizedBures, ref[1], rel: 1e-5)
        }
    }

    func testInvariances() {
        let n = 200, d = 6
        let x = matrix(n, d, 9)
        XCTAssertEqual(RepresentationSimilarity(x, x, rows: n).linearCKA, 1, accuracy: 1e-9)
        XCTAssertEqual(RepresentationSimilarity(x, x, rows: n).normalizedBures, 1, accuracy: 1e-6)
        // An orthogonal map (a swap and sign flip of columns), scaling and a shift leave both at 1.
        var y = [Float](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { y[i * d + j] = 3 * x[i * d + (d - 1 - j)] * (j % 2 == 0 ? -1 : 1) + 5 } }
        XCTAssertEqual(RepresentationSimilarity(x, y, rows: n).linearCKA, 1, accuracy: 1e-6)
        XCTAssertEqual(RepresentationSimilarity(x, y, rows: n).normalizedBures, 1, accuracy: 1e-5)
        // Independent noise: far from 1.
        let z = matrix(n, d, 10)
        XCTAssertLessThan(RepresentationSimilarity(x, z, rows: n).linearCKA, 0.3)
        // Constant representation: defined as 0.
        XCTAssertEqual(RepresentationSimilarity(x, [Float](repeating: 1, count: n * 2), rows: n).linearCKA, 0)
    }
}

final class FunctionalMetricsTests: XCTestCase {
    func outputs(_ logits: [[Float]], _ pen: [[Float]]) -> ModelOutputs {
        ModelOutputs(logits: Tensor(shape: [logits.count, logits[0].count], data: logits.flatMap { $0 }),
                     penultimate: Tensor(shape: [pen.count, pen[0].count], data: pen.flatMap { $0 }))
    }

    func testHandMadeOutputsAgainstScipy() throws {
        // 4 examples, 3 classes; labels 0, 1, 2, 0.
        let la: [[Float]] = [[3, 0, 0], [0, 2, 1], [1, 0, 2.5], [0, 1, 0]]     // A: 0, 1, 2, 1 -> wrong on the last
        let lb: [[Float]] = [[2, 1, 0], [1, 0, 0], [0, 0, 3], [0, 2, 0.5]]     // B: 0, 0, 2, 1 -> copies A's error
        let lc: [[Float]] = [[2, 1, 0], [0, 3, 0], [0, 0, 3], [0, 0, 1]]       // C: 0, 1, 2, 2 -> different wrong label
        let pen: [[Float]] = [[1, 0], [0, 1], [1, 1], [2, 0]]
        let m = FunctionalMetrics(outputs(la, pen), outputs(lb, pen.map { [$0[1], $0[0]] }), labels: [0, 1, 2, 0], control: outputs(lc, pen))
        XCTAssertEqual(m.accuracyA, 0.75); XCTAssertEqual(m.accuracyB, 0.5)
        XCTAssertEqual(m.agreement, 0.75)
        XCTAssertEqual(m.wrongByA, 1); XCTAssertEqual(m.errorCopy, 1)
        XCTAssertEqual(m.rightAgreement, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.controlErrorCopy, 0); XCTAssertEqual(m.controlRightAgreement, 1)
        XCTAssertEqual(m.linearCKA, 1, accuracy: 1e-9)   // B's activations are A's with columns swapped
        let ref = numbers(try python("""
        import numpy as np
        from scipy.special import softmax
        from scipy.spatial.distance import jensenshannon
        a = softmax(np.array(\(la)), axis=1); b = softmax(np.array(\(lb)), axis=1)
        js = np.mean([jensenshannon(p, q, base=2) ** 2 for p, q in zip(a, b)])
        print(repr(float(js)), repr(float(np.mean(np.linalg.norm(a - b, axis=1)))))
        """))
        assertClose(m.jensenShannon, ref[0], rel: 1e-5)
        assertClose(m.activationDistance, ref[1], rel: 1e-5)
    }

    func testIdenticalAndDistinctModels() throws {
        var rng = RandomStream("metric-data", 1)
        let n = 300
        let data = ImageDataset(images: (0..<n * 64).map { _ in rng.nextUnit() }, labels: (0..<n).map { _ in Int32(rng.next() % 4) },
                                rows: 8, cols: 8, classes: 4)
        let m1 = Model(.mlp([12, 10]), inputSide: 8, classes: 4, seed: 1)
        let same = FunctionalMetrics.compare(m1, m1.copy(), on: data)
        XCTAssertEqual(same.agreement, 1); XCTAssertEqual(same.jensenShannon, 0, accuracy: 1e-9)
        XCTAssertEqual(same.activationDistance, 0); XCTAssertEqual(same.linearCKA, 1, accuracy: 1e-9)
        XCTAssertEqual(same.normalizedBures, 1, accuracy: 1e-6); XCTAssertEqual(same.errorCopy, 1)
        let other = FunctionalMetrics.compare(m1, Model(.mlp([12, 7]), inputSide: 8, classes: 4, seed: 2), on: data)
        XCTAssertLessThan(other.linearCKA, 0.99); XCTAssertGreaterThan(other.jensenShannon, 0)
        XCTAssert(other.jensenShannon <= 1 && other.normalizedBures <= 1 && other.linearCKA >= 0)
        // Codable round trip (the sweep journals it).
        let back = try JSONDecoder().decode(FunctionalMetrics.self, from: JSONEncoder().encode(other))
        XCTAssertEqual(back, other)
    }
}
