import Foundation

/// The journal's writer thread: takes every line queued since its last
/// fsync, writes them in one write and makes them durable with one fsync
/// (group commit), then tells `onDurable`. Sequence numbers count
/// lines queued and lines durable, so a caller can wait for its own line.
final class JournalWriter: @unchecked Sendable {   // every field behind `condition`
    let path: String
    private let fd: Int32
    private let sync: @Sendable (Int32) -> Int32
    private let condition = NSCondition()
    private var pending: [JournalLine] = []
    private var closing = false
    private var failure: EnvironmentError?
    var onDurable: (@Sendable ([JournalLine]) -> Void)?
    private(set) var queued = 0
    private(set) var durable = 0
    private(set) var bytes = 0
    private(set) var fsyncs = 0
    /// Time spent writing and syncing.
    private(set) var busyNanoseconds: UInt64 = 0
    private var done = false

    init(path: String, fd: Int32, sync: @escaping @Sendable (Int32) -> Int32) {
        self.path = path; self.fd = fd; self.sync = sync
        let t = Thread { [self] in run() }
        t.name = "journal"
        t.start()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock(); defer { condition.unlock() }
        return try body()
    }

    /// The line's sequence number (1, 2, ...).
    func enqueue(_ r: JournalLine) throws -> Int {
        try withLock {
            if let failure { throw failure }
            pending.append(r)
            queued += 1
            condition.broadcast()
            return queued
        }
    }

    func wait(until sequence: Int) throws {
        try withLock {
            while durable < sequence && failure == nil { condition.wait() }
            if let failure { throw failure }
        }
    }

    /// Waits until every line queued is durable, lines queued meanwhile (by `onDurable`) included.
    func waitForAll() throws {
        try withLock {
            while durable < queued && failure == nil { condition.wait() }
            if let failure { throw failure }
        }
    }

    /// Writes what is queued, then stops the thread and closes the file.
    func close() {
        withLock {
            closing = true
            condition.broadcast()
            while !done { condition.wait() }
        }
        Foundation.close(fd)
    }

    private func run() {
        var out = [UInt8]()
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            if pending.isEmpty || failure != nil {   // closing, everything written
                done = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = pending
            pending = []
            let report = onDurable
            condition.unlock()

            let clock = DispatchTime.now().uptimeNanoseconds
            out.removeAll(keepingCapacity: true)
            for line in batch { out += line.bytes; out.append(UInt8(ascii: "\n")) }
            var problem = writeAll(out)
            if problem == nil, sync(fd) != 0 { problem = "fsync: \(String(cString: strerror(errno)))" }

            // the durable count moves after onDurable ran, so a flush also waits for what it reports
            if problem == nil { report?(batch) }
            withLock {
                if let problem {
                    failure = EnvironmentError("\(path): cannot append to the journal: \(problem)")
                } else {
                    durable += batch.count
                    bytes += out.count
                    fsyncs += 1
                    busyNanoseconds += DispatchTime.now().uptimeNanoseconds - clock
                }
                condition.broadcast()
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return "write: \(String(cString: strerror(n == 0 ? ENOSPC : errno)))" }   // a write of 0 bytes sets no errno: the disk is full
            offset += n
        }
        return nil
    }
}
