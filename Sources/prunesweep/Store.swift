import ArgumentParser
import Foundation
import Safetensors
import TensorStore

/// `prunesweep store ls|get|put|rm|verify`: look into a tensor store by hand.
struct Store: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, copy, remove and verify objects in a tensor store.",
        subcommands: [List.self, Get.self, Put.self, Remove.self, Verify.self, Bench.self])

    struct Location: ParsableArguments {
        @Option(help: "Store URL: file:///path, a directory, or rados://POOL?conf=PATH&id=NAME[&timeout=S] (default: $PRUNESWEEP_STORE).")
        var store: String?

        /// Only `put` makes a file store that is not there (a typo must not read as an empty store).
        func open(create: Bool = false) throws -> TensorStore {
            guard let url = store ?? ProcessInfo.processInfo.environment["PRUNESWEEP_STORE"], !url.isEmpty else {
                throw ValidationError("no store: pass --store URL or set PRUNESWEEP_STORE")
            }
            return try openStore(url: url, create: create)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List objects with size and provenance.")
        @OptionGroup var location: Location
        @Argument(help: "Key prefix, e.g. parent/.") var prefix: String = ""

        func run() throws {
            for o in try location.open().list(prefix: prefix) {
                let p = o.provenance.map { "task=\($0.task) sweep=\($0.sweepHash) version=\($0.toolVersion)" } ?? "provenance unknown"
                print("\(o.size)\t\(o.key)\t\(p)\t\(o.checksum ?? "-")" + (o.problem.map { "\tPROBLEM: \($0)" } ?? ""))
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Copy an object, verified, to a safetensors file.")
        @OptionGroup var location: Location
        @Argument(help: "Key.") var key: String
        @Argument(help: "File to write (replaced atomically).") var file: String

        func run() throws {
            let blob = try location.open().getBlob(key)
            try AtomicFile.write(blob, to: file)
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a safetensors file under a key, adding provenance and checksum.",
            discussion: "Provenance already in the file's __metadata__ is kept unless overridden.")
        @OptionGroup var location: Location
        @Argument(help: "Key.") var key: String
        @Argument(help: "Safetensors file to read.") var file: String
        @Option(help: "Producing task (default: the file's, else 'store put').") var task: String?
        @Option(name: .customLong("sweep-hash"), help: "Hash of the sweep file (default: the file's, else empty).") var sweepHash: String?

        func run() throws {
            let bytes = try AtomicFile.read(file)
            let object = try Safetensors.decode(bytes, source: file)
            let old = Seal.provenance(object.metadata)
            // a key that names a task holds only that task's object (a get checks it)
            let bound = Seal.boundTask(key)
            if let bound, let named = task ?? old?.task, named != bound {
                throw ValidationError("key '\(key)' names task '\(bound)' but the object's task is '\(named)'; pass --task \(bound) if it is that task's")
            }
            let provenance = Provenance(task: task ?? bound ?? old?.task ?? "store put",
                                        sweepHash: sweepHash ?? old?.sweepHash ?? "",
                                        toolVersion: old?.toolVersion ?? toolVersion)
            try location.open(create: true).put(key, object, provenance: provenance)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an object.")
        @OptionGroup var location: Location
        @Argument(help: "Key.") var key: String

        func run() throws { try location.open().delete(key) }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every object's checksum under a prefix; exit 1 if any is bad.")
        @OptionGroup var location: Location
        @Argument(help: "Key prefix.") var prefix: String = ""

        func run() throws {
            let store = try location.open()
            let keys = try store.list(prefix: prefix).map(\.key)
            var bad = 0
            for start in stride(from: 0, to: keys.count, by: 32) {
                let batch = Array(keys[start..<min(keys.count, start + 32)])
                for (key, result) in zip(batch, store.getMany(batch)) {
                    switch result {
                    case .success: print("ok\t\(key)")
                    case .failure(let e): bad += 1; print("BAD\t\(e)")
                    }
                }
            }
            print("\(keys.count) objects, \(bad) bad")
            if bad > 0 { throw ExitCode.failure }
        }
    }
}

extension Store {
    /// Throughput of put and get (batch calls, `--inflight` in flight for RADOS)
    /// for objects of one size; for a file store, beside a plain write(+fsync)
    /// and read of the same bytes in the same directory. Used by bench/store-throughput.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Measure put/get throughput of a store.", shouldDisplay: false)
        @OptionGroup var location: Location
        @Option(help: "Object size in bytes.") var size: Int = 1 << 20
        @Option(help: "Objects per round.") var count: Int = 64
        @Option(help: "Rounds (the best is reported); a file store's reads, which take milliseconds, get four times as many.") var rounds: Int = 3

        func run() throws {
            let store = try location.open(create: true)
            let floats = (size - 256) / 4
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // xorshift: incompressible enough, and fast to make
            let objects = (0..<count).map { _ in
                Safetensors(tensors: [NamedTensor(name: "w", shape: [floats], floats: (0..<floats).map { _ in
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17
                    return Float(state % 1000)
                })])
            }
            let prov = Provenance(task: "bench", sweepHash: "", toolVersion: toolVersion)
            let keys = (0..<count).map { "bench-\(getpid())/\($0)" }
            defer {
                for k in keys { try? store.delete(k) }
                if let files = store as? FileStore { rmdir(files.root + "/bench-\(getpid())") }  // delete leaves the emptied directory
            }
            let mb = Double(count) * Double(objects[0].dataSize) / 1e6
            /// MB/s of each body, best of `rounds`; the bodies take turns within a round, so
            /// the store and the plain file calls meet the same page cache and disk moods.
            func best(_ bodies: [() throws -> Void], rounds: Int) throws -> [Double] {
                var t = [Double](repeating: .infinity, count: bodies.count)
                for _ in 0..<rounds {
                    for (i, body) in bodies.enumerated() {
                        sync()  // no writeback left over from the body before
                        let s = DispatchTime.now().uptimeNanoseconds
                        try body()
                        t[i] = min(t[i], Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
                    }
                }
                return t.map { mb / $0 }
            }
            let put = { try store.putMany(zip(keys, objects).map { ($0, $1, prov) }) }
            // A file store reads one object at a time (the sweep holds what it needs, not all).
            let get = {
                if store is FileStore { for k in keys { _ = try store.get(k) } } else { for r in store.getMany(keys) { _ = try r.get() } }
            }
            guard let files = store as? FileStore else {
                // all writes, then all reads, as rados bench's write and seq phases
                let r = try best([put], rounds: rounds) + best([get], rounds: rounds)
                print(String(format: "store put %.0f MB/s  get %.0f MB/s  (%d x %d bytes)", r[0], r[1], count, size))
                return
            }
            // The same bytes, written plainly (with and without fsync) and read back.
            let blobs = objects.map { Seal.seal($0, provenance: prov) }
            let dir = files.root + "/plain-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func plainWrite(sync: Bool) throws {
                for (i, b) in blobs.enumerated() {
                    let fd = open("\(dir)/\(i)", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                    guard fd >= 0 else { throw ValidationError("cannot write \(dir)") }
                    b.withUnsafeBytes { var off = 0; while off < $0.count { off += max(0, write(fd, $0.baseAddress! + off, $0.count - off)) } }
                    if sync { fsync(fd) }
                    close(fd)
                }
            }
            func plainRead() {
                for i in 0..<blobs.count {
                    let fd = open("\(dir)/\(i)", O_RDONLY)
                    var st = stat(); fstat(fd, &st)
                    let n = Int(st.st_size)
                    let bytes = [UInt8](unsafeUninitializedCapacity: n) { buf, c in
                        var off = 0
                        while off < n { let k = pread(fd, buf.baseAddress! + off, n - off, off_t(off)); if k <= 0 { break }; off += k }
                        c = off
                    }
                    precondition(bytes.count == n)
                    close(fd)
                }
            }
            try plainWrite(sync: false)  // so the plain writes of every round overwrite, as in later rounds
            // Reads get rounds of their own after the writes: each takes milliseconds, so
            // many rounds cost little, and no read starts just after another body's flush.
            let w = try best([put, { try plainWrite(sync: true) }, { try plainWrite(sync: false) }], rounds: rounds)
            let r = try best([get, plainRead], rounds: 4 * rounds)
            print(String(format: "store put %.0f MB/s  get %.0f MB/s  (%d x %d bytes)", w[0], r[0], count, size))
            print(String(format: "plain write+fsync %.0f MB/s  write (no fsync) %.0f MB/s  read %.0f MB/s", w[1], w[2], r[1]))
            print(String(format: "ratio put/(write+fsync) %.2f  put/(write no fsync) %.2f  get/read %.2f", w[0] / w[1], w[0] / w[2], r[0] / r[1]))
        }
    }
}
