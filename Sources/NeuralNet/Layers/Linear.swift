/// y = x W^T + b.  x [B, in], W [out, in], b [out], y [B, out].
public final class Linear: Layer {
    public let weight: Parameter
    public let bias: Parameter
    let inputs: Int, outputs: Int
    /// False for the first layer: nobody needs dLoss/dImage.
    public var computesInputGrad = true
    private var x: Tensor?

    public init(_ name: String, _ inputs: Int, _ outputs: Int) {
        self.inputs = inputs; self.outputs = outputs
        weight = Parameter(name: "\(name).weight", shape: [outputs, inputs], fanIn: inputs)
        bias = Parameter(name: "\(name).bias", shape: [outputs], fanIn: inputs)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let b = x.shape[0]
        precondition(x.count == b * inputs)
        let y = Tensor(uninitialized: [b, outputs]) { yp in
            for r in 0..<b { (yp + r * outputs).update(from: bias.value.baseAddress!, count: outputs) }
            x.data.withUnsafeBufferPointer { xp in
                gemm(false, true, m: b, n: outputs, k: inputs, xp.baseAddress!, weight.value.baseAddress!, yp, beta: 1)
            }
        }
        if training { self.x = x }
        return y
    }

    /// dW = dy^T x, db = sum_rows dy, dx = dy W.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x else { fatalError("Linear.backward before a training forward") }
        let b = x.shape[0]
        let db = bias.grad.baseAddress!
        dy.data.withUnsafeBufferPointer { dyp in
            x.data.withUnsafeBufferPointer { xp in
                gemm(true, false, m: outputs, n: inputs, k: b, dyp.baseAddress!, xp.baseAddress!, weight.grad.baseAddress!, beta: 1)
            }
            for r in 0..<b {
                let row = dyp.baseAddress! + r * outputs
                for o in 0..<outputs { db[o] += row[o] }
            }
        }
        self.x = nil
        guard computesInputGrad else { return Tensor(zeros: [0]) }
        return Tensor(uninitialized: x.shape) { dxp in
            dy.data.withUnsafeBufferPointer { dyp in
                gemm(false, false, m: b, n: inputs, k: outputs, dyp.baseAddress!, weight.value.baseAddress!, dxp)
            }
        }
    }
}
