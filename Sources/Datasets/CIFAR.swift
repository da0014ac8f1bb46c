import Foundation
import Safetensors

/// Which labels of CIFAR-100 to train on: the 100 fine classes or the 20
/// coarse superclasses. Other layouts have one set of labels, `.fine`.
public enum LabelSet: String, Codable, Sendable, CaseIterable {
    case fine, coarse
}

/// The CIFAR binary layouts of the official tarballs (cifar-10-batches-bin,
/// cifar-100-binary): fixed-size records of label byte(s) then 3072 pixel
/// bytes, a 32x32 plane of red, then green, then blue (already CHW).
public enum CIFAR: String, Sendable, CaseIterable {
    case cifar10 = "CIFAR-10", cifar100 = "CIFAR-100"

    public static let side = 32, channels = 3
    public static let pixelBytes = channels * side * side

    /// Label bytes before the pixels: CIFAR-100 has a coarse, then a fine label.
    public var labelBytes: Int { self == .cifar10 ? 1 : 2 }
    public var recordBytes: Int { labelBytes + CIFAR.pixelBytes }

    public func files(_ split: MNISTLayout.Split) -> [String] {
        switch (self, split) {
        case (.cifar10, .train): (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, .test): ["test_batch.bin"]
        case (.cifar100, .train): ["train.bin"]
        case (.cifar100, .test): ["test.bin"]
        }
    }

    public var allFiles: [String] { files(.train) + files(.test) }

    public func classes(_ labels: LabelSet) -> Int {
        self == .cifar10 ? 10 : labels == .coarse ? 20 : 100
    }

    /// One split with pixels scaled to [0, 1] (not normalised).
    public func load(directory: String, split: MNISTLayout.Split, labels: LabelSet) throws -> ImageDataset {
        let paths = try locate(directory, split)
        let counts = try checkSizes(paths, directory: directory)
        let records = counts.reduce(0, +)
        var images = [Float](repeating: 0, count: records * CIFAR.pixelBytes)
        var ys = [Int32](repeating: 0, count: records)
        var done = 0
        let labelOffset = self == .cifar100 && labels == .fine ? 1 : 0
        for (path, expected) in zip(paths, counts) {
            let bytes = try read(path, records: expected)
            bytes.withUnsafeBufferPointer { b in
                images.withUnsafeMutableBufferPointer { x in
                    for r in 0..<expected {
                        let src = r * recordBytes, dst = (done + r) * CIFAR.pixelBytes
                        ys[done + r] = Int32(b[src + labelOffset])
                        for p in 0..<CIFAR.pixelBytes { x[dst + p] = Float(b[src + labelBytes + p]) * (1 / 255 as Float) }
                    }
                }
            }
            done += expected
        }
        return ImageDataset(images: images, labels: ys, channels: CIFAR.channels, rows: CIFAR.side, cols: CIFAR.side,
                            classes: classes(labels))
    }

    /// Mean and population std of each channel of the training split, on the
    /// [0, 1] scale, from exact integer sums of the bytes (one file in memory
    /// at a time): the same numbers whichever split is being loaded.
    public func trainStatistics(directory: String) throws -> (mean: [Double], std: [Double]) {
        let paths = try locate(directory, .train)
        let counts = try checkSizes(paths, directory: directory, keepsPixels: false)
        var sums = [Int](repeating: 0, count: CIFAR.channels), squares = sums
        let plane = CIFAR.side * CIFAR.side
        for (path, expected) in zip(paths, counts) {
            let bytes = try read(path, records: expected)
            bytes.withUnsafeBufferPointer { b in
                for r in 0..<expected {
                    for c in 0..<CIFAR.channels {
                        let base = r * recordBytes + labelBytes + c * plane
                        var s = 0, q = 0
                        for p in 0..<plane { let v = Int(b[base + p]); s += v; q += v * v }
                        sums[c] += s; squares[c] += q
                    }
                }
            }
        }
        let n = Double(counts.reduce(0, +) * plane)
        let mean = sums.map { Double($0) / n / 255 }
        let std = (0..<CIFAR.channels).map { c in max(0, Double(squares[c]) / n / (255 * 255) - mean[c] * mean[c]).squareRoot() }
        return (mean, std)
    }

    /// The split's files in `directory`; a missing one is named with the whole set expected.
    func locate(_ directory: String, _ split: MNISTLayout.Split) throws -> [String] {
        let paths = files(split).map { (directory as NSString).appendingPathComponent($0) }
        let missing = zip(files(split), paths).filter { !FileManager.default.fileExists(atPath: $0.1) }.map(\.0)
        guard missing.isEmpty else {
            throw DatasetError(file: directory, problem: "missing \(missing.joined(separator: ", ")); the \(rawValue) binary layout expects \(allFiles.joined(separator: ", ")) in this directory")
        }
        return paths
    }

    /// Records in each of `paths`, each a regular file of whole records; the
    /// pixels as floats (if kept: [0, 1] and the normalised copy) and the
    /// largest file's bytes checked against free memory.
    func checkSizes(_ paths: [String], directory: String, keepsPixels: Bool = true) throws -> [Int] {
        var counts: [Int] = [], largest = 0
        for path in paths {
            let size: Int
            do { size = try InputFile.regularSize(path) } catch let e as FileError { throw DatasetError(file: path, problem: e.problem) }
            try checkWhole(size, path)
            counts.append(size / recordBytes)
            largest = max(largest, size)
        }
        let records = counts.reduce(0, +)
        let floats = keepsPixels ? records.multipliedReportingOverflow(by: 2 * 4 * CIFAR.pixelBytes + 4).partialValue : 0
        do { try InputFile.checkMemory(floats + largest, for: "\(records) \(rawValue) images", path: directory) } catch let e as FileError {
            throw DatasetError(file: directory, problem: e.problem)
        }
        return counts
    }

    func checkWhole(_ size: Int, _ path: String) throws {
        guard size > 0 else { throw DatasetError(file: path, problem: "empty; expected \(rawValue) records of \(recordBytes) bytes") }
        guard size % recordBytes == 0 else {
            throw DatasetError(file: path, problem: "truncated or not \(rawValue): \(size) bytes is not a whole number of \(recordBytes)-byte records (\(size / recordBytes) records and \(size % recordBytes) bytes over; a record is \(labelBytes == 1 ? "1 label byte" : "a coarse and a fine label byte") and \(CIFAR.pixelBytes) pixel bytes)")
        }
    }

    /// A file's `records` records, every label in range (its size is checked
    /// again: it may have changed since it was taken).
    func read(_ path: String, records: Int) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try InputFile.read(path) } catch let e as FileError { throw DatasetError(file: path, problem: e.problem) }
        guard bytes.count == records * recordBytes else {
            throw DatasetError(file: path, problem: "changed size while being read: \(bytes.count) bytes, was \(records * recordBytes)")
        }
        let limits = self == .cifar10 ? [("label", 10)] : [("coarse label", 20), ("fine label", 100)]
        for r in 0..<bytes.count / recordBytes {
            for (k, (name, limit)) in limits.enumerated() where Int(bytes[r * recordBytes + k]) >= limit {
                throw DatasetError(file: path, problem: "record \(r): \(name) \(bytes[r * recordBytes + k]) outside 0...\(limit - 1)")
            }
        }
        return bytes
    }
}
