import Foundation
import SeededRandom

/// Images as rows of Float pixels ([count, channels*rows*cols], each row in
/// (channel, row, column) order as PyTorch's CHW), with integer labels.
/// MNIST-layout pixels are in [0, 1]; CIFAR's are normalised per channel.
public struct ImageDataset: Sendable {
    public let images: [Float]
    public let labels: [Int32]
    public let count: Int
    public let channels: Int
    public let rows: Int
    public let cols: Int
    public let classes: Int
    public var featureCount: Int { channels * rows * cols }

    public init(images: [Float], labels: [Int32], channels: Int = 1, rows: Int, cols: Int, classes: Int = 10) {
        precondition(channels >= 1 && images.count == labels.count * channels * rows * cols)
        self.images = images; self.labels = labels; self.count = labels.count
        self.channels = channels; self.rows = rows; self.cols = cols; self.classes = classes
    }

    /// The examples at `indices`, packed contiguously (a batch).
    public func gather(_ indices: ArraySlice<Int>) -> (images: [Float], labels: [Int32]) {
        let f = featureCount
        let x = [Float](unsafeUninitializedCapacity: indices.count * f) { dst, count in
            images.withUnsafeBufferPointer { src in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * f).initialize(from: src.baseAddress! + i * f, count: f)
                }
            }
            count = indices.count * f
        }
        return (x, indices.map { labels[$0] })
    }

    public func subset(_ n: Int) -> ImageDataset {
        let m = min(n, count)
        return ImageDataset(images: Array(images[0..<m * featureCount]), labels: Array(labels[0..<m]),
                            channels: channels, rows: rows, cols: cols, classes: classes)
    }
}

/// The four files of the MNIST layout in one directory (Fashion-MNIST by default).
public enum MNISTLayout {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The layout's files, each raw or gzipped.
    public static let names = ["train", "t10k"].flatMap { ["\($0)-images-idx3-ubyte", "\($0)-labels-idx1-ubyte"] }

    public static func load(directory: String = defaultDirectory, split: Split) throws -> ImageDataset {
        let imagesPath = try locate(directory, "\(split.prefix)-images-idx3-ubyte")
        let labelsPath = try locate(directory, "\(split.prefix)-labels-idx1-ubyte")
        let imgs = try IDXFile.read(path: imagesPath, expectDims: 3)
        let lbls = try IDXFile.read(path: labelsPath, expectDims: 1)
        guard imgs.dims[0] == lbls.dims[0] else {
            throw DatasetError(file: labelsPath, problem: "\(lbls.dims[0]) labels but \(imagesPath) has \(imgs.dims[0]) images")
        }
        guard imgs.dims[1] == imgs.dims[2] else {
            throw DatasetError(file: imagesPath, problem: "images are \(imgs.dims[1])x\(imgs.dims[2]); expected square images")
        }
        let labels = lbls.bytes.map { Int32($0) }
        if let bad = labels.first(where: { $0 > 9 }) {
            throw DatasetError(file: labelsPath, problem: "label \(bad) outside 0...9")
        }
        let scale: Float = 1.0 / 255.0
        return ImageDataset(images: imgs.bytes.map { Float($0) * scale }, labels: labels,
                            rows: imgs.dims[1], cols: imgs.dims[2])
    }

    public enum Split: String, Sendable {
        case train, test
        var prefix: String { self == .train ? "train" : "t10k" }
    }

    /// `name.gz` if present, else the raw `name`.
    static func locate(_ dir: String, _ name: String) throws -> String {
        let base = (dir as NSString).appendingPathComponent(name)
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw DatasetError(file: base + "[.gz]", problem: "file not found (expected the MNIST layout in \(dir))")
    }
}

/// The order in which an epoch visits the examples: a permutation drawn from
/// (seed, epoch), cut into batches; a rank of a data-parallel group takes its
/// contiguous shard of every batch.
public struct EpochOrder {
    public let order: [Int]
    public let batchSize: Int

    public init(count: Int, batchSize: Int, seed: UInt64, epoch: Int) {
        var rng = RandomStream("shuffle", seed, epoch)
        order = rng.permutation(count)
        self.batchSize = batchSize
    }

    public var batchCount: Int { (order.count + batchSize - 1) / batchSize }

    public func batch(_ i: Int) -> ArraySlice<Int> {
        order[i * batchSize..<min(order.count, (i + 1) * batchSize)]
    }

    /// Shard `rank` of `size` of a batch: contiguous, sizes differing by at most one.
    public static func shard(_ batch: ArraySlice<Int>, rank: Int, size: Int) -> ArraySlice<Int> {
        let n = batch.count
        let lo = batch.startIndex + n * rank / size
        let hi = batch.startIndex + n * (rank + 1) / size
        return batch[lo..<hi]
    }
}
