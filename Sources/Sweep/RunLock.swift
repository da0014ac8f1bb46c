import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run per results directory (per journal): a lock file made with
/// link(2), which is atomic on NFS and Lustre as on a local disk (O_EXCL was
/// not on old NFS, and flock is emulated, off by default on Lustre, or lost
/// with its client). The file names its holder (host, pid, the process's start
/// time) and the holder touches it every `heartbeat` seconds. A lock is stale
/// when, on the same host, its process is gone (or the pid now belongs to a
/// process that started at another time), or, from another host, it was not
/// touched for `lease` seconds by the file server's clock (compared with a
/// file touched just now, so clocks of different hosts never meet).
public final class RunLock: @unchecked Sendable {   // `released` is set under `lock`
    public struct Holder: Codable, Equatable, Sendable, CustomStringConvertible {
        public var host: String
        public var pid: Int32
        public var started: String      // ISO 8601, for people
        public var processStart: UInt64 // /proc/PID/stat field 22, for pid reuse
        public var description: String { "host \(host), pid \(pid), started \(started)" }
    }

    public static let heartbeat = 10.0, lease = 60.0
    public let path: String
    public let holder: Holder
    /// Set when a stale lock was taken over: whose it was.
    public private(set) var tookOver: Holder?
    private let lock = NSLock()
    private var released = false

    /// Takes the lock or throws `RunLockHeld` naming the holder.
    public init(path: String) throws {
        self.path = path
        let pid = getpid()
        holder = Holder(host: RunLock.hostname, pid: pid, started: ISO8601DateFormatter().string(from: Date()),
                        processStart: RunLock.processStart(pid) ?? 0)
        let body = try JSONEncoder().encode(holder)
        for _ in 0..<3 {
            if try RunLock.link(body, to: path) { startHeartbeat(); return }
            guard let current = RunLock.read(path) else { continue }   // released meanwhile, or half-written: try again
            guard RunLock.isStale(current, path: path) else { throw RunLockHeld(path: path, holder: current) }
            // Move the stale file aside; of several takers only one rename succeeds.
            let aside = "\(path).stale.\(holder.host).\(pid)"
            guard rename(path, aside) == 0 else { continue }
            defer { unlink(aside) }
            if RunLock.read(aside) != current, Glibc.link(aside, path) == 0 { continue }  // moved a fresh lock: put it back
            tookOver = current
        }
        throw EnvironmentError("\(path): cannot take the run lock (it keeps changing hands)")
    }

    deinit { release() }

    /// Removes the lock if it is still ours.
    public func release() {
        lock.withLock {
            guard !released else { return }
            released = true
            if RunLock.read(path) == holder { unlink(path) }
        }
    }

    private func startHeartbeat() {
        Thread.detachNewThread { [weak self] in
            while true {
                usleep(UInt32(RunLock.heartbeat * 1_000_000))
                guard let self, !self.lock.withLock({ self.released }) else { return }
                utimes(self.path, nil)   // the server's time (SET_TO_SERVER_TIME on NFS)
            }
        }
    }

    /// Writes `body` to a unique name, then links it to `path`: true if the lock is now ours.
    static func link(_ body: Data, to path: String) throws -> Bool {
        let temp = "\(path).\(hostname).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: temp, contents: body) else {
            throw EnvironmentError.errno("\(path): cannot write the run lock")
        }
        defer { unlink(temp) }
        if Glibc.link(temp, path) == 0 { return true }
        let failure = errno
        // NFS: a retransmitted link may report EEXIST although it succeeded; the link count tells.
        var st = stat()
        if stat(temp, &st) == 0, st.st_nlink == 2 { return true }
        guard failure == EEXIST else { throw EnvironmentError("\(path): cannot make the run lock: \(String(cString: strerror(failure)))") }
        return false
    }

    static func read(_ path: String) -> Holder? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Holder.self, from: $0) }
    }

    static func isStale(_ h: Holder, path: String) -> Bool {
        if h.host == hostname {
            // gone, a zombie (killed, not yet reaped), or its pid reused by a later process
            guard let (state, start) = process(h.pid) else { return true }
            return state == "Z" || state == "X" || (h.processStart != 0 && start != h.processStart)
        }
        return age(path).map { $0 > lease } ?? false
    }

    /// Seconds since `path` was last touched, by the file server's clock.
    static func age(_ path: String) -> Double? {
        let probe = "\(path).probe.\(hostname).\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: nil) else { return nil }
        defer { unlink(probe) }
        var a = stat(), b = stat()
        guard stat(path, &a) == 0, stat(probe, &b) == 0 else { return nil }
        return Double(b.st_mtim.tv_sec - a.st_mtim.tv_sec) + Double(b.st_mtim.tv_nsec - a.st_mtim.tv_nsec) / 1e9
    }

    /// Process `pid`'s state letter and start time (clock ticks after boot), from /proc; nil if it is gone.
    static func process(_ pid: Int32) -> (state: String, start: UInt64)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")   // from field 3, the state
        guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }     // field 22, the start time
        return (String(fields[0]), start)
    }

    static func processStart(_ pid: Int32) -> UInt64? { process(pid)?.start }

    static let hostname: String = {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(cString: buf)
    }()
}

public struct RunLockHeld: Error, CustomStringConvertible {
    public let path: String
    public let holder: RunLock.Holder
    public var description: String {
        "\(path): another run holds this results directory (\(holder)); wait for it, or remove the file if that run is gone"
    }
}
