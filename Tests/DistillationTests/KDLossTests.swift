import Datasets
@testable import Distillation
import Foundation
import NeuralNet
import SeededRandom
import TestSupport
import XCTest

final class KDLossTests: XCTestCase {
    func randomLogits(_ b: Int, _ k: Int, _ seed: UInt64, scale: Float = 2) -> Tensor {
        var rng = RandomStream("test-logits", seed)
        return Tensor(shape: [b, k], data: (0..<b * k).map { _ in rng.normal() * scale })
    }

    /// The loss written out independently (plain loops, Double) from the definition.
    func reference(_ s: Tensor, _ t: Tensor, _ y: [Int32], T: Double, a: Double) -> Double {
        let (b, k) = (s.shape[0], s.shape[1])
        var total = 0.0
        for r in 0..<b {
            let sr = (0..<k).map { Double(s.data[r * k + $0]) }, tr = (0..<k).map { Double(t.data[r * k + $0]) }
            func sm(_ z: [Double], _ T: Double) -> [Double] { let e = z.map { exp($0 / T) }; let s = e.reduce(0, +); return e.map { $0 / s } }
            let p = sm(tr, T), q = sm(sr, T), q1 = sm(sr, 1)
            let kl = zip(p, q).reduce(0.0) { $0 + $1.0 * log($1.0 / $1.1) }
            total += a * T * T * kl + (1 - a) * -log(q1[Int(y[r])])
        }
        return total / Double(b)
    }

    func testValueAndGradientAgainstFiniteDifferences() {
        let (b, k) = (5, 7)
        let t = randomLogits(b, k, 1)
        let y: [Int32] = [0, 3, 6, 2, 3]
        for T: Float in [1, 2.5, 4] {
            for a: Float in [0, 0.5, 1] {
                var s = randomLogits(b, k, 2)
                let (loss, grad) = KDLoss.lossAndGrad(student: s, teacher: t, labels: y[...], temperature: T, alpha: a)
                assertClose(loss, reference(s, t, y, T: Double(T), a: Double(a)), rel: 1e-5, abs: 1e-6, "T \(T) a \(a)")
                // Central differences of the independent reference, h in Float logits.
                let h: Float = 1e-2
                for i in 0..<b * k {
                    let keep = s.data[i]
                    s.data[i] = keep + h; let up = reference(s, t, y, T: Double(T), a: Double(a))
                    s.data[i] = keep - h; let down = reference(s, t, y, T: Double(T), a: Double(a))
                    s.data[i] = keep
                    let numeric = (up - down) / Double(2 * h)
                    XCTAssertEqual(Double(grad.data[i]), numeric, accuracy: 2e-4 + 1e-3 * abs(numeric), "T \(T) a \(a) entry \(i)")
                }
            }
        }
    }

    func testSpecialCases() {
        let s = randomLogits(4, 10, 3), y: [Int32] = [1, 2, 3, 9]
        // a = 0 is plain cross-entropy.
        let kd0 = KDLoss.lossAndGrad(student: s, teacher: randomLogits(4, 10, 4), labels: y[...], temperature: 3, alpha: 0)
        let ce = CrossEntropy.lossAndGrad(s, y[...])
        XCTAssertEqual(kd0.loss, ce.loss, accuracy: 1e-5)
        for (g1, g2) in zip(kd0.grad.data, ce.grad.data) { XCTAssertEqual(g1, g2, accuracy: 1e-6) }
        // a = 1 with the teacher equal to the student: KL = 0 and zero gradient.
        let same = KDLoss.lossAndGrad(student: s, teacher: s, labels: y[...], temperature: 2, alpha: 1)
        XCTAssertEqual(same.loss, 0, accuracy: 1e-9)
        XCTAssert(same.grad.data.allSatisfy { abs($0) < 1e-7 })
        // The normalizer replaces the batch size (data-parallel shards).
        let full = KDLoss.lossAndGrad(student: s, teacher: randomLogits(4, 10, 5), labels: y[...], temperature: 2, alpha: 0.5)
        let norm = KDLoss.lossAndGrad(student: s, teacher: randomLogits(4, 10, 5), labels: y[...], temperature: 2, alpha: 0.5, normalizer: 8)
        XCTAssertEqual(norm.loss, full.loss / 2, accuracy: 1e-9)
        for (g1, g2) in zip(norm.grad.data, full.grad.data) { XCTAssertEqual(g1, g2 / 2, accuracy: 1e-7) }
    }

