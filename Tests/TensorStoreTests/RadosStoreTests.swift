import CRados
import Foundation
import XCTest
@testable import TensorStore

/// Against a live cluster: run by Tests/ceph/tensorstore.test.sh, which deploys
/// ramceph and sets PRUNESWEEP_TEST_RADOS_URL; skipped otherwise.
final class RadosStoreTests: XCTestCase {
    var url: String!
    var prefix: String!

    override func setUpWithError() throws {
        guard let u = ProcessInfo.processInfo.environment["PRUNESWEEP_TEST_RADOS_URL"], !u.isEmpty else {
            throw XCTSkip("set PRUNESWEEP_TEST_RADOS_URL (Tests/ceph/tensorstore.test.sh does) to test against Ceph")
        }
        url = u
        prefix = "xctest-\(getpid())-\(name.filter(\.isLetter).suffix(20))/"
    }

    override func tearDownWithError() throws {
        guard let url else { return }
        let store = try openStore(url: url)
        for o in try store.list(prefix: prefix) { try store.delete(o.key) }
    }

    /// An object copied over another task's key is corrupt there (issue 18).
    func testObjectsAreBoundToTheirKeys() throws {
        let store = try XCTUnwrap(try openStore(url: url) as? RadosStore)
        let a = prefix + "parent/parent-00000000000000aa", b = prefix + "parent/parent-00000000000000bb"
        let blobA = Seal.seal(sampleObject(seed: 1), provenance: Provenance(task: "parent-00000000000000aa", sweepHash: "", toolVersion: "t"))
        try store.putBlob(a, blobA)
        assertStoreError({ if case .corrupt = $0 { return true }; return false }, "put under another key") { try store.putBlob(b, blobA) }
        try store.write([(b, Blob([blobA]))])   // as `rados put` would copy it, past the checks
        for read in [{ _ = try store.get(b) }, { _ = try store.getBlob(b) }] {
            assertStoreError({ if case .corrupt(_, let why) = $0 { return why.contains("provenance names task 'parent-00000000000000aa'") }; return false }, "copied object") { try read() }
        }
        XCTAssertNoThrow(try store.get(a))
    }

    func testRoundTripListExistsDelete() throws {
        let store = try openStore(url: url)
        XCTAssertTrue(store is RadosStore)
        let key = prefix + "parent/seed-1"
        XCTAssertFalse(try store.exists(key))
        assertStoreError({ $0.isMissing }, "missing") { _ = try store.get(key) }
        try store.put(key, sampleObject(seed: 1), provenance: testProvenance)
        XCTAssertTrue(try store.exists(key))
        let back = try store.get(key)
        XCTAssertEqual(back.tensors, sampleObject(seed: 1).tensors)
        XCTAssertEqual(Seal.provenance(back.metadata), testProvenance)
        XCTAssertEqual(try store.getBlob(key), Seal.seal(sampleObject(seed: 1), provenance: testProvenance))
        let listed = try store.list(prefix: prefix)
        XCTAssertEqual(listed.map(\.key), [key])
        XCTAssertEqual(listed[0].size, Seal.seal(sampleObject(seed: 1), provenance: testProvenance).count)
        XCTAssertEqual(listed[0].provenance, testProvenance)
        try store.delete(key)
        XCTAssertFalse(try store.exists(key))
        assertStoreError({ $0.isMissing }, "missing") { try store.delete(key) }
    }

    /// With a 64 KiB chunk, a 400 KB object becomes a head and six parts; it
    /// reads back whole, lists once, and delete removes every part.
    func testLargeObjectsAreSplitAndReassembled() throws {
        let store = try RadosStore(url: url + "&chunk=65536")
        XCTAssertEqual(store.chunkSize, 65536)
        let object = sampleObject(seed: 7, floats: 100_000)
        let key = prefix + "big"
        try store.put(key, object, provenance: testProvenance)
        let size = Seal.seal(object, provenance: testProvenance).count
        let parts = (size + 65535) / 65536
        XCTAssertEqual(parts, 7)
        for i in 0..<parts { XCTAssertEqual(stat(store, store.part(key, i)), i < parts - 1 ? 65536 : size - 65536 * (parts - 1)) }
        XCTAssertEqual(try store.get(key).tensors, object.tensors)
        XCTAssertEqual(try store.list(prefix: prefix).map(\.size), [size])
        // Read through a store with the default chunk size too (the layout is in the header).
        XCTAssertEqual(try store.getMany([key, key]).map { try $0.get().tensors }, [object.tensors, object.tensors])

        // A damaged part is a checksum error; a lost part says which.
        var junk = [UInt8](repeating: 0x55, count: 65536)
        XCTAssertEqual(rados_write_full(store.io, store.part(key, 3), &junk, junk.count), 0)
        assertStoreError({ $0.isCorrupt("checksum mismatch") }, "checksum") { _ = try store.get(key) }
        XCTAssertEqual(rados_remove(store.io, store.part(key, 2)), 0)
        assertStoreError({ $0.isCorrupt("part 2 of 7 is missing") }, "missing part") { _ = try store.get(key) }
        try store.delete(key)
        for i in 0..<parts { XCTAssertNil(stat(store, store.part(key, i))) }
    }

    func testBatchPutAndGetManyInFlight() throws {
        let store = try RadosStore(url: url + "&inflight=8")
        let items = (0..<40).map { (key: prefix + "batch/\($0)", object: sampleObject(seed: UInt64($0), floats: 20_000), provenance: testProvenance) }
        try store.putMany(items)
        let results = store.getMany(items.map(\.key) + [prefix + "batch/absent", "bad key"])
        for (item, r) in zip(items, results) { XCTAssertEqual(try r.get().tensors, item.object.tensors) }
        guard case .failure(.missing(let k)) = results[40] else { return XCTFail("absent key: \(results[40])") }
        XCTAssertEqual(k, prefix + "batch/absent")
        guard case .failure(.badKey) = results[41] else { return XCTFail("bad key: \(results[41])") }
        XCTAssertEqual(try store.list(prefix: prefix + "batch/").count, 40)
    }

    func testTruncatedAndForeignObjects() throws {
        let store = try RadosStore(url: url)
        let key = prefix + "t"
        try store.put(key, sampleObject(seed: 2), provenance: testProvenance)
        XCTAssertEqual(rados_trunc(store.io, key, 500), 0)
        assertStoreError({ $0.isCorrupt("truncated") }, "truncated") { _ = try store.get(key) }
        var text = Array("not a safetensors file".utf8)
        XCTAssertEqual(rados_write_full(store.io, key, &text, text.count), 0)
        assertStoreError({ $0.isCorrupt() }, "corrupt") { _ = try store.get(key) }
        XCTAssertNotNil(try store.list(prefix: prefix).first?.problem)
    }

    func testBadPoolAndCredentials() throws {
        let u = try RadosURL(parsing: url)
        assertStoreError({ if case .badURL(_, let why) = $0 { return why.contains("does not exist") }; return false }, "no pool") {
            _ = try openStore(url: "rados://no-such-pool?conf=\(u.conf)&id=\(u.id)&timeout=10")
        }
        assertStoreError({ if case .unavailable = $0 { return true }; return false }, "unknown client") {
            _ = try openStore(url: "rados://\(u.pool)?conf=\(u.conf)&id=nobody&timeout=5")
        }
    }

    func stat(_ store: RadosStore, _ oid: String) -> Int? {
        var size: UInt64 = 0, mtime: time_t = 0
        return rados_stat(store.io, oid, &size, &mtime) == 0 ? Int(size) : nil
    }
}
