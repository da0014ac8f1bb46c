import SeededRandom

/// Training-time augmentation of a batch.
public enum Augmentation: String, Codable, Sendable, CaseIterable {
    case none
    /// A random crop of the image padded by 4 zero pixels on every side (a
    /// shift of -4...4 rows and columns), then a horizontal flip with
    /// probability 1/2: the CIFAR recipe of the ResNet and VGG papers. The
    /// padding is 0 in the stored (normalised) pixels, the channel mean.
    case cropFlip = "crop-flip"

    public static let padding = 4
}

extension ImageDataset {
    /// The examples at `indices` packed as by `gather(_:)`, augmented. Each
    /// example draws from its own stream ("augment", seed, epoch, index), in
    /// the order dx, dy, flip: the same pixels whatever batch, shard, thread
    /// or rank gathers it.
    public func gather(_ indices: ArraySlice<Int>, augmentation: Augmentation, seed: UInt64, epoch: Int) -> (images: [Float], labels: [Int32]) {
        guard augmentation == .cropFlip else { return gather(indices) }
        let f = featureCount, plane = rows * cols, span = UInt64(2 * Augmentation.padding + 1)
        var x = [Float](repeating: 0, count: indices.count * f)
        var y = [Int32](repeating: 0, count: indices.count)
        images.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    var rng = RandomStream("augment", seed, epoch, i)
                    let dx = Int(rng.next() % span) - Augmentation.padding
                    let dy = Int(rng.next() % span) - Augmentation.padding
                    let flip = rng.next() & 1 == 1
                    y[row] = labels[i]
                    // out(c, r, k) = in(c, r + dy, k' + dx), k' = k or its mirror; 0 outside the image
                    let lo = max(0, -dy), hi = min(rows, rows - dy)   // rows that come from inside the image
                    for c in 0..<channels where lo < hi {
                        let from = i * f + c * plane, to = row * f + c * plane
                        for r in lo..<hi {
                            let s = from + (r + dy) * cols, d = to + r * cols
                            for k in 0..<cols {
                                let sk = (flip ? cols - 1 - k : k) + dx
                                if sk >= 0 && sk < cols { dst[d + k] = src[s + sk] }
                            }
                        }
                    }
                }
            }
        }
        return (x, y)
    }
}