    func testCheckRejectsBadSettings() {
        XCTAssertThrowsError(try KDLoss.check(temperature: 0, alpha: 0.5))
        XCTAssertThrowsError(try KDLoss.check(temperature: -1, alpha: 0.5))
        XCTAssertThrowsError(try KDLoss.check(temperature: .infinity, alpha: 0.5))
        XCTAssertThrowsError(try KDLoss.check(temperature: 1, alpha: 1.01))
        XCTAssertThrowsError(try KDLoss.check(temperature: 1, alpha: -0.1))
        XCTAssertNoThrow(try KDLoss.check(temperature: 0.5, alpha: 0))
        XCTAssertNoThrow(try KDLoss.check(temperature: 4, alpha: 1))
    }

    /// The LossFunction looks teacher rows up by dataset index, and shards of a
    /// batch with the global normalizer add up to the whole batch.
    func testLossFunctionLooksUpRowsAndShardsSum() {
        let all = randomLogits(20, 6, 6)
        let loss = kdLoss(teacherLogits: all, temperature: 3, alpha: 0.7)
        let indices = [17, 2, 9, 4, 11, 0][...]
        let labels: [Int32] = [5, 0, 1, 2, 3, 4]
        let s = randomLogits(6, 6, 7)
        let rows = Tensor(shape: [6, 6], data: indices.flatMap { Array(all.data[$0 * 6..<$0 * 6 + 6]) })
        let direct = KDLoss.lossAndGrad(student: s, teacher: rows, labels: labels[...], temperature: 3, alpha: 0.7)
        let (l, g) = loss(s, indices, labels[...], 6)
        XCTAssertEqual(l, direct.loss, accuracy: 1e-12); XCTAssertEqual(g.data, direct.grad.data)
        // Two shards of 3 rows each, normalizer 6.
        let s1 = Tensor(shape: [3, 6], data: Array(s.data[0..<18])), s2 = Tensor(shape: [3, 6], data: Array(s.data[18..<36]))
        let (l1, g1) = loss(s1, indices.prefix(3), labels[0..<3], 6)
        let (l2, g2) = loss(s2, indices.suffix(3), labels[3..<6], 6)
        XCTAssertEqual(l1 + l2, l, accuracy: 1e-9)
        for (x, y) in zip(g1.data + g2.data, g.data) { XCTAssertEqual(x, y, accuracy: 1e-7) }
    }

    /// End to end: a student distilled (a = 1) from a teacher agrees with it
    /// more than a student trained on labels alone from the same init and order.
    func testDistillationTransfersTheTeachersFunction() throws {
        var rng = RandomStream("toy-data", 0)
        let n = 600, side = 6
        let images = (0..<n * side * side).map { _ in rng.nextUnit() }
        let labels = (0..<n).map { _ in Int32(rng.next() % 3) }   // random labels: only a teacher carries structure
        let data = ImageDataset(images: images, labels: labels, rows: side, cols: side, classes: 3)
        let teacher = Model(.mlp([16]), inputSide: side, classes: 3, seed: 1)
        let teacherLogits = try TeacherLogits(model: teacher, data: data)
        func student(_ loss: @escaping LossFunction) throws -> Model {
            let m = Model(.mlp([32]), inputSide: side, classes: 3, seed: 2)
            try train(m, on: data, settings: TrainingSettings(epochs: 15, lr: 0.1, momentum: 0.9, batch: 32, schedule: .constant), seed: 3, loss: { _ in loss })
            return m
        }
        let kd = try student(kdLoss(teacherLogits: teacherLogits.logits, temperature: 2, alpha: 1))
        let ce = try student(crossEntropyLoss)
        let agreeKD = FunctionalMetrics.compare(teacher, kd, on: data).agreement
        let agreeCE = FunctionalMetrics.compare(teacher, ce, on: data).agreement
        XCTAssertGreaterThan(agreeKD, 0.9)
        XCTAssertGreaterThan(agreeKD, agreeCE + 0.2)
    }
}
