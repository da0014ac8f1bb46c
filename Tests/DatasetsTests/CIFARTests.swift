import Datasets
import Foundation
import XCTest

/// CIFAR-10/100 binary files written here with known pixels and labels; the
/// expected values are computed from the bytes written, not by the reader.
final class CIFARTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "cifar-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Pixel `p` (CHW index within 3072) of record `r` of file `f`: varies over all three.
    func pixel(_ f: Int, _ r: Int, _ p: Int) -> UInt8 { UInt8((f * 101 + r * 37 + p * 13 + (p / 1024) * 50) % 256) }

    func record(_ f: Int, _ r: Int, labels: [UInt8]) -> [UInt8] { labels + (0..<3072).map { pixel(f, r, $0) } }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir!)/\(name)"))
    }

    /// CIFAR-10: five training batches of `n` records and a test batch; label = (file + record) % 10.
    func writeCIFAR10(n: Int = 3) throws {
        for (f, name) in ((1...5).map { "data_batch_\($0).bin" } + ["test_batch.bin"]).enumerated() {
            try write(name, (0..<n).flatMap { record(f, $0, labels: [UInt8((f + $0) % 10)]) })
        }
    }

    /// CIFAR-100: coarse = (file + record) % 20, fine = (file * 7 + record * 11) % 100.
    func writeCIFAR100(train: Int = 6, test: Int = 4) throws {
        for (f, (name, n)) in [("train.bin", train), ("test.bin", test)].enumerated() {
            try write(name, (0..<n).flatMap { record(f, $0, labels: [UInt8((f + $0) % 20), UInt8((f * 7 + $0 * 11) % 100)]) })
        }
    }

    func expectError(_ contains: [String], _ body: () throws -> Any, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { e in
            for c in contains { XCTAssertTrue("\(e)".contains(c), "error '\(e)' should mention '\(c)'", line: line) }
        }
    }

    func testCIFAR10LabelsAndCHWOrder() throws {
        try writeCIFAR10()
        let train = try CIFAR.cifar10.load(directory: dir, split: .train, labels: .fine)
        XCTAssertEqual([train.count, train.channels, train.rows, train.cols, train.classes, train.featureCount], [15, 3, 32, 32, 10, 3072])
        XCTAssertEqual(train.labels, (0..<5).flatMap { f in (0..<3).map { Int32((f + $0) % 10) } })
        // example 7 is record 1 of file 2; channel c, row y, column x at c*1024 + y*32 + x
        for (c, y, x) in [(0, 0, 0), (0, 5, 31), (1, 0, 0), (1, 17, 3), (2, 31, 31)] {
            let p = c * 1024 + y * 32 + x
            XCTAssertEqual(train.images[7 * 3072 + p], Float(pixel(2, 1, p)) / 255, accuracy: 1e-7, "c\(c) y\(y) x\(x)")
        }
        let test = try CIFAR.cifar10.load(directory: dir, split: .test, labels: .fine)
        XCTAssertEqual(test.labels, [5, 6, 7])
        XCTAssertEqual(test.images.prefix(3072).map { Int(($0 * 255).rounded()) }, (0..<3072).map { Int(pixel(5, 0, $0)) })
    }

    func testCIFAR100FineAndCoarse() throws {
        try writeCIFAR100()
        let fine = try CIFAR.cifar100.load(directory: dir, split: .train, labels: .fine)
        let coarse = try CIFAR.cifar100.load(directory: dir, split: .train, labels: .coarse)
        XCTAssertEqual(fine.labels, (0..<6).map { Int32($0 * 11 % 100) })
        XCTAssertEqual(coarse.labels, (0..<6).map { Int32($0 % 20) })
        XCTAssertEqual([fine.classes, coarse.classes], [100, 20])
        XCTAssertEqual(fine.images, coarse.images)
        XCTAssertEqual(fine.images[3 * 3072 + 2048 + 40], Float(pixel(0, 3, 2048 + 40)) / 255, accuracy: 1e-7)
        let test = try ImageData.load(directory: dir, split: .test, labels: .coarse)
        XCTAssertEqual(test.labels, (0..<4).map { Int32((1 + $0) % 20) })
    }

    /// Mean and population std per channel of the training bytes, and every
    /// pixel of both splits standardised by them.
    func testNormalisationUsesTrainingStatistics() throws {
        try writeCIFAR10(n: 4)
        var trainBytes: [[UInt8]] = []
        for f in 0..<5 { for r in 0..<4 { trainBytes.append((0..<3072).map { pixel(f, r, $0) }) } }
        var mean = [Double](repeating: 0, count: 3), std = mean
        for c in 0..<3 {
            let values = trainBytes.flatMap { $0[c * 1024..<(c + 1) * 1024] }.map { Double($0) / 255 }
            mean[c] = values.reduce(0, +) / Double(values.count)
            std[c] = (values.map { ($0 - mean[c]) * ($0 - mean[c]) }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        let (train, test) = try ImageData.load(directory: dir)
        for (data, files) in [(train, Array(0..<5)), (test, [5])] {
            for (k, f) in files.enumerated() {
                for r in 0..<4 {
                    for p in stride(from: 0, to: 3072, by: 97) {
                        let want = (Double(pixel(f, r, p)) / 255 - mean[p / 1024]) / std[p / 1024]
                        XCTAssertEqual(Double(data.images[((k * 4) + r) * 3072 + p]), want, accuracy: 1e-5)
                    }
                }
            }
        }
        let s = train.channelStatistics()
        for c in 0..<3 { XCTAssertEqual(s.mean[c], 0, accuracy: 1e-6); XCTAssertEqual(s.std[c], 1, accuracy: 1e-5) }
        // the [0, 1] pixels' statistics as ImageDataset computes them agree with the bytes'
        let raw = try CIFAR.cifar10.load(directory: dir, split: .train, labels: .fine).channelStatistics()
        for c in 0..<3 { XCTAssertEqual(raw.mean[c], mean[c], accuracy: 1e-7); XCTAssertEqual(raw.std[c], std[c], accuracy: 1e-7) }
        // one split alone is normalised alike
        XCTAssertEqual(try ImageData.load(directory: dir, split: .test).images, test.images)
        XCTAssertEqual(try ImageData.load(directory: dir, split: .train).images, train.images)
    }

    func testNormalizedByHand() {
        // two channels of 1x2: channel 0 = [1, 3], [5, 7]; channel 1 constant 2
        let d = ImageDataset(images: [1, 3, 2, 2, 5, 7, 2, 2], labels: [0, 1], channels: 2, rows: 1, cols: 2)
        let s = d.channelStatistics()
        XCTAssertEqual(s.mean, [4, 2])
        XCTAssertEqual(s.std[0], 5.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.std[1], 0)
        let n = d.normalized(mean: s.mean, std: s.std)
        let r5 = Float(5.0.squareRoot())
        XCTAssertEqual(n.images, [-3 / r5, -1 / r5, 0, 0, 1 / r5, 3 / r5, 0, 0])
        XCTAssertEqual(n.subset(1).channels, 2)
    }

    func testLayoutIsPickedByWhatTheDirectoryHolds() throws {
        expectError([dir, "holds none of the data layouts", "MNIST (train-images-idx3-ubyte[.gz]", "CIFAR-10 (data_batch_1.bin", "CIFAR-100 (train.bin, test.bin)"]) {
            try ImageData.layout(of: self.dir)
        }
        try FileManager.default.createDirectory(atPath: dir + "/cifar-10-batches-bin", withIntermediateDirectories: false)
        expectError(["it has a directory cifar-10-batches-bin: pass that one"]) { try ImageData.load(directory: self.dir) }
        try FileManager.default.removeItem(atPath: dir + "/cifar-10-batches-bin")

        try writeCIFAR100()
        XCTAssertEqual(try ImageData.layout(of: dir), .cifar100)
        XCTAssertEqual(try ImageData.load(directory: dir).train.classes, 100)
        try writeCIFAR10()
        expectError(["more than one layout", "CIFAR-10: data_batch_1.bin", "CIFAR-100: train.bin"]) { try ImageData.layout(of: self.dir) }
        for f in ["train.bin", "test.bin"] { try FileManager.default.removeItem(atPath: "\(dir!)/\(f)") }
        XCTAssertEqual(try ImageData.layout(of: dir), .cifar10)
        let (train, test) = try ImageData.load(directory: dir)
        XCTAssertEqual([train.count, test.count, train.channels, train.classes], [15, 3, 3, 10])
        XCTAssertEqual(ImageData.trainCount(directory: dir), 15)
        expectError([dir, "coarse labels are CIFAR-100's, but this directory holds CIFAR-10"]) { try ImageData.load(directory: self.dir, labels: .coarse) }

        // the MNIST layout: as MNISTLayout reads it, unnormalised
        let mnist = dir + "/mnist"
        try FileManager.default.createDirectory(atPath: mnist, withIntermediateDirectories: false)
        func idx(_ words: [UInt32], _ payload: [UInt8]) -> Data {
            Data(words.flatMap { v in [24, 16, 8, 0].map { UInt8(v >> $0 & 0xff) } } + payload)
        }
        for split in ["train", "t10k"] {
            try idx([0x803, 3, 2, 2], (0..<12).map { UInt8($0 * 20) }).write(to: URL(fileURLWithPath: "\(mnist)/\(split)-images-idx3-ubyte"))
            try idx([0x801, 3], [4, 5, 6]).write(to: URL(fileURLWithPath: "\(mnist)/\(split)-labels-idx1-ubyte"))
        }
        XCTAssertEqual(try ImageData.layout(of: mnist), .mnist)
        XCTAssertNil(ImageData.trainCount(directory: mnist))
        let m = try ImageData.load(directory: mnist)
        XCTAssertEqual(m.train.images, try MNISTLayout.load(directory: mnist, split: .train).images)
        XCTAssertEqual(m.test.images[11], 220 / 255, accuracy: 1e-7)
        XCTAssertEqual([m.train.channels, m.train.rows], [1, 2])
        expectError([mnist, "coarse labels"]) { try ImageData.load(directory: mnist, split: .test, labels: .coarse) }
        expectError(["\(dir!)/nope: data directory not found"]) { try ImageData.load(directory: self.dir + "/nope") }
    }

    // MARK: bad input: every error names the file

    func testWrongSizeNamesFileSizeAndRecordSize() throws {
        try writeCIFAR10()
        // a CIFAR-100 record (3074 bytes) where a CIFAR-10 one belongs
        try write("data_batch_2.bin", record(0, 0, labels: [1, 2]))
        expectError(["\(dir!)/data_batch_2.bin", "3074 bytes is not a whole number of 3073-byte records", "1 records and 1 bytes over"]) {
            try ImageData.load(directory: self.dir)
        }
    }

    func testTruncated() throws {
        try writeCIFAR100()
        let path = "\(dir!)/test.bin"
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        try d.prefix(d.count - 1000).write(to: URL(fileURLWithPath: path))
        expectError(["\(path): truncated", "\(4 * 3074 - 1000) bytes", "3074-byte records"]) { try ImageData.load(directory: self.dir, split: .test) }
        try Data().write(to: URL(fileURLWithPath: path))
        expectError(["\(path): empty"]) { try ImageData.load(directory: self.dir, split: .test) }
    }

    func testLabelOutOfRange() throws {
        try writeCIFAR10()
        try write("data_batch_4.bin", record(0, 0, labels: [3]) + record(0, 1, labels: [10]))
        expectError(["\(dir!)/data_batch_4.bin: record 1: label 10 outside 0...9"]) { try ImageData.load(directory: self.dir) }

        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeCIFAR100()
        try write("test.bin", record(0, 0, labels: [19, 99]) + record(0, 1, labels: [20, 5]))
        expectError(["\(dir!)/test.bin: record 1: coarse label 20 outside 0...19"]) { try ImageData.load(directory: self.dir, split: .test) }
        try write("test.bin", record(0, 0, labels: [19, 99]) + record(0, 1, labels: [0, 100]) + record(0, 2, labels: [0, 200]))
        // the fine labels are checked even when the coarse ones are used
        expectError(["\(dir!)/test.bin: record 1: fine label 100 outside 0...99"]) { try ImageData.load(directory: self.dir, split: .test, labels: .coarse) }
    }

    func testMissingFileNamesWhatWasExpectedWhere() throws {
        try writeCIFAR10()
        try FileManager.default.removeItem(atPath: "\(dir!)/data_batch_3.bin")
        expectError(["\(dir!): missing data_batch_3.bin", "CIFAR-10 binary layout expects data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin in this directory"]) {
            try ImageData.load(directory: self.dir)
        }
        // the test split's statistics come from the training files: they are needed too
        expectError(["missing data_batch_3.bin"]) { try ImageData.load(directory: self.dir, split: .test) }
    }

    func testAFIFOIsRefusedNotWaitedOn() throws {
        try writeCIFAR10()
        let path = "\(dir!)/test_batch.bin"
        try FileManager.default.removeItem(atPath: path)
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        expectError(["\(path): not a regular file (a FIFO)"]) { try ImageData.load(directory: self.dir) }
    }

    func testSizeBeyondMemoryIsRefusedBeforeAllocating() throws {
        try writeCIFAR10()
        // a sparse file of 2^28 records (825 GB), checked against MemAvailable before any is read
        let path = "\(dir!)/data_batch_5.bin"
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        do { try h.truncate(atOffset: UInt64(3073 << 28)) } catch { throw XCTSkip("no sparse file of 825 GB here: \(error)") }
        try h.close()
        expectError([dir!, "268435468 CIFAR-10 images needs", "more than the", "bytes of memory available"]) { try ImageData.load(directory: self.dir) }
    }
}
