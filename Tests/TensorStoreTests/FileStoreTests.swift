import Foundation
import Safetensors
@testable import TensorStore
import XCTest

final class FileStoreTests: XCTestCase {
    func testRoundTripListExistsDelete() throws {
        let dir = temporaryDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try openStore(url: "file://" + dir)
        let key = "parent/mlp-seed-1"
        XCTAssertFalse(try store.exists(key))
        assertStoreError({ $0.isMissing }, "missing") { _ = try store.get(key) }
        try store.put(key, sampleObject(seed: 1), provenance: testProvenance)
        try store.put("mask/one", sampleObject(seed: 2), provenance: testProvenance)
        XCTAssertTrue(try store.exists(key))
        let back = try store.get(key)
        XCTAssertEqual(back.tensors, sampleObject(seed: 1).tensors)
        XCTAssertEqual(Seal.provenance(back.metadata), testProvenance)
        let blob = try store.getBlob(key)
        XCTAssertEqual(blob, Array(FileManager.default.contents(atPath: "\(dir)/\(key).safetensors")!))

        let all = try store.list(prefix: "")
        XCTAssertEqual(all.map(\.key), ["mask/one", key])
        XCTAssertEqual(all[1].size, blob.count)
        XCTAssertEqual(all[1].provenance, testProvenance)
        XCTAssertEqual(try store.list(prefix: "parent/").map(\.key), [key])
        XCTAssertEqual(try store.list(prefix: "pa").map(\.key), [key])
        XCTAssertEqual(try store.list(prefix: "nothing/").count, 0)

        try store.delete(key)
        XCTAssertFalse(try store.exists(key))
        assertStoreError({ $0.isMissing }, "missing") { try store.delete(key) }
        assertStoreError({ if case .badKey = $0 { return true }; return false }, "bad key") { _ = try store.get("../etc/passwd") }
    }

    func testBadURL() {
        assertStoreError({ if case .badURL = $0 { return true }; return false }, "bad url") { _ = try openStore(url: "s3://bucket") }
        assertStoreError({ if case .badURL = $0 { return true }; return false }, "bad url") { _ = try openStore(url: "file://relative") }
        assertStoreError({ if case .badURL = $0 { return true }; return false }, "bad url") { _ = try openStore(url: "rados://pool") }
        assertStoreError({ if case .badURL = $0 { return true }; return false }, "bad url") { _ = try openStore(url: "rados://pool?conf=/nonexistent&id=x") }
        assertStoreError({ if case .badURL = $0 { return true }; return false }, "bad url") { _ = try openStore(url: "rados://pool?conf=/etc/hosts&id=x&timeout=-1") }
    }

    /// Objects over 1 MiB are read and checksummed in two halves: both halves
    /// must arrive intact and a flip in either is caught.
    func testLargeObjectsAreVerifiedInBothHalves() throws {
        let dir = temporaryDirectory("large")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileStore(directory: dir)
        let object = sampleObject(seed: 9, floats: 3 << 18)   // 3 MiB of data
        try store.put("big", object, provenance: testProvenance)
        XCTAssertEqual(try store.get("big").tensors.map(\.bytes), object.tensors.map(\.bytes))
        let good = try AtomicFile.read(store.path("big"))
        for offset in [good.count / 3, good.count - 1000] {
            var bytes = good
            bytes[offset] ^= 0x01
            try AtomicFile.write(bytes, to: store.path("big"))
            assertStoreError({ $0.isCorrupt("checksum mismatch") }, "flip at \(offset)") { _ = try store.get("big") }
        }
    }

