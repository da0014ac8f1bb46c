import Foundation
import NeuralNet

/// Hinton's distillation loss, per row of student logits s [B, K] with the
/// teacher's logits t, label y, temperature T and weight a:
///   a * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - a) * CE(s, y)
/// summed over the rows and divided by the normalizer (the global batch size,
/// so the allreduced shards of a data-parallel batch sum to the batch mean).
/// dLoss/ds = [a * T * (softmax(s/T) - softmax(t/T)) + (1 - a) * (softmax(s) - onehot(y))] / normalizer.
/// The T^2 keeps the soft term's gradient scale independent of T.
public enum KDLoss {
    /// Throws unless T is a positive finite number and a is in [0, 1].
    public static func check(temperature: Float, alpha: Float) throws {
        guard temperature > 0, temperature.isFinite else { throw DistillationError("temperature must be a positive number, got \(temperature)") }
        guard (0...1).contains(alpha) else { throw DistillationError("alpha must be in [0, 1], got \(alpha)") }
    }

    /// teacher [B, K] (row r teaches student row r), student [B, K].
    public static func lossAndGrad(student: Tensor, teacher: Tensor, labels: ArraySlice<Int32>,
                                   temperature: Float, alpha: Float, normalizer: Int? = nil) -> (loss: Double, grad: Tensor) {
        precondition(student.shape == teacher.shape, "student \(student.shape) and teacher \(teacher.shape) logits differ in shape")
        let (b, k) = (student.shape[0], student.shape[1])
        let scale = 1 / Double(normalizer ?? b)
        let t = Double(temperature), a = Double(alpha)
        var grad = Tensor(zeros: student.shape)
        var loss = 0.0
        var p = [Double](repeating: 0, count: k), q = p, logQ = p, s1 = p
        student.data.withUnsafeBufferPointer { sp in
            teacher.data.withUnsafeBufferPointer { tp in
                grad.data.withUnsafeMutableBufferPointer { gp in
                    for r in 0..<b {
                        let s = sp.baseAddress! + r * k, z = tp.baseAddress! + r * k, g = gp.baseAddress! + r * k
                        let y = Int(labels[labels.startIndex + r])
                        logSoftmax(z, k, 1 / t, into: &p)            // log p, then p
                        var kl = 0.0
                        logSoftmax(s, k, 1 / t, into: &logQ)
                        for j in 0..<k {
                            let lp = p[j]; p[j] = exp(lp); q[j] = exp(logQ[j])
                            if p[j] > 0 { kl += p[j] * (lp - logQ[j]) }
                        }
                        logSoftmax(s, k, 1, into: &s1)
                        let ce = -s1[y]
                        loss += a * t * t * kl + (1 - a) * ce
                        for j in 0..<k {
                            let hard = exp(s1[j]) - (j == y ? 1 : 0)
                            g[j] = Float((a * t * (q[j] - p[j]) + (1 - a) * hard) * scale)
                        }
                    }
                }
            }
        }
        return (loss * scale, grad)
    }

    /// out[j] = log softmax(z * invT)[j], in Double.
    @inline(__always)
    static func logSoftmax(_ z: UnsafePointer<Float>, _ k: Int, _ invT: Double, into out: inout [Double]) {
        var m = -Double.infinity
        for j in 0..<k { m = max(m, Double(z[j]) * invT) }
        var sum = 0.0
        for j in 0..<k { sum += exp(Double(z[j]) * invT - m) }
        let lse = m + log(sum)
        for j in 0..<k { out[j] = Double(z[j]) * invT - lse }
    }
}

/// The KD loss as a training `LossFunction`: the rows of `teacherLogits`
/// [N, K] (one per training example, computed once) are looked up by the
/// batch's dataset indices.
public func kdLoss(teacherLogits: Tensor, temperature: Float, alpha: Float) -> LossFunction {
    precondition(temperature > 0 && temperature.isFinite && (0...1).contains(alpha), "KD needs T > 0 and alpha in [0, 1] (check with KDLoss.check)")
    let k = teacherLogits.shape[1]
    return { logits, indices, labels, normalizer in
        precondition(logits.shape[1] == k, "student has \(logits.shape[1]) classes, teacher \(k)")
        var rows = [Float](repeating: 0, count: indices.count * k)
        teacherLogits.data.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                for (r, i) in indices.enumerated() {
                    (dst.baseAddress! + r * k).update(from: src.baseAddress! + i * k, count: k)
                }
            }
        }
        return KDLoss.lossAndGrad(student: logits, teacher: Tensor(shape: [indices.count, k], data: rows), labels: labels,
                                  temperature: temperature, alpha: alpha, normalizer: normalizer)
    }
}
