import Foundation
import Logging
import ProgressOutput

/// What a group leader tells rank 0 when it asks for work. On the wire: this
/// as JSON, a newline, then the journal line of the task it finished (encoded
/// by the leader, appended by rank 0 as it came).
struct WorkRequest: Codable {
    var leader: Int
    var line: JournalLine?
    /// The leader gave its task back unfinished (stopped past the grace period).
    var returned: String?
    /// A signal reached this leader's group: stop handing out work.
    var stopping = false

    enum CodingKeys: String, CodingKey { case leader, returned, stopping }

    init(leader: Int, line: JournalLine? = nil) { self.leader = leader; self.line = line }

    func message() throws -> [UInt8] {
        var m = try JSONEncoder().encode(self).bytes
        if let line { m.append(UInt8(ascii: "\n")); m += line.bytes }
        return m
    }

    init(message m: [UInt8]) throws {
        let cut = m.firstIndex(of: UInt8(ascii: "\n")) ?? m.count
        self = try JSONDecoder().decode(WorkRequest.self, from: Data(m[..<cut]))
        if cut < m.count { line = try JournalLine(checking: Array(m[(cut + 1)...])) }
    }
}

/// Rank 0's answer: a task's id, "ask again shortly", or stop with an exit
/// status. Ids travel, not specs: every rank expanded the same graph from the
/// same sweep-file bytes.
struct WorkReply: Codable {
    var task: String?
    var wait = false
    var stop: Int32?
}

/// The exit statuses a batch script can act on.
public enum ExitStatus: Int32 {
    case success = 0
    case failures = 1      // some tasks failed or were skipped
    case usage = 2         // bad input
    case environment = 74  // I/O or environment failure (EX_IOERR: full disk, store unreachable): fix, then rerun
    case unfinished = 75   // stopped early (EX_TEMPFAIL): requeue and rerun to resume
}

/// Rank 0's bookkeeping: hands out ready tasks, journals every result, reports
/// progress. A result counts (its task done, its dependents ready, its log
/// line and progress) only once the journal reports its line durable; the
/// leader that sent it gets its next task at once. Thread-safe: rank 0's own
/// leader calls it directly, the MPI listener for the other leaders, the
/// journal's writer thread with durable lines.
final class Coordinator: @unchecked Sendable {   // every entry point takes `lock`
    let scheduler: Scheduler
    let journal: Journal
    let maxFailures: Int?
    let logger: Logger
    let progress: ProgressLine
    private let lock = NSLock()
    private(set) var stopping = false
    private var failures = 0
    private var active: Set<Int>
    private var parked: [Int] = []
    private var durableNanoseconds: UInt64 = 0
    /// Seconds spent on durable lines (the journal's writer thread, under this coordinator's lock).
    var durableSeconds: Double { lock.withLock { Double(durableNanoseconds) * 1e-9 } }

    init(scheduler: Scheduler, journal: Journal, leaders: [Int], maxFailures: Int?, logger: Logger) {
        self.scheduler = scheduler; self.journal = journal; self.maxFailures = maxFailures; self.logger = logger
        active = Set(leaders)
        progress = ProgressLine("tasks", total: scheduler.total, unit: "tasks")
        failures = scheduler.count(.failed) + scheduler.count(.skipped)
        journal.onDurable = { [weak self] batch in self?.durable(batch) }
    }

    /// Waits until every result handed in is durable and counted.
    func drain() throws { try journal.flush() }

    var finished: Bool { lock.withLock { active.isEmpty } }

    func requestStop(_ reason: String) {
        lock.withLock {
            if !stopping { logger.notice("stopping: \(reason); no new tasks, running ones may finish") }
            stopping = true
        }
    }

