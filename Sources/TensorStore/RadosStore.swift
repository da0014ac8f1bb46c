import CRados
import Foundation
import Safetensors

/// Objects in a RADOS pool through librados. An object up to `chunkSize`
/// bytes is one RADOS object named by its key, byte for byte the safetensors
/// blob (`rados get KEY FILE` gives the file). A larger one is split: the
/// first chunk under the key, the rest under "KEY@1", "KEY@2", ... ('@' is not
/// allowed in keys); the header in the first chunk gives the total size, so
/// no index is needed. Parts are written before the head, all in flight at
/// once with librados' asynchronous calls. Every operation is bounded by the
/// URL's timeout (client_mount_timeout, rados_osd_op_timeout,
/// rados_mon_op_timeout): a dead monitor or OSD is an error, never a hang.
public final class RadosStore: TensorStore, @unchecked Sendable {
    public let url: String
    public let config: RadosURL
    /// Largest piece stored as one RADOS object: the cluster's
    /// osd_max_object_size and osd_max_write_size, or less if the URL says so.
    public let chunkSize: Int
    let cluster: rados_t
    let io: rados_ioctx_t
    // First read of an object asks for this many bytes (the largest object seen
    // lately), so objects of a familiar size take one round trip.
    private var sizeHint = 1 << 20
    private let hintLock = NSLock()

    public init(url: String) throws {
        self.url = url
        config = try RadosURL(parsing: url)
        func fail(_ what: String, _ rc: Int32) -> StoreError { .unavailable(url, "\(what): \(String(cString: strerror(-rc)))") }
        try RadosStore.loadLibrados(url)
        guard FileManager.default.isReadableFile(atPath: config.conf) else {
            throw StoreError.badURL(url, "cannot read ceph.conf '\(config.conf)'")
        }
        var c: rados_t?
        var rc = rados_create(&c, config.id)
        guard rc == 0, let c else { throw fail("rados_create", rc) }
        rc = rados_conf_read_file(c, config.conf)
        guard rc == 0 else { rados_shutdown(c); throw StoreError.badURL(url, "cannot parse ceph.conf '\(config.conf)': \(String(cString: strerror(-rc)))") }
        if let k = config.keyring { rados_conf_set(c, "keyring", k) }
        let t = String(config.timeout)
        for option in ["client_mount_timeout", "rados_osd_op_timeout", "rados_mon_op_timeout"] {
            rados_conf_set(c, option, t)
        }
        rc = rados_connect(c)
        guard rc == 0 else {
            rados_shutdown(c)
            throw fail(rc == -ETIMEDOUT || rc == -EINTR
                ? "no monitor answered within \(config.timeout) s (client_mount_timeout); is the cluster up?"
                : "cannot connect as client.\(config.id)", rc)
        }
        var ioctx: rados_ioctx_t?
        rc = rados_ioctx_create(c, config.pool, &ioctx)
        guard rc == 0, let ioctx else {
            rados_shutdown(c)
            throw rc == -ENOENT ? StoreError.badURL(url, "pool '\(config.pool)' does not exist") : fail("opening pool \(config.pool)", rc)
        }
        cluster = c; io = ioctx
        let maxObject = RadosStore.clusterOption(c, "osd_max_object_size") ?? 128 << 20
        let maxWrite = (RadosStore.clusterOption(c, "osd_max_write_size") ?? 90) << 20  // in MiB
        chunkSize = min(maxObject, maxWrite, config.chunk ?? Int.max)
    }

    deinit {
        rados_ioctx_destroy(io)
        rados_shutdown(cluster)
    }

    /// An OSD option as the monitors have it (so a cluster-wide change counts),
    /// else the client's own configuration.
    /// librados is loaded here, the first time a rados:// store is opened.
    static func loadLibrados(_ url: String) throws {
        var why = [CChar](repeating: 0, count: 512)
        guard ps_rados_load(&why, why.count) != 0 else { return }
        throw StoreError.unavailable(url, """
            a rados:// store needs librados (the Ceph client library, librados.so.2), which could not be loaded: \
            \(String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)). Install it (Debian: apt-get install librados2), load your site's Ceph module \
            (module load ceph), add its directory to LD_LIBRARY_PATH, or use a file:// store
            """)
    }

