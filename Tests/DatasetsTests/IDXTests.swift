import Datasets
import Foundation
import SeededRandom
import XCTest

final class IDXTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func idx(magic: UInt32, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        for v in [magic] + dims { b += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return b + payload
    }

    /// Writes a small MNIST-layout set: `n` images of 2x2 and `labelCount` labels.
    func writeSet(n: Int, labelCount: Int? = nil, imageMagic: UInt32 = 0x803, gzip: Bool = false, truncateImages: Int = 0) throws {
        let images = idx(magic: imageMagic, dims: [UInt32(n), 2, 2], payload: (0..<n * 4).map { UInt8($0 % 256) })
        let labelsN = labelCount ?? n
        let labels = idx(magic: 0x801, dims: [UInt32(labelsN)], payload: (0..<labelsN).map { UInt8($0 % 10) })
        for split in ["train", "t10k"] {
            let ip = "\(dir!)/\(split)-images-idx3-ubyte", lp = "\(dir!)/\(split)-labels-idx1-ubyte"
            try Data(images.dropLast(truncateImages)).write(to: URL(fileURLWithPath: ip))
            try Data(labels).write(to: URL(fileURLWithPath: lp))
            if gzip {
                for p in [ip, lp] {
                    let gz = Process()
                    gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
                    gz.arguments = ["-f", p]
                    try gz.run(); gz.waitUntilExit()
                }
            }
        }
    }

    func expectError(_ contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try MNISTLayout.load(directory: dir, split: .train), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(contains), "error '\(text)' should mention '\(contains)'", file: file, line: line)
            XCTAssertTrue(text.contains(self.dir), "error '\(text)' should name the file", file: file, line: line)
        }
    }

    func testRawAndGzipReadTheSame() throws {
        try writeSet(n: 5)
        let raw = try MNISTLayout.load(directory: dir, split: .train)
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeSet(n: 5, gzip: true)
        let gz = try MNISTLayout.load(directory: dir, split: .train)
        XCTAssertEqual(raw.images, gz.images)
        XCTAssertEqual(raw.labels, [0, 1, 2, 3, 4])
        XCTAssertEqual(raw.images[5], 5 / 255, accuracy: 1e-7)
        XCTAssertEqual(raw.rows, 2)
    }

    func testMissingFile() throws { expectError("file not found") }

    func testWrongMagic() throws {
        try writeSet(n: 3, imageMagic: 0x801)
        expectError("wrong magic number 0x00000801, expected 0x00000803")
    }

    func testTruncated() throws {
        try writeSet(n: 3, truncateImages: 2)
        expectError("truncated")
    }

    func testTruncatedGzip() throws {
        try writeSet(n: 300, gzip: true)
        let p = "\(dir!)/train-images-idx3-ubyte.gz"
        let d = try Data(contentsOf: URL(fileURLWithPath: p))
        try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: p))
        expectError("train-images")
    }

    func testCountMismatch() throws {
        try writeSet(n: 4, labelCount: 3)
        expectError("3 labels but")
    }

    func testFashionMNIST() throws {
        let train = try MNISTLayout.load(split: .train)
        let test = try MNISTLayout.load(split: .test)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual(train.rows, 28)
        let mean = train.images.reduce(0.0) { $0 + Double($1) } / Double(train.images.count)
        XCTAssertEqual(mean, 0.2860, accuracy: 0.0005)
        XCTAssertEqual(Set(train.labels), Set(0...9))
    }
}

final class OrderTests: XCTestCase {
    func testShuffleIsSeededPermutation() {
        let a = EpochOrder(count: 1000, batchSize: 64, seed: 7, epoch: 2)
        let b = EpochOrder(count: 1000, batchSize: 64, seed: 7, epoch: 2)
        let c = EpochOrder(count: 1000, batchSize: 64, seed: 7, epoch: 3)
        XCTAssertEqual(a.order, b.order)
        XCTAssertNotEqual(a.order, c.order)
        XCTAssertEqual(a.order.sorted(), Array(0..<1000))
        XCTAssertEqual(a.batchCount, 16)
        XCTAssertEqual(a.batch(15).count, 1000 - 15 * 64)
    }

    func testShardsPartitionEveryBatch() {
        let order = EpochOrder(count: 103, batchSize: 10, seed: 1, epoch: 0)
        for size in 1...4 {
            for b in 0..<order.batchCount {
                let batch = order.batch(b)
                let shards = (0..<size).map { EpochOrder.shard(batch, rank: $0, size: size) }
                XCTAssertEqual(Array(shards.joined()), Array(batch))
                XCTAssertLessThanOrEqual(shards.map(\.count).max()! - shards.map(\.count).min()!, 1)
            }
        }
    }

    func testRandomStreamMoments() {
        var r = RandomStream("test", 1)
        let n = 200_000
        var s = 0.0, s2 = 0.0, u = 0.0
        for _ in 0..<n { let x = Double(r.normal()); s += x; s2 += x * x; u += Double(r.nextUnit()) }
        XCTAssertEqual(s / Double(n), 0, accuracy: 0.01)
        XCTAssertEqual(s2 / Double(n), 1, accuracy: 0.01)
        XCTAssertEqual(u / Double(n), 0.5, accuracy: 0.005)
        var r1 = RandomStream("a", 1), r2 = RandomStream("a", 2)
        XCTAssertNotEqual(r1.next(), r2.next())
    }
}

/// Sizes and files checked before they are trusted (issue 18).
final class IDXHostileTests: XCTestCase {
    let dir = NSTemporaryDirectory() + "idx-hostile-\(getpid())"

    override func setUpWithError() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func file(_ words: [UInt32], _ payload: [UInt8] = []) throws -> String {
        var b: [UInt8] = []
        for v in words { b += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        let path = dir + "/f-\(UUID().uuidString)"
        try Data(b + payload).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testHeaderClaimingMoreThanTheFileIsRefusedBeforeAllocating() throws {
        let path = try file([0x803, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])
        XCTAssertThrowsError(try IDXFile.read(path: path, expectDims: 3)) { e in
            XCTAssertTrue("\(e)".contains("more than Int.max"), "\(e)")
        }
        let short = try file([0x803, 1000, 28, 28], [1, 2, 3])
        XCTAssertThrowsError(try IDXFile.read(path: short, expectDims: 3)) { e in
            XCTAssertTrue("\(e)".contains("truncated: header claims 1000x28x28 = 784000 bytes of data, but the 19-byte file holds 3"), "\(e)")
        }
    }

    func testZeroItemsIsAnError() throws {
        XCTAssertThrowsError(try IDXFile.read(path: try file([0x801, 0]), expectDims: 1)) { e in
            XCTAssertTrue("\(e)".contains("dimension 0 of 0 is 0"), "\(e)")
        }
    }

    func testAFIFOIsRefusedNotWaitedOn() throws {
        let path = dir + "/fifo"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertThrowsError(try IDXFile.read(path: path, expectDims: 1)) { e in
            XCTAssertTrue("\(e)".contains("not a regular file (a FIFO)"), "\(e)")
        }
    }
}