    func handle(_ r: WorkRequest) throws -> WorkReply {
        try lock.withLock {
            if let line = r.line {
                guard scheduler.state(of: line.task) != nil else { throw SweepError("rank \(r.leader) reported task \(line.task), which this sweep does not define") }
                try journal.submit(line)
            }
            if let id = r.returned { scheduler.requeue(id) }
            if r.stopping && !stopping {
                stopping = true
                logger.notice("stopping: signal on rank \(r.leader); no new tasks, running ones may finish")
            }
            if let m = maxFailures, failures >= m, !stopping {
                stopping = true
                logger.error("stopping: \(failures) failures (--max-failures \(m))")
            }
            return reply(to: r.leader)
        }
    }

    /// As `handle`, but a leader with nothing to do yet is parked (nil): `wake`
    /// answers it once a task is ready or the sweep stops. Leaders over MPI
    /// wait this way: 10,000 of them polling every 20 ms would swamp rank 0.
    func handleParking(_ r: WorkRequest) throws -> WorkReply? {
        let answer = try handle(r)
        guard answer.wait else { return answer }
        lock.withLock { parked.append(r.leader) }
        return nil
    }

    /// Replies owed to parked leaders that now have a task or must stop.
    func wake() -> [(leader: Int, reply: WorkReply)] {
        lock.withLock {
            guard !parked.isEmpty, stopping || scheduler.hasReady || scheduler.isComplete else { return [] }
            var out: [(leader: Int, reply: WorkReply)] = [], still: [Int] = []
            for l in parked {
                let r = reply(to: l)
                if r.wait { still.append(l) } else { out.append((l, r)) }
            }
            parked = still
            return out
        }
    }

    /// A task, stop, or wait (under `lock`).
    private func reply(to leader: Int) -> WorkReply {
        if !stopping, let t = scheduler.next() { return WorkReply(task: t.id) }
        if stopping || scheduler.isComplete {
            active.remove(leader)
            return WorkReply(stop: status.rawValue)
        }
        return WorkReply(wait: true)
    }

    var status: ExitStatus {
        if !scheduler.isComplete && !(maxFailures.map { failures >= $0 } ?? false) { return .unfinished }
        return failures > 0 ? .failures : .success
    }

    /// Lines now on disk: their tasks finish (dependents of a failure are skipped, their lines queued in turn).
    private func durable(_ batch: [JournalLine]) {
        let clock = DispatchTime.now().uptimeNanoseconds
        defer { lock.withLock { durableNanoseconds += DispatchTime.now().uptimeNanoseconds - clock } }
        lock.withLock {
            for line in batch {
                if line.status != .done { failures += 1 }
                if line.status == .skipped { continue }   // a skip this coordinator wrote: already applied
                if line.status == .failed { logFailure(line) }
                for s in scheduler.finish(line.task, line.state) {
                    var skip = ResultRecord(s, status: .skipped)
                    skip.error = "needs \(line.task), which \(line.status == .failed ? "failed" : "was skipped")"
                    skip.finished = ISO8601DateFormatter().string(from: Date())
                    do { try journal.submit(try JournalLine(skip)) } catch { logger.error("\(error)") }
                }
            }
            showProgress()
        }
    }

    /// The tasks by state, for the manifest.
    var counts: [String: Int] {
        lock.withLock {
            let s = scheduler
            return ["total": s.total, "done": s.count(.done), "failed": s.count(.failed), "skipped": s.count(.skipped),
                    "unfinished": s.count(.pending) + s.count(.running)]
        }
    }

    /// The progress line, from another thread (a batch log gets one every 30 s).
    func tick() { lock.withLock { showProgress() } }

    private func showProgress() {
        let running = scheduler.count(.running), failed = scheduler.count(.failed) + scheduler.count(.skipped)
        let done = scheduler.total - scheduler.count(.pending) - running
        progress.update(done, extra: "running \(running) failed \(failed)")
    }

    /// A failed task's error, from its line (the leader logged it too, on its own rank).
    private func logFailure(_ line: JournalLine) {
        guard let r = try? JSONDecoder().decode(ResultRecord.self, from: Data(line.bytes)) else { return }
        logger.error("failed \(r.label): \(r.error ?? "")", metadata: ["task": "\(r.task)", "rank": "\(r.rank)"])
    }
}

extension NSLock {
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock(); defer { unlock() }
        return try body()
    }
}