    static func clusterOption(_ c: rados_t, _ name: String) -> Int? {
        let cmd = "{\"prefix\":\"config get\",\"who\":\"osd\",\"key\":\"\(name)\"}"
        var out: UnsafeMutablePointer<CChar>?, outLen = 0, status: UnsafeMutablePointer<CChar>?, statusLen = 0
        let rc = cmd.withCString { p -> Int32 in
            var cmds: [UnsafePointer<CChar>?] = [p]
            return rados_mon_command(c, &cmds, 1, nil, 0, &out, &outLen, &status, &statusLen)
        }
        defer { rados_buffer_free(out); rados_buffer_free(status) }
        if rc == 0, let out, let v = Int(String(decoding: UnsafeRawBufferPointer(start: out, count: outLen), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)), v > 0 {
            return v
        }
        var buf = [CChar](repeating: 0, count: 64)
        guard rados_conf_get(c, name, &buf, buf.count) == 0 else { return nil }
        return Int(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    func part(_ key: String, _ i: Int) -> String { i == 0 ? key : "\(key)@\(i)" }

    func error(_ key: String, _ rc: Int32, _ doing: String) -> StoreError {
        if rc == -ENOENT { return .missing(key) }
        if rc == -ETIMEDOUT {
            return .io(key, "\(doing) timed out after \(config.timeout) s (rados_osd_op_timeout): an OSD holding it is down?")
        }
        return .io(key, "\(doing) failed: \(String(cString: strerror(-rc)))")
    }

    // MARK: put

    public func put(_ key: String, _ object: Safetensors, provenance: Provenance) throws {
        try putMany([(key, object, provenance)])
    }

    public func putBlob(_ key: String, _ blob: [UInt8]) throws {
        try KeyRule.check(key)
        try Seal.verify(blob, key: key)
        try write([(key, Blob([blob]))])
    }

    public func putMany(_ items: [(key: String, object: Safetensors, provenance: Provenance)]) throws {
        for item in items { try KeyRule.check(item.key) }
        try write(items.map { ($0.key, Blob(Seal.chunks($0.object, provenance: $0.provenance))) })
    }

    /// Writes every object, `config.inFlight` RADOS writes outstanding. A split
    /// object's parts go first and its head, whose header gives the total size, last.
    func write(_ items: [(key: String, blob: Blob)]) throws {
        let aio = Aio(window: config.inFlight)
        var failures: [StoreError] = []
        for (key, blob) in items {
            let parts = max(1, (blob.count + chunkSize - 1) / chunkSize)
            let writeHead = {
                self.addWrite(aio, key, blob, 0..<min(blob.count, self.chunkSize)) { rc in
                    if rc < 0 { failures.append(self.error(key, rc, "write")) }
                }
            }
            guard parts > 1 else { writeHead(); continue }
            var pending = parts - 1, failed = false
            for i in 1..<parts {
                addWrite(aio, part(key, i), blob, i * chunkSize..<min(blob.count, (i + 1) * chunkSize)) { rc in
                    if rc < 0 && !failed {
                        failed = true
                        failures.append(self.error(key, rc, "write of part \(i)"))
                    }
                    pending -= 1
                    if pending == 0 && !failed { writeHead() }
                }
            }
        }
        aio.run()
        if let first = failures.first { throw first }
    }

    /// Queues a write of bytes `range` of `blob` as the whole object `oid`: one
    /// compound operation (write_full, then appends), which librados copies as
    /// it is built, so the blob is never assembled in one buffer first.
    func addWrite(_ aio: Aio, _ oid: String, _ blob: Blob, _ range: Range<Int>, done: @escaping (Int32) -> Void) {
        var op: rados_write_op_t?
        aio.add(submit: { c in
            op = rados_create_write_op()
            guard let op else { return -ENOMEM }
            blob.forEachPiece(of: range) { piece, first in
                let p = piece.baseAddress?.assumingMemoryBound(to: CChar.self)
                if first { rados_write_op_write_full(op, p, piece.count) } else { rados_write_op_append(op, p, piece.count) }
            }
            return rados_aio_write_op_operate(op, self.io, c, oid, nil, 0)
        }, done: { rc in
            if let op { rados_release_write_op(op) }
            done(rc)
        })
    }

    // MARK: get

    public func get(_ key: String) throws -> Safetensors {
        try getMany([key])[0].get()
    }

    public func getBlob(_ key: String) throws -> [UInt8] {
        try KeyRule.check(key)
        var result: Result<[UInt8], StoreError> = .failure(.missing(key))
        read([key]) { _, r in
            result = r.flatMap { b in
                Result { try Seal.verify(b.bytes, key: key); return Array(b.bytes) }.mapError { $0 as! StoreError }
            }
        }
        return try result.get()
    }

    public func getMany(_ keys: [String]) -> [Result<Safetensors, StoreError>] {
        var results = [Result<Safetensors, StoreError>](repeating: .failure(.missing("")), count: keys.count)
        var checked: [Int] = []
        for (i, k) in keys.enumerated() {
            do { try KeyRule.check(k); checked.append(i) } catch { results[i] = .failure(error as! StoreError) }
        }
        let valid = checked
        // Objects of 4 MiB or more are verified and decoded off the thread that drives
        // the reads, so it refills the window at once; smaller ones on it: waking a
        // pool thread for each costs more than their decoding.
        let decoded = DispatchGroup()
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer  // each decode writes its own slot
            read(valid.map { keys[$0] }) { j, r in
                let i = valid[j]
                nonisolated(unsafe) let decode = { out[i] = r.flatMap { b in Result { try Seal.open(b.bytes, key: keys[i]) }.mapError { $0 as! StoreError } } }
                if case .success(let b) = r, b.count >= 4 << 20 { DispatchQueue.global().async(group: decoded) { decode() } } else { decode() }
            }
            decoded.wait()
        }
        return results
    }

    /// Reads whole objects (head, then the rest and any parts), calling
    /// `done(index, blob)` as each completes, while other reads are in flight.
    func read(_ keys: [String], done: @escaping (Int, Result<Buffer, StoreError>) -> Void) {
        let aio = Aio(window: config.inFlight)
        for (index, key) in keys.enumerated() {
            // Sized when submitted, so reads queued behind the first ones use what those found.
            var hint = 0
            var head = Buffer(capacity: 0)
            aio.add(submit: { c in
                hint = min(self.currentHint(), self.chunkSize)
                head = Buffer(capacity: hint)
                return rados_aio_read(self.io, key, c, head.base, hint, 0)
            }, done: { rc in
                guard rc >= 0 else { return done(index, .failure(self.error(key, rc, "read"))) }
                let n = Int(rc)
                let layout: Safetensors.Layout
                do {
                    layout = try Seal.parse(UnsafeRawBufferPointer(start: head.base, count: n), key: key, size: n == hint ? Int.max : n)
                } catch {
                    // A header longer than the first read: read again, asking for all of it.
                    if n == hint, n >= 8, let end = Safetensors.Layout.headerEnd(Array(UnsafeRawBufferPointer(start: head.base, count: 8))),
                       end > n, end <= self.chunkSize {
                        self.raiseHint(end)
                        self.read([key]) { _, r in done(index, r) }
                        return
                    }
                    return done(index, .failure(error as! StoreError))
                }
                let total = layout.totalSize
                self.raiseHint(total)
                let headSize = min(total, self.chunkSize)
                if n < min(headSize, hint) || (n > headSize) {
                    return done(index, .failure(.corrupt(key, n < headSize
                        ? "truncated: first object has \(n) of \(headSize) bytes"
                        : "\(n - headSize) bytes after the data section")))
                }
                if total == n { head.count = n; return done(index, .success(head)) }
                // More to read: into one buffer of the full size, straight from each
                // object, once the header's size is known to fit in memory.
                if let free = InputFile.availableMemory(), total > free {
                    return done(index, .failure(.io(key, "the object needs \(total) bytes, more than the \(free) bytes of memory available")))
                }
                let whole = Buffer(capacity: total)
                whole.base.copyMemory(from: head.base, byteCount: n)
                var pieces: [(oid: String, offset: Int, objectOffset: Int, length: Int, what: String)] = []
                if n < headSize { pieces.append((key, n, n, headSize - n, "read")) }
                var i = 1
                while i * self.chunkSize < total {
                    let off = i * self.chunkSize
                    pieces.append((self.part(key, i), off, 0, min(self.chunkSize, total - off), "part \(i) of \((total + self.chunkSize - 1) / self.chunkSize)"))
                    i += 1
                }
                var pending = pieces.count, failure: StoreError?
                for p in pieces {
                    aio.add(submit: { c in rados_aio_read(self.io, p.oid, c, whole.base + p.offset, p.length, UInt64(p.objectOffset)) }, done: { rc in
                        if failure == nil {
                            if rc == -ENOENT { failure = .corrupt(key, "\(p.what) is missing") }
                            else if rc < 0 { failure = self.error(key, rc, p.what) }
                            else if Int(rc) < p.length { failure = .corrupt(key, "truncated: \(p.what) has \(rc) of \(p.length) bytes") }
                        }
                        pending -= 1
                        if pending == 0 { done(index, failure.map { .failure($0) } ?? .success(whole)) }
                    })
                }
            })
        }
        aio.run()
    }

    func currentHint() -> Int { hintLock.lock(); defer { hintLock.unlock() }; return sizeHint }
    func raiseHint(_ n: Int) {
        hintLock.lock(); defer { hintLock.unlock() }
        // Round up to 64 KiB; follow the sizes in use, up or down.
        sizeHint = max(1 << 16, min((n + 0xffff) & ~0xffff, chunkSize))
    }

    // MARK: exists, delete, list

    public func exists(_ key: String) throws -> Bool {
        try KeyRule.check(key)
        var size: UInt64 = 0, mtime: time_t = 0
        let rc = rados_stat(io, key, &size, &mtime)
        if rc == -ENOENT { return false }
        guard rc == 0 else { throw error(key, rc, "stat") }
        return true
    }

    /// Removes the head first (so the object is gone at once), then its parts.
    public func delete(_ key: String) throws {
        try KeyRule.check(key)
        let info = headers([key])[0]
        let rc = rados_remove(io, key)
        guard rc == 0 else { throw error(key, rc, "remove") }
        let parts = info.problem == nil ? (info.size + chunkSize - 1) / chunkSize : 1
        for i in stride(from: 1, to: parts, by: 1) { _ = rados_remove(io, part(key, i)) }
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        try KeyRule.checkPrefix(prefix)
        var ctx: rados_list_ctx_t?
        var rc = rados_nobjects_list_open(io, &ctx)
        guard rc == 0, let ctx else { throw error(prefix, rc, "listing pool \(config.pool)") }
        defer { rados_nobjects_list_close(ctx) }
        var keys: [String] = []
        while true {
            var entry: UnsafePointer<CChar>?
            rc = rados_nobjects_list_next(ctx, &entry, nil, nil)
            if rc == -ENOENT { break }
            guard rc == 0, let entry else { throw error(prefix, rc, "listing pool \(config.pool)") }
            let name = String(cString: entry)
            if name.hasPrefix(prefix), !name.contains("@"), (try? KeyRule.check(name)) != nil { keys.append(name) }
        }
        keys.sort()
        return headers(keys)
    }

    /// Size and provenance from each object's header (first 64 KiB), all in flight at once.
    func headers(_ keys: [String]) -> [ObjectInfo] {
        let aio = Aio(window: config.inFlight)
        var infos = keys.map { ObjectInfo(key: $0, size: 0, provenance: nil, checksum: nil, problem: "not read") }
        let want = 1 << 16
        for (i, key) in keys.enumerated() {
            let b = Buffer(capacity: want)
            aio.add(submit: { c in rados_aio_read(self.io, key, c, b.base, want, 0) }, done: { rc in
                guard rc >= 0 else { infos[i] = ObjectInfo(key: key, size: 0, provenance: nil, checksum: nil, problem: "\(self.error(key, rc, "read"))"); return }
                do {
                    let l = try Seal.parse(UnsafeRawBufferPointer(start: b.base, count: Int(rc)), key: key, size: Int(rc) == want ? Int.max : Int(rc))
                    let short = Int(rc) < min(l.totalSize, self.chunkSize, want)
                    infos[i] = ObjectInfo(key: key, size: l.totalSize, provenance: Seal.provenance(l.metadata), checksum: l.metadata[Seal.checksumKey],
                                          problem: short ? "truncated: first object has \(rc) bytes" : nil)
                } catch {
                    infos[i] = ObjectInfo(key: key, size: Int(rc), provenance: nil, checksum: nil, problem: "\(error)")
                }
            })
        }
        aio.run()
        return infos
    }
}

/// A byte buffer whose address stays put while librados reads into it.
final class Buffer {
    let base: UnsafeMutableRawPointer
    var count: Int
    init(capacity: Int) {
        base = .allocate(byteCount: max(capacity, 1), alignment: 64); count = capacity
    }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    deinit { base.deallocate() }
}

/// A sealed object as the arrays it is made of (Seal.chunks), or one whole blob.
struct Blob {
    let segments: [[UInt8]]
    let count: Int