    func testCorruptAndTruncatedObjectsAreReportedWithTheKey() throws {
        let dir = temporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileStore(directory: dir)
        try store.put("a", sampleObject(seed: 3), provenance: testProvenance)
        let path = store.path("a")
        var bytes = try AtomicFile.read(path)
        let good = bytes
        bytes[bytes.count - 100] ^= 0x40
        try AtomicFile.write(bytes, to: path)
        for read in [{ _ = try store.get("a") }, { _ = try store.getBlob("a") }] {
            assertStoreError({ $0 == .corrupt("a", $0.corruptReason) && $0.isCorrupt("checksum mismatch") }, "checksum") { try read() }
        }
        guard case .failure(let e) = store.getMany(["a"])[0] else { return XCTFail("corrupt object read") }
        XCTAssertTrue(e.isCacheMiss)
        try AtomicFile.write(Array(good.dropLast(10)), to: path)
        assertStoreError({ $0.isCorrupt("truncated") }, "truncated") { _ = try store.get("a") }
        try AtomicFile.write(Array(good.prefix(5)), to: path)
        assertStoreError({ $0.isCorrupt() }, "corrupt") { _ = try store.get("a") }
        try AtomicFile.write(Array("hello, not a tensor file".utf8), to: path)
        assertStoreError({ $0.isCorrupt() }, "corrupt") { _ = try store.get("a") }
        XCTAssertNotNil(try store.list(prefix: "").first?.problem)
    }

    func testPythonSafetensorsReadsOurObjectsAndWeReadTheirs() throws {
        let dir = temporaryDirectory("python")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileStore(directory: dir)
        let object = sampleObject(seed: 4, floats: 50)
        try store.put("ours/x", object, provenance: testProvenance)
        // Python loads our object and prints what it sees.
        let seen = try python("""
            from safetensors.numpy import load_file
            from safetensors import safe_open
            t = load_file('\(store.path("ours/x"))')
            print(t['fc.weight'].dtype, t['fc.weight'].shape, repr(float(t['fc.weight'].sum())), t['labels'].tolist())
            print(safe_open('\(store.path("ours/x"))', 'np').metadata()['task'])
            """)
        let sum = object["fc.weight"]!.floats.reduce(Float(0), +)
        let lines = seen.split(separator: "\n")
        guard lines.count == 2 else { return XCTFail("python printed: \(seen)") }
        XCTAssertTrue(lines[0].hasPrefix("float32 (50,) "), seen)
        XCTAssertEqual(Float(lines[0].split(separator: " ")[2])!, sum, accuracy: 1e-4)
        XCTAssertTrue(lines[0].hasSuffix("[[1, 2], [3, 4]]"), seen)
        XCTAssertEqual(String(lines[1]), testProvenance.task)

        // Python writes a file, with the checksum computed by its own zlib; the store reads it as an object.
        _ = try python("""
            import numpy as np, zlib
            from safetensors.numpy import save_file
            w = np.arange(24, dtype=np.float32).reshape(4, 6) / 7
            m = (np.arange(6) % 2).astype(np.uint8)
            data = w.tobytes() + m.tobytes()   # safetensors orders the data section by name here: m < w? check below
            tensors = {'mask': m, 'weight': w}
            save_file(tensors, '/dev/null')
            import json, struct
            def crc_of(path):
                b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; return zlib.crc32(b[8+n:])
            save_file(tensors, '\(dir)/tmp.st')
            c = crc_of('\(dir)/tmp.st')
            save_file(tensors, '\(dir)/theirs.safetensors', metadata={'task': 'python', 'checksum': 'crc32:%08x' % c})
            assert crc_of('\(dir)/theirs.safetensors') == c
            """)
        let theirs = try store.get("theirs")
        guard theirs["weight"] != nil, theirs["mask"] != nil else { return XCTFail("tensors missing: \(theirs.tensors.map(\.name))") }
        XCTAssertEqual(theirs["weight"]!.shape, [4, 6])
        XCTAssertEqual(theirs["weight"]!.floats, (0..<24).map { Float($0) / 7 })
        XCTAssertEqual(theirs["mask"]!.dtype, .U8)
        XCTAssertEqual(theirs["mask"]!.bytes, [0, 1, 0, 1, 0, 1])
        // And a plain Python file without a checksum is refused by get, but accepted by put (which seals it).
        let plain = try Safetensors.decode(AtomicFile.read("\(dir)/tmp.st"), source: "tmp.st")
        try store.put("imported", plain, provenance: testProvenance)
        XCTAssertEqual(try store.get("imported").tensors.sorted { $0.name < $1.name }, plain.tensors.sorted { $0.name < $1.name })
    }

