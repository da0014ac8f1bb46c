/// Per-channel standardisation: x' = (x - mean[c]) / std[c], with the mean
/// and (population) standard deviation of each channel over every image and
/// pixel. The test split is normalised with the training split's statistics,
/// so both see the same transform.
extension ImageDataset {
    /// Mean and population standard deviation of each channel, in Double
    /// (two passes: the mean first, so the variance does not cancel).
    public func channelStatistics() -> (mean: [Double], std: [Double]) {
        let plane = rows * cols, n = Double(count * plane)
        var sums = [Double](repeating: 0, count: channels), squares = [Double](repeating: 0, count: channels)
        guard count > 0, plane > 0 else { return (sums, squares) }
        images.withUnsafeBufferPointer { x in
            for i in 0..<count {
                for c in 0..<channels {
                    let base = (i * channels + c) * plane
                    var s = 0.0
                    for p in 0..<plane { s += Double(x[base + p]) }
                    sums[c] += s
                }
            }
            let mean = sums.map { $0 / n }
            for i in 0..<count {
                for c in 0..<channels {
                    let base = (i * channels + c) * plane, m = mean[c]
                    var s = 0.0
                    for p in 0..<plane { let d = Double(x[base + p]) - m; s += d * d }
                    squares[c] += s
                }
            }
        }
        return (sums.map { $0 / n }, squares.map { ($0 / n).squareRoot() })
    }

    /// The images standardised per channel. A channel of zero spread is only
    /// shifted (dividing by 0 would make every pixel NaN or infinite).
    public func normalized(mean: [Double], std: [Double]) -> ImageDataset {
        precondition(mean.count == channels && std.count == channels, "one mean and one std per channel")
        let plane = rows * cols
        let shift = mean.map { Float($0) }
        let scale = std.map { $0 > 0 ? Float(1 / $0) : 1 }
        var out = [Float](repeating: 0, count: images.count)
        images.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                for i in 0..<count {
                    for c in 0..<channels {
                        let base = (i * channels + c) * plane, m = shift[c], s = scale[c]
                        for p in 0..<plane { y[base + p] = (x[base + p] - m) * s }
                    }
                }
            }
        }
        return ImageDataset(images: out, labels: labels, channels: channels, rows: rows, cols: cols, classes: classes)
    }
}