    init(_ segments: [[UInt8]]) {
        self.segments = segments
        count = segments.reduce(0) { $0 + $1.count }
    }

    /// Calls `body` with each stretch of bytes `range` covers, in order, and whether it is the first.
    func forEachPiece(of range: Range<Int>, _ body: (UnsafeRawBufferPointer, Bool) -> Void) {
        var offset = 0, first = true
        for segment in segments {
            let lo = max(range.lowerBound, offset), hi = min(range.upperBound, offset + segment.count)
            if lo < hi {
                segment.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[(lo - offset)..<(hi - offset)]), first) }
                first = false
            }
            offset += segment.count
        }
    }
}

/// librados asynchronous operations with at most `window` outstanding. One
/// thread drives it: `run` submits, sleeps until some operation completes
/// (whichever: a slow OSD does not hold up the others' refills), and calls
/// its continuation, which may queue more operations (the parts of an object).
final class Aio {
    typealias Submit = (rados_completion_t) -> Int32
    let window: Int
    private var queue: [(submit: Submit, done: (Int32) -> Void)] = []
    private var next = 0
    private var inFlight: [(completion: rados_completion_t, done: (Int32) -> Void)] = []
    /// Signalled by librados once per completed operation.
    private let completed = DispatchSemaphore(value: 0)

