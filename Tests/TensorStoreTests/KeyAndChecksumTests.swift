import CZlib
import Safetensors
@testable import TensorStore
import XCTest

final class KeyAndChecksumTests: XCTestCase {
    func testKeyRule() {
        for bad in ["", "/a", "a/", "a//b", ".hidden", "a/.tmp", "a b", "a@1", "../x", String(repeating: "x", count: 251)] {
            XCTAssertThrowsError(try KeyRule.check(bad), bad)
        }
        for good in ["a", "parent/0123abcd", "mask/x-y_z.1"] { XCTAssertNoThrow(try KeyRule.check(good)) }
    }

    func testCrc32KnownValueAndParallelSplit() {
        XCTAssertEqual(Checksum.crc32(Array("123456789".utf8)), 0xcbf43926)  // the CRC-32 check value
        let big = (0..<(5 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        let serial = big.withUnsafeBufferPointer { UInt32(crc32_z(0, $0.baseAddress, $0.count)) }
        XCTAssertEqual(Checksum.crc32(big), serial)
        // ISA-L against zlib's tables at every length and alignment near the fold widths, continuing a crc.
        big.withUnsafeBytes { all in
            for start in 0..<9 {
                for n in [0, 1, 3, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 4096 + 5] {
                    let part = UnsafeRawBufferPointer(rebasing: all[start..<start + n])
                    let zlib = UInt32(crc32_z(0x1234_5678, part.baseAddress!.assumingMemoryBound(to: UInt8.self), n))
                    XCTAssertEqual(Checksum.crc32(part, continuing: 0x1234_5678), zlib, "start \(start) length \(n)")
                }
            }
        }
        XCTAssertEqual(Checksum.format(0xab), "crc32:000000ab")
    }

    func testSealRecordsProvenanceAndChecksumOfTheDataSection() throws {
        let object = sampleObject(seed: 1)
        let blob = Seal.seal(object, provenance: testProvenance)
        let decoded = try Safetensors.decode(blob, source: "t")
        XCTAssertEqual(decoded.metadata["task"], testProvenance.task)
        XCTAssertEqual(decoded.metadata["sweep_hash"], "abc123")
        XCTAssertEqual(decoded.metadata["tool_version"], "0.1.0")
        XCTAssertEqual(decoded.metadata["architecture"], "mlp:10")
        let data = object.tensors.flatMap(\.bytes)
        XCTAssertEqual(decoded.metadata["checksum"], Checksum.format(Checksum.crc32(data)))
        XCTAssertEqual(Array(blob.suffix(data.count)), data)
        XCTAssertEqual(try Seal.open(blob, key: "k").tensors, object.tensors)
        var flipped = blob; flipped[blob.count - 3] ^= 1
        assertStoreError({ $0.isCorrupt("checksum mismatch") }, "checksum mismatch") { _ = try Seal.open(flipped, key: "k") }
        assertStoreError({ $0.isCorrupt("truncated") }, "truncated") { _ = try Seal.open(Array(blob.dropLast(4)), key: "k") }
        assertStoreError({ $0.isCorrupt("no 'checksum'") }, "no checksum") { _ = try Seal.open(object.encode(), key: "k") }
    }
}
