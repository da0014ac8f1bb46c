import Foundation

/// Softmax cross-entropy of logits [B, K] against integer labels.
/// loss = sum_b -log softmax(z_b)[y_b] / normalizer; dz = (softmax - onehot) / normalizer.
/// The normalizer is the batch size, or the global batch size when a rank
/// holds one shard of a data-parallel batch (then the allreduced sum is the mean).
public enum CrossEntropy {
    public static func lossAndGrad(_ logits: Tensor, _ labels: ArraySlice<Int32>, normalizer: Int? = nil) -> (loss: Double, grad: Tensor) {
        let (b, k) = (logits.shape[0], logits.shape[1])
        let scale = 1 / Float(normalizer ?? b)
        var grad = Tensor(zeros: logits.shape)
        var loss = 0.0
        logits.data.withUnsafeBufferPointer { zp in
            grad.data.withUnsafeMutableBufferPointer { gp in
                for r in 0..<b {
                    let z = zp.baseAddress! + r * k, g = gp.baseAddress! + r * k
                    let y = Int(labels[labels.startIndex + r])
                    let logZ = logSumExp(z, k)
                    loss += Double(logZ - z[y])
                    for j in 0..<k { g[j] = Float(exp(Double(z[j] - logZ))) * scale }
                    g[y] -= scale
                }
            }
        }
        return (loss * Double(scale), grad)
    }

    @inline(__always)
    static func logSumExp(_ z: UnsafePointer<Float>, _ k: Int) -> Float {
        var m = -Float.infinity
        for j in 0..<k { m = max(m, z[j]) }
        var s: Double = 0
        for j in 0..<k { s += exp(Double(z[j] - m)) }
        return m + Float(log(s))
    }
}

/// Row-wise softmax of [B, K] logits at temperature T.
public func softmax(_ logits: Tensor, temperature: Float = 1) -> Tensor {
    let (b, k) = (logits.shape[0], logits.shape[1])
    var out = Tensor(zeros: logits.shape)
    logits.data.withUnsafeBufferPointer { zp in
        out.data.withUnsafeMutableBufferPointer { op in
            for r in 0..<b {
                let z = zp.baseAddress! + r * k
                var m = -Float.infinity
                for j in 0..<k { m = max(m, z[j] / temperature) }
                var s: Float = 0
                for j in 0..<k { let e = exp(z[j] / temperature - m); op[r * k + j] = e; s += e }
                for j in 0..<k { op[r * k + j] /= s }
            }
        }
    }
    return out
}