    init(window: Int) { self.window = max(1, window) }

    func add(submit: @escaping Submit, done: @escaping (Int32) -> Void) { queue.append((submit, done)) }

    func run() {
        let signal = Unmanaged.passUnretained(completed).toOpaque()
        while next < queue.count || !inFlight.isEmpty {
            while inFlight.count < window && next < queue.count {
                let op = queue[next]; next += 1
                var c: rados_completion_t?
                let made = rados_aio_create_completion2(signal, { _, arg in
                    Unmanaged<DispatchSemaphore>.fromOpaque(arg!).takeUnretainedValue().signal()
                }, &c)
                guard made == 0, let c else { op.done(-ENOMEM); continue }
                let rc = op.submit(c)
                if rc < 0 { rados_aio_release(c); op.done(rc) } else { inFlight.append((c, op.done)) }
            }
            guard !inFlight.isEmpty else { continue }
            completed.wait()
            // Every operation now complete (a wake-up may cover several; later ones then find none).
            var i = 0
            while i < inFlight.count {
                let (c, done) = inFlight[i]
                guard rados_aio_is_complete(c) != 0 else { i += 1; continue }
                inFlight.remove(at: i)
                rados_aio_wait_for_complete_and_cb(c)   // its signal is sent before the completion goes
                let rc = rados_aio_get_return_value(c)
                rados_aio_release(c)
                done(rc)
            }
        }
        queue.removeAll(); next = 0
    }
}
