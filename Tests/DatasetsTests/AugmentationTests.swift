import Datasets
import Foundation
import SeededRandom
import XCTest

final class AugmentationTests: XCTestCase {
    /// 300 examples of 3 channels of 5x6, every pixel distinct and nonzero.
    let data = ImageDataset(images: (0..<300 * 90).map { Float($0 + 1) }, labels: (0..<300).map { Int32($0 % 7) }, channels: 3, rows: 5, cols: 6)

    /// The documented draws of example `i`: dx, dy in -4...4, then the flip.
    func draws(_ i: Int, seed: UInt64, epoch: Int) -> (dx: Int, dy: Int, flip: Bool) {
        var rng = RandomStream("augment", seed, epoch, i)
        let dx = Int(rng.next() % 9) - 4, dy = Int(rng.next() % 9) - 4
        return (dx, dy, rng.next() & 1 == 1)
    }

    /// Naively: pad each channel by 4 zeros, cut the window at (4 + dy, 4 + dx), reverse its rows if flipped.
    func naive(_ i: Int, seed: UInt64, epoch: Int) -> [Float] {
        let (dx, dy, flip) = draws(i, seed: seed, epoch: epoch)
        let (h, w) = (data.rows, data.cols)
        var out: [Float] = []
        for c in 0..<data.channels {
            var padded = [[Float]](repeating: [Float](repeating: 0, count: w + 8), count: h + 8)
            for r in 0..<h { for k in 0..<w { padded[r + 4][k + 4] = data.images[i * 90 + c * 30 + r * w + k] } }
            for r in 0..<h {
                let window = Array(padded[r + 4 + dy][(4 + dx)..<(4 + dx + w)])
                out += flip ? window.reversed() : window
            }
        }
        return out
    }

    func mirrored(_ x: ArraySlice<Float>) -> [Float] {
        stride(from: x.startIndex, to: x.endIndex, by: 6).flatMap { x[$0..<$0 + 6].reversed() }
    }

    func testCropFlipMatchesANaiveImplementation() {
        let indices = Array((0..<300).reversed())[...]
        let (x, y) = data.gather(indices, augmentation: .cropFlip, seed: 11, epoch: 3)
        for (row, i) in indices.enumerated() {
            XCTAssertEqual(Array(x[row * 90..<(row + 1) * 90]), naive(i, seed: 11, epoch: 3), "example \(i)")
            XCTAssertEqual(y[row], data.labels[i])
        }
        // the draws cover every shift and both flips
        let all = (0..<300).map { draws($0, seed: 11, epoch: 3) }
        XCTAssertEqual(Set(all.map(\.dx)), Set(-4...4))
        XCTAssertEqual(Set(all.map(\.dy)), Set(-4...4))
        XCTAssertEqual(Double(all.filter(\.flip).count) / 300, 0.5, accuracy: 0.1)
    }

    /// Unshifted examples come back as they were, or mirrored: mirroring again gives the original.
    func testFlipTwiceIsTheIdentity() {
        let indices = Array(0..<300)[...]
        var flipped = 0, kept = 0
        for epoch in 0..<6 {
            let (x, _) = data.gather(indices, augmentation: .cropFlip, seed: 5, epoch: epoch)
            for i in indices {
                let d = draws(i, seed: 5, epoch: epoch)
                guard d.dx == 0 && d.dy == 0 else { continue }
                let out = x[i * 90..<(i + 1) * 90], original = Array(data.images[i * 90..<(i + 1) * 90])
                if d.flip {
                    XCTAssertNotEqual(Array(out), original)
                    XCTAssertEqual(mirrored(mirrored(out)[...]), Array(out))
                    XCTAssertEqual(mirrored(out), original)
                    flipped += 1
                } else {
                    XCTAssertEqual(Array(out), original)
                    kept += 1
                }
            }
        }
        XCTAssertGreaterThan(flipped, 0)
        XCTAssertGreaterThan(kept, 0)
    }

    func testDeterministicAndIndependentOfBatchAndShard() {
        let order = EpochOrder(count: 300, batchSize: 64, seed: 9, epoch: 1)
        let batch = order.batch(2)
        let whole = data.gather(batch, augmentation: .cropFlip, seed: 9, epoch: 1)
        XCTAssertEqual(whole.images, data.gather(batch, augmentation: .cropFlip, seed: 9, epoch: 1).images)
        XCTAssertNotEqual(whole.images, data.gather(batch, augmentation: .cropFlip, seed: 9, epoch: 2).images)
        XCTAssertNotEqual(whole.images, data.gather(batch, augmentation: .cropFlip, seed: 10, epoch: 1).images)
        for size in 1...4 {
            let parts = (0..<size).map { data.gather(EpochOrder.shard(batch, rank: $0, size: size), augmentation: .cropFlip, seed: 9, epoch: 1) }
            XCTAssertEqual(parts.flatMap(\.images), whole.images, "\(size) shards")
            XCTAssertEqual(parts.flatMap(\.labels), whole.labels)
        }
        // alone, or in another batch at another position: the same pixels
        let i = batch[batch.startIndex + 17]
        let alone = data.gather([i][...], augmentation: .cropFlip, seed: 9, epoch: 1).images
        XCTAssertEqual(alone, Array(whole.images[17 * 90..<18 * 90]))
        let other = data.gather([3, i, 8][...], augmentation: .cropFlip, seed: 9, epoch: 1).images
        XCTAssertEqual(Array(other[90..<180]), alone)
    }

    func testNoneIsThePlainGather() {
        let indices = [5, 0, 299, 17][...]
        let plain = data.gather(indices)
        let none = data.gather(indices, augmentation: .none, seed: 1, epoch: 0)
        XCTAssertEqual(none.images, plain.images)
        XCTAssertEqual(none.labels, plain.labels)
        XCTAssertEqual(Augmentation(rawValue: "crop-flip"), .cropFlip)
    }

    /// Images smaller than the shift: whole rows and columns fall outside, no trap.
    func testTinyImages() {
        let tiny = ImageDataset(images: (0..<50 * 4).map { Float($0 + 1) }, labels: [Int32](repeating: 0, count: 50), rows: 2, cols: 2)
        let (x, _) = tiny.gather(Array(0..<50)[...], augmentation: .cropFlip, seed: 2, epoch: 0)
        for i in 0..<50 {
            let d = draws(i, seed: 2, epoch: 0)
            if abs(d.dx) >= 2 || abs(d.dy) >= 2 { XCTAssertEqual(Array(x[i * 4..<i * 4 + 4]), [0, 0, 0, 0]) }
        }
    }
}