    /// Several processes (this test binary, re-run as writers) replace one key
    /// over and over while this process reads it: every read is a whole object
    /// written by one of them, and no temporary file is left.
    func testConcurrentWritersFromSeveralProcesses() throws {
        let dir = temporaryDirectory("concurrent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FileStore(directory: dir)
        let writers = 4, rounds = 25
        let expected = ((0..<writers).map { sampleObject(seed: UInt64(100 + $0), floats: 50_000).tensors })
        let binary = CommandLine.arguments[0]
        var processes: [Process] = []
        for w in 0..<writers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = binary.hasSuffix(".xctest") ? ["TensorStoreTests.FileStoreTests/testWriterProcess"] : ["-XCTest", "TensorStoreTests.FileStoreTests/testWriterProcess"]
            p.environment = ProcessInfo.processInfo.environment.merging(
                ["TENSORSTORE_WRITER_DIR": dir, "TENSORSTORE_WRITER_SEED": String(100 + w), "TENSORSTORE_WRITER_ROUNDS": String(rounds)]) { $1 }
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
        var reads = 0
        while processes.contains(where: \.isRunning) {
            do {
                let seen = try store.get("shared/key").tensors
                XCTAssertTrue(expected.contains(seen)); reads += 1
            } catch StoreError.missing { /* not written yet */ }
        }
        for p in processes { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0, "writer process failed") }
        XCTAssertTrue(expected.contains(try store.get("shared/key").tensors))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/shared")
        XCTAssertEqual(leftovers, ["key.safetensors"])
        print("concurrent writers: \(reads) whole reads during the writes")
    }

    /// The writer half of the test above; does nothing unless started by it.
    func testWriterProcess() throws {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env["TENSORSTORE_WRITER_DIR"], let seed = UInt64(env["TENSORSTORE_WRITER_SEED"] ?? ""),
              let rounds = Int(env["TENSORSTORE_WRITER_ROUNDS"] ?? "") else {
            throw XCTSkip("writer process for testConcurrentWritersFromSeveralProcesses")
        }
        let store = try FileStore(directory: dir)
        let object = sampleObject(seed: seed, floats: 50_000)
        for _ in 0..<rounds { try store.put("shared/key", object, provenance: testProvenance) }
    }
}

extension StoreError {
    var corruptReason: String { if case .corrupt(_, let r) = self { return r }; return "" }
}

/// Objects are bound to their keys (issue 18): a copy under another task's key is corrupt.
final class KeyBindingTests: XCTestCase {
    func testObjectCopiedOverAnotherKeyIsCorrupt() throws {
        let store = try FileStore(directory: temporaryDirectory("binding"))
        let a = "parent/parent-00000000000000aa", b = "parent/parent-00000000000000bb"
        try store.put(a, sampleObject(seed: 1), provenance: Provenance(task: "parent-00000000000000aa", sweepHash: "", toolVersion: "t"))
        try store.put(b, sampleObject(seed: 2), provenance: Provenance(task: "parent-00000000000000bb", sweepHash: "", toolVersion: "t"))
        XCTAssertNoThrow(try store.get(b))
        try FileManager.default.removeItem(atPath: store.path(b))
        try FileManager.default.copyItem(atPath: store.path(a), toPath: store.path(b))
        for read in [{ _ = try store.get(b) }, { _ = try store.getBlob(b) }] {
            XCTAssertThrowsError(try read()) { e in
                guard case .corrupt(_, let why)? = e as? StoreError else { return XCTFail("\(e)") }
                XCTAssertTrue(why.contains("provenance names task 'parent-00000000000000aa'"), why)
                XCTAssertTrue((e as! StoreError).isCacheMiss)
            }
        }
        // keys that name no task are not bound
        XCTAssertNil(Seal.boundTask("mask/one"))
        XCTAssertNil(Seal.boundTask("parent/seed-1"))
        XCTAssertEqual(Seal.boundTask("logits/pruned-1f"), "pruned-1f")
        XCTAssertEqual(Seal.boundTask("round/round-0a9f"), "round-0a9f")   // IMP rounds and their rewind points
        XCTAssertEqual(Seal.boundTask("rewind/round-0a9f"), "round-0a9f")
    }

    func testReadingAStoreThatIsNotThereDoesNotMakeIt() {
        let dir = NSTemporaryDirectory() + "no-store-\(getpid())"
        XCTAssertThrowsError(try openStore(url: "file://" + dir, create: false))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
    }
}
