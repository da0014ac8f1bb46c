/// Mean over each channel's plane (PyTorch's AdaptiveAvgPool2d(1) then flatten):
/// x [C, H, W, B] -> y [B, C]; backward spreads dy / (H W) over the plane.
public final class GlobalAvgPool2d: Layer {
    private var inShape: [Int] = []
    public init() {}

    public func outputSide(_ side: Int) -> Int { 1 }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (c, plane, b) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        if training { inShape = x.shape }
        let scale = 1 / Float(plane)
        var y = Tensor(zeros: [b, c])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                var sums = [Float](repeating: 0, count: b)
                for ch in 0..<c {
                    for i in 0..<b { sums[i] = 0 }
                    for p in 0..<plane {
                        let row = xp.baseAddress! + (ch * plane + p) * b
                        for i in 0..<b { sums[i] += row[i] }
                    }
                    for i in 0..<b { yp[i * c + ch] = sums[i] * scale }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let (c, plane, b) = (inShape[0], inShape[1] * inShape[2], inShape[3])
        let scale = 1 / Float(plane)
        return Tensor(uninitialized: inShape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                for ch in 0..<c {
                    for p in 0..<plane {
                        let row = dx + (ch * plane + p) * b
                        for i in 0..<b { row[i] = g[i * c + ch] * scale }
                    }
                }
            }
        }
    }
}
