/// PyTorch's BatchNorm2d (affine, track_running_stats) on x [C, H, W, B].
/// Training: per channel, over H, W and every image of the batch (all shards,
/// see BatchSync), mean m and biased variance v; xhat = (x - m) / sqrt(v + eps),
/// y = weight * xhat + bias; running_mean and running_var (unbiased, v n/(n-1))
/// move by `momentum`, num_batches_tracked counts batches. Eval: the running
/// statistics instead of the batch's. weight [C] starts at 1, bias [C] at 0.
public final class BatchNorm2d: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer, runningVar: Buffer, batchesTracked: Buffer
    let channels: Int
    public static let eps = 1e-5
    /// nil: a cumulative average over every batch since the statistics were
    /// reset (PyTorch's momentum=None, used to recompute them).
    public var momentum: Double? = 0.1
    /// Sums a shard's per-channel partial sums over the whole batch (nil: this shard is the batch).
    var sync: (([Double]) -> [Double])?
    private var xhat: Tensor?
    private var invStd: [Float] = []
    private var n = 0.0

    public init(_ name: String, _ channels: Int) {
        self.channels = channels
        weight = Parameter(name: "\(name).weight", shape: [channels], fanIn: 1, initializer: .constant(1))
        bias = Parameter(name: "\(name).bias", shape: [channels], fanIn: 1, initializer: .constant(0))
        runningMean = Buffer(name: "\(name).running_mean", shape: [channels], fill: 0)
        runningVar = Buffer(name: "\(name).running_var", shape: [channels], fill: 1)
        batchesTracked = Buffer(name: "\(name).num_batches_tracked", shape: [], isCounter: true, fill: 0)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [Buffer] { [runningMean, runningVar, batchesTracked] }
    /// The weight scales every position of its channel: one multiply each.
    public func multiplyAddsPerEntry(inputSide: Int) -> [Int] { [inputSide * inputSide, 0] }

    private func total(_ partial: [Double]) -> [Double] { sync?(partial) ?? partial }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[0] == channels, "BatchNorm2d expects [\(channels), H, W, B], got \(x.shape)")
        let plane = x.count / channels
        guard training else {
            let scale = (0..<channels).map { Float(Double(weight.value[$0]) / (runningVar.values[$0] + Self.eps).squareRoot()) }
            let shift = (0..<channels).map { bias.value[$0] - Float(runningMean.values[$0]) * scale[$0] }
            return Tensor(uninitialized: x.shape) { y in
                x.data.withUnsafeBufferPointer { xp in
                    for c in 0..<channels {
                        let (a, b, base) = (scale[c], shift[c], c * plane)
                        for i in base..<base + plane { y[i] = xp[i] * a + b }
                    }
                }
            }
        }
        // mean: sums over every shard; the first entry counts values per channel
        var sums = [Double](repeating: 0, count: channels + 1)
        sums[0] = Double(plane)
        x.data.withUnsafeBufferPointer { xp in
            for c in 0..<channels { sums[c + 1] = channelSum(xp.baseAddress! + c * plane, plane) { $0 } }
        }
        sums = total(sums)
        n = sums[0]
        let mean = (0..<channels).map { sums[$0 + 1] / n }
        // variance in a second pass about the mean: no cancellation
        var squares = [Double](repeating: 0, count: channels)
        x.data.withUnsafeBufferPointer { xp in
            for c in 0..<channels {
                let m = SIMD8<Float>(repeating: Float(mean[c]))
                squares[c] = channelSum(xp.baseAddress! + c * plane, plane) { ($0 - m) * ($0 - m) }
            }
        }
        squares = total(squares)
        let variance = squares.map { $0 / n }
        invStd = variance.map { Float(1 / ($0 + Self.eps).squareRoot()) }
        updateRunningStatistics(mean: mean, variance: variance)
        var xh = Tensor(zeros: [0])
        let y = Tensor(uninitialized: x.shape) { y in
            xh = Tensor(uninitialized: x.shape) { h in
                x.data.withUnsafeBufferPointer { xp in
                    for c in 0..<channels {
                        let (m, s, g, b, base) = (Float(mean[c]), invStd[c], weight.value[c], bias.value[c], c * plane)
                        for i in base..<base + plane {
                            let v = (xp[i] - m) * s
                            h[i] = v
                            y[i] = g * v + b
                        }
                    }
                }
            }
        }
        xhat = xh
        return y
    }

    /// dbias += sum dy, dweight += sum dy xhat (this shard's; the loop sums shards);
    /// dx = weight / sqrt(v + eps) (dy - mean(dy) - xhat mean(dy xhat)), means over the whole batch.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let xhat else { fatalError("BatchNorm2d.backward before a training forward") }
        let plane = dy.count / channels
        var sums = [Double](repeating: 0, count: 2 * channels)
        dy.data.withUnsafeBufferPointer { g in
            xhat.data.withUnsafeBufferPointer { h in
                for c in 0..<channels {
                    let (gc, hc) = (g.baseAddress! + c * plane, h.baseAddress! + c * plane)
                    let s = channelSum(gc, plane) { $0 }
                    let sh = channelProductSum(gc, hc, plane)
                    sums[c] = s; sums[channels + c] = sh
                    bias.grad[c] += Float(s)
                    weight.grad[c] += Float(sh)
                }
            }
        }
        sums = total(sums)
        let dx = Tensor(uninitialized: dy.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                xhat.data.withUnsafeBufferPointer { h in
                    for c in 0..<channels {
                        let k = weight.value[c] * invStd[c]
                        let (mg, mgh, base) = (Float(sums[c] / n), Float(sums[channels + c] / n), c * plane)
                        for i in base..<base + plane { dx[i] = k * (g[i] - mg - h[i] * mgh) }
                    }
                }
            }
        }
        self.xhat = nil
        return dx
    }

    private func updateRunningStatistics(mean: [Double], variance: [Double]) {
        batchesTracked.values[0] += 1
        let m = momentum ?? 1 / batchesTracked.values[0]
        let unbiased = n / max(n - 1, 1)
        for c in 0..<channels {
            runningMean.values[c] = Double(Float((1 - m) * runningMean.values[c] + m * mean[c]))
            runningVar.values[c] = Double(Float((1 - m) * runningVar.values[c] + m * variance[c] * unbiased))
        }
    }

    /// Resets the running statistics to a fresh layer's (mean 0, variance 1, no batches).
    public func resetRunningStatistics() {
        runningMean.values = runningMean.values.map { _ in 0 }
        runningVar.values = runningVar.values.map { _ in 1 }
        batchesTracked.values[0] = 0
    }
}

/// sum term(i) for i < n: eight Float lanes (vector(i) covers i ..< i + 8) over
/// blocks of 256, each block's lanes added in Double. Lanes: a scalar Float sum
/// does not vectorise.
@inline(__always)
func laneSum(_ n: Int, vector: (Int) -> SIMD8<Float>, scalar: (Int) -> Float) -> Double {
    var total = 0.0, i = 0
    while i < n {
        var lanes = SIMD8<Float>()
        let end = min(n, i + 256)
        while i + 8 <= end { lanes += vector(i); i += 8 }
        while i < end { lanes[0] += scalar(i); i += 1 }
        total += lanes.indices.reduce(0.0) { $0 + Double(lanes[$1]) }
    }
    return total
}

@inline(__always) func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

/// sum f(p[i]) for i < n.
@inline(__always)
func channelSum(_ p: UnsafePointer<Float>, _ n: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>) -> Double {
    laneSum(n, vector: { f(load8(p, $0)) }, scalar: { f(SIMD8(repeating: p[$0]))[0] })
}

/// sum p[i] q[i] for i < n.
@inline(__always)
func channelProductSum(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Double {
    laneSum(n, vector: { load8(p, $0) * load8(q, $0) }, scalar: { p[$0] * q[$0] })
}
