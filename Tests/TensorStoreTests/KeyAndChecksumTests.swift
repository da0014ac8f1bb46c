import CZlib
import XCTest
@testable import TensorStore

final class KeyAndChecksumTests: XCTestCase {
    func testSHA256MatchesPythonHashlib() throws {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Lengths around the 55/56/64-byte padding boundaries, against hashlib.
        let texts = [55, 56, 63, 64, 65, 200].map { String(repeating: "a", count: $0) }
        let out = try python("import hashlib\nfor n in [55,56,63,64,65,200]: print(hashlib.sha256(b'a'*n).hexdigest())")
        XCTAssertEqual(texts.map { SHA256.hex(Array($0.utf8)) }, out.split(separator: "\n").map(String.init))
    }

    func testObjectKeyIsContentAddressed() throws {
        let a = ObjectKey(kind: "parent", parameters: ["arch": "lenet5", "seed": "3", "epochs": "10"])
        let b = ObjectKey(kind: "parent", parameters: ["epochs": "10", "seed": "3", "arch": "lenet5"])
        XCTAssertEqual(a.key, b.key)  // order of parameters does not matter
        XCTAssertTrue(a.key.hasPrefix("parent/"))
        XCTAssertEqual(a.key.count, "parent/".count + 32)
        XCTAssertNotEqual(a.key, ObjectKey(kind: "parent", parameters: ["arch": "lenet5", "seed": "4", "epochs": "10"]).key)
        // Values that would collide under naive joining stay apart.
        XCTAssertNotEqual(ObjectKey(kind: "m", parameters: ["a": "b,c"]).key, ObjectKey(kind: "m", parameters: ["a": "b", "c": ""]).key)
        // The hash is SHA-256 of the canonical JSON text, checked with hashlib.
        let out = try python("import hashlib,json\nprint(hashlib.sha256(json.dumps({'arch':'lenet5','epochs':'10','seed':'3'},separators=(',',':'),sort_keys=True).encode()).hexdigest()[:32])")
        XCTAssertEqual(a.hash, out.trimmingCharacters(in: .whitespacesAndNewlines))
        try KeyRule.check(a.key)
    }

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
