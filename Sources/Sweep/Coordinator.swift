import Foundation
import Logging
import ProgressOutput

/// What a group leader tells rank 0 when it asks for work.
struct WorkRequest: Codable {
    var leader: Int
    var result: ResultRecord?
    /// The leader gave its task back unfinished (stopped past the grace period).
    var returned: String?
    /// A signal reached this leader's group: stop handing out work.
    var stopping = false
}

/// Rank 0's answer: a task, "ask again shortly", or stop with an exit status.
struct WorkReply: Codable {
    var task: SweepTask?
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

/// Rank 0's bookkeeping: hands out ready tasks, journals every result
/// (appended and fsync'd before anything else happens), reports progress.
/// Thread-safe: rank 0's own leader calls it directly, the MPI listener for
/// the other leaders.
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

    init(scheduler: Scheduler, journal: Journal, leaders: [Int], maxFailures: Int?, logger: Logger) {
        self.scheduler = scheduler; self.journal = journal; self.maxFailures = maxFailures; self.logger = logger
        active = Set(leaders)
        progress = ProgressLine("tasks", total: scheduler.total, unit: "tasks")
        failures = scheduler.count(.failed) + scheduler.count(.skipped)
    }

    var finished: Bool { lock.withLock { active.isEmpty } }

    func requestStop(_ reason: String) {
        lock.withLock {
            if !stopping { logger.notice("stopping: \(reason); no new tasks, running ones may finish") }
            stopping = true
        }
    }

    func handle(_ r: WorkRequest) throws -> WorkReply {
        try lock.withLock {
            if let result = r.result { try record(result) }
            if let id = r.returned { scheduler.requeue(id) }
            if r.stopping && !stopping {
                stopping = true
                logger.notice("stopping: signal on rank \(r.leader); no new tasks, running ones may finish")
            }
            if let m = maxFailures, failures >= m, !stopping {
                stopping = true
                logger.error("stopping: \(failures) failures (--max-failures \(m))")
            }
            if !stopping, let t = scheduler.next() { return WorkReply(task: t) }
            if stopping || scheduler.isComplete {
                active.remove(r.leader)
                return WorkReply(stop: status.rawValue)
            }
            return WorkReply(wait: true)
        }
    }

    var status: ExitStatus {
        if !scheduler.isComplete && !(maxFailures.map { failures >= $0 } ?? false) { return .unfinished }
        return failures > 0 ? .failures : .success
    }

    private func record(_ result: ResultRecord) throws {
        try journal.append(result)
        var finals = [result]
        for s in scheduler.finish(result.task, result.state) {
            var skip = ResultRecord(s, status: .skipped)
            skip.error = "needs \(result.task), which \(result.status == .failed ? "failed" : "was skipped")"
            skip.finished = result.finished
            try journal.append(skip)
            finals.append(skip)
        }
        for f in finals where f.status != .done { failures += 1 }
        logLine(result)
        showProgress()
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

    private func logLine(_ r: ResultRecord) {
        var meta: Logger.Metadata = ["task": "\(r.task)", "rank": "\(r.rank)"]
        meta["seconds"] = "\(String(format: "%.1f", r.seconds))"
        func add(_ name: String, _ v: Double?) { if let v { meta[name] = "\(String(format: "%.4f", v))" } }
        if let m = r.trial {
            for k in [TrialMetric.ratio, .cosine, .accuracyBefore, .accuracyAfter, .agreementParent] { add(k.rawValue, k.value(m)) }
        }
        if let m = r.train {
            add("accuracy", m.accuracy); add("optimal_ratio", m.optimalRatio); add("safe_ratio", m.safeRatio); add("k2", m.k2)
        }
        if r.status == .done {
            logger.info("done \(r.label)", metadata: meta)
        } else {
            logger.error("\(r.status.rawValue) \(r.label): \(r.error ?? "")", metadata: meta)
        }
    }
}

extension NSLock {
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock(); defer { unlock() }
        return try body()
    }
}
