import Cluster
import Foundation
import Logging
import NeuralNet
import Safetensors
import TensorStore

public struct RunOptions {
    public var sweepPath: String
    public var storeURL: String?
    public var resultsDir = "results"
    public var shard: (index: Int, count: Int)?
    public var grace: Double = 60
    public var maxFailures: Int?
    public var retryFailed = false
    public var toolVersion = "0"
    public init(sweepPath: String) { self.sweepPath = sweepPath }
}

/// MPI message tags between group leaders and rank 0.
enum Tag: Int { case request = 1, reply = 2, stop = 3 }

/// Set from signal handlers; read by the watchdog thread.
nonisolated(unsafe) private var signalReceived: Int32 = 0

/// Runs (or resumes) a sweep on every rank of the world. Rank 0 reads the
/// journal, coordinates and also works; ranks form groups of `group_size`, and
/// each group's leader asks rank 0 for ready tasks.
public enum Engine {
    /// `execute` replaces the real task runner (benchmarks of the coordinator itself).
    public static func run(_ o: RunOptions, execute: ((SweepTask) throws -> TaskMetrics?)? = nil) throws -> ExitStatus {
        Orphan.watchIfLaunched()   // before MPI_Init, which a dead launcher can stall
        let world = try World.initialize()
        var logger = Logger(label: "prunesweep")
        logger[metadataKey: "rank"] = "\(world.rank)"

        // Rank 0 reads the sweep file and hands its bytes to the others, so only
        // the submitting node needs to see it.
        var text = [UInt8]()
        var problem = ""
        if world.rank == 0 {
            do { text = try SweepFile.read(path: o.sweepPath) } catch { problem = "\(error)" }
        }
        problem = String(decoding: try world.broadcast(Array(problem.utf8)), as: UTF8.self)
        guard problem.isEmpty else { throw SweepError(problem) }
        text = try world.broadcast(text)
        // every rank parses the same bytes, so a bad file fails the same way everywhere
        let sweep = try SweepFile.parse(bytes: text, path: o.sweepPath)
        guard world.size % sweep.groupSize == 0 else {
            throw SweepError("\(o.sweepPath): run.group_size = \(sweep.groupSize) does not divide the \(world.size) ranks")
        }
        Compute.configure(threads: sweep.threads)

        let dir = "\(o.resultsDir)/\(sweep.name)"
        let suffix = o.shard.map { ".shard-\($0.index)-of-\($0.count)" } ?? ""
        let storeURL = o.storeURL ?? "file://\(absolute(dir))/store"
        // Rank 0 takes the directory's run lock before it reads the journal; the
        // others wait for its word, so a refused run stops on every rank.
        var runLock: RunLock?
        var failure: Error?
        if world.rank == 0 {
            do {
                try sweep.checkMachine()   // rank 0's machine, as `plan` checked it; before anything is written
                do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                    throw EnvironmentError("\(dir): cannot make the results directory: \((error as NSError).localizedDescription)")
                }
                runLock = try RunLock(path: "\(dir)/run\(suffix).lock")
                if let old = runLock?.tookOver { logger.warning("took over the run lock of a run that is gone (\(old))") }
            } catch { failure = error }
        }
        // the exit status, then the message: every rank ends with the same status
        let word = try world.broadcast(failure.map { [UInt8(ExitStatus(for: $0).rawValue)] + Array("\($0)".utf8) } ?? [])
        if let failure { throw failure }
        if let code = word.first { throw RankFailure(status: ExitStatus(rawValue: Int32(code)) ?? .usage, description: String(decoding: word.dropFirst(), as: UTF8.self)) }
        defer { runLock?.release() }

        let leaders = Array(stride(from: 0, to: world.size, by: sweep.groupSize))

        let journalPath = "\(dir)/results\(suffix).jsonl"
        // a journal that is not a regular file (a FIFO) would block both the read and the open
        if world.rank == 0, FileManager.default.fileExists(atPath: journalPath) { _ = try InputFile.regularSize(journalPath) }
        let (graph, read) = try TaskGraph.build(sweep, readingJournal: world.rank == 0 ? journalPath : nil)
        var coordinator: Coordinator?
        var manifest: Manifest?
        if world.rank == 0, let journalSoFar = read {
            for b in journalSoFar.bad { logger.warning("\(journalPath):\(b.line): \(b.problem); ignored") }
            let strangers = journalSoFar.legacy.filter { graph[$0.task] == nil }
            guard strangers.isEmpty else {
                throw SweepError("""
                    \(journalPath): \(strangers.count) line(s) were written by prunesweep 0.1.0 (journal format 1) for tasks \
                    this sweep file does not define. 0.1.0 trained parents and fine-tuned at a constant learning rate; \
                    this version follows [parent] and [finetune] schedule (default "cosine"). To resume these results, \
                    add schedule = "constant" to [parent] and [finetune]; to start afresh, give another --results directory. \
                    prunesweep report reads the old journal as it is.
                    """)
            }
            var outcomes = journalSoFar.outcomes
            if o.retryFailed { outcomes = outcomes.filter { $0.value == .done } }
            let only = o.shard.map { graph.shard($0.index, of: $0.count) }
            let scheduler = Scheduler(graph: graph, finished: outcomes, only: only)
            let journal = try Journal(path: journalPath)
            coordinator = Coordinator(scheduler: scheduler, journal: journal, leaders: leaders, maxFailures: o.maxFailures, logger: logger)
            logger.info("sweep \(sweep.name): \(scheduler.total) tasks, \(scheduler.count(.done)) already done; \(world.size) ranks in groups of \(sweep.groupSize); store \(storeURL)")
            manifest = Manifest(path: "\(dir)/manifest\(suffix).json", sweep: sweep, sweepText: String(decoding: text, as: UTF8.self), toolVersion: o.toolVersion)
        }
        let hosts = try world.gather(Array(World.hostname.utf8))?.map { String(decoding: $0, as: UTF8.self) }
        try manifest?.start(ranks: world.size, groupSize: sweep.groupSize, hosts: hosts ?? [], store: storeURL)
        // from here on, the manifest records how the run ends, whatever ends it
        do {
            return try work(o, world: world, sweep: sweep, graph: graph, storeURL: storeURL, coordinator: coordinator, manifest: manifest, execute: execute, logger: logger)
        } catch {
            try? manifest?.finish(status: ExitStatus(for: error), counts: coordinator?.counts ?? [:], error: "\(error)")
            throw error
        }
    }

    static func work(_ o: RunOptions, world: Communicator, sweep: SweepFile, graph: TaskGraph, storeURL: String, coordinator: Coordinator?, manifest: Manifest?,
                     execute: ((SweepTask) throws -> TaskMetrics?)?, logger: Logger) throws -> ExitStatus {
        let store = try openStore(url: storeURL)
        let group = try world.split(color: world.rank / sweep.groupSize, key: world.rank)
        installSignalHandlers()

        let deadline = Deadline()
        startWatchdog(world: world, grace: o.grace, deadline: deadline, coordinator: coordinator, manifest: manifest, logger: logger)
        if let c = coordinator, world.isMPI { startListener(world: world, coordinator: c) }

        let runner = TaskRunner(store: store, group: group, provenance: { t in
            Provenance(task: t.id, sweepHash: sweep.hash, toolVersion: o.toolVersion)
        }, shouldAbandon: { deadline.passed })

        let status: Int32
        if group.rank == 0 {
            status = try lead(world: world, group: group, graph: graph, execute: execute ?? runner.run, coordinator: coordinator, logger: logger)
        } else {
            status = try follow(group: group, graph: graph, execute: execute ?? runner.run)
        }
        if let c = coordinator {
            while !c.finished { usleep(1000) }
            try c.drain()
            try manifest?.finish(status: ExitStatus(rawValue: status) ?? .failures, counts: c.counts)
        }
        try world.barrier()
        return ExitStatus(rawValue: status) ?? .failures
    }

    /// A group leader: ask rank 0 for a task, run it with the group, report, repeat.
    static func lead(world: Communicator, group: Communicator, graph: TaskGraph, execute: (SweepTask) throws -> TaskMetrics?, coordinator: Coordinator?, logger: Logger) throws -> Int32 {
        var request = WorkRequest(leader: world.rank)
        while true {
            request.stopping = signalReceived != 0
            let reply = try ask(world: world, coordinator: coordinator, request)
            request = WorkRequest(leader: world.rank)
            if let code = reply.stop {
                _ = try group.broadcast(try JSONEncoder().encode(WorkReply(stop: code)).bytes)
                return code
            }
            guard let id = reply.task else { usleep(20_000); continue }
            guard let task = graph[id] else { throw SweepError("rank 0 handed out task \(id), which this rank's sweep does not define") }
            _ = try group.broadcast(try JSONEncoder().encode(reply).bytes)
            var log = logger
            log[metadataKey: "task"] = "\(task.id)"
            log.debug("start \(task.label)")
            let started = Date()
            var record = ResultRecord(task, status: .done)
            do {
                record.metrics = try execute(task)
                if let c = record.trial?.collapsed, !c.isEmpty { log.warning("whole tensors pruned away: \(c.joined(separator: ","))") }
            } catch is Abandoned {
                request.returned = task.id
                continue
            } catch let e as StoreError where e.isTransient {
                // the store stopped answering: give the task back and stop, so a requeue resumes it
                log.error("\(e); stopping (exit \(ExitStatus.unfinished.rawValue): requeue when the store is back)")
                request.returned = task.id
                request.stopping = true
                signalReceived = 1
                continue
            } catch {
                record.status = .failed
                record.error = "\(error)"
            }
            record.seconds = Date().timeIntervalSince(started)
            record.rank = world.rank
            record.host = World.hostname
            record.finished = ISO8601DateFormatter().string(from: Date())
            logResult(record, log)
            request.line = try JournalLine(record)
        }
    }

    /// The leader's log line of a finished task, with its main figures.
    static func logResult(_ r: ResultRecord, _ logger: Logger) {
        var meta: Logger.Metadata = ["seconds": "\(String(format: "%.1f", r.seconds))"]
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

    /// A group member: run whatever task the leader broadcasts, until told to stop.
    static func follow(group: Communicator, graph: TaskGraph, execute: (SweepTask) throws -> TaskMetrics?) throws -> Int32 {
        while true {
            let reply = try JSONDecoder().decode(WorkReply.self, from: Data(try group.broadcast([])))
            if let code = reply.stop { return code }
            if let task = reply.task.flatMap({ graph[$0] }) { _ = try? execute(task) }
        }
    }

    static func ask(world: Communicator, coordinator: Coordinator?, _ r: WorkRequest) throws -> WorkReply {
        Orphan.check()
        if let c = coordinator { return try c.handle(r) }
        try world.send(try r.message(), to: 0, tag: Tag.request.rawValue)
        let (_, bytes) = try world.receive(from: 0, tag: Tag.reply.rawValue)
        return try JSONDecoder().decode(WorkReply.self, from: Data(bytes))
    }

    /// Rank 0's thread that answers the other leaders (polls, so it does not
    /// spin a core that rank 0's own training needs).
    static func startListener(world: Communicator, coordinator c: Coordinator) {
        Thread.detachNewThread {
            var idle = 0
            while !c.finished {
                do {
                    if let env = try world.probe(tag: Tag.stop.rawValue) {
                        _ = try world.receive(from: env.source, tag: Tag.stop.rawValue)
                        c.requestStop("signal on rank \(env.source)")
                    }
                    for (leader, reply) in c.wake() {
                        try world.send(try JSONEncoder().encode(reply).bytes, to: leader, tag: Tag.reply.rawValue)
                        idle = 0
                    }
                    if let env = try world.probe(tag: Tag.request.rawValue) {
                        let (_, bytes) = try world.receive(from: env.source, tag: Tag.request.rawValue)
                        Orphan.check()
                        if let reply = try c.handleParking(try WorkRequest(message: bytes)) {
                            try world.send(try JSONEncoder().encode(reply).bytes, to: env.source, tag: Tag.reply.rawValue)
                        }
                        idle = 0
                        continue
                    }
                } catch {
                    FileHandle.standardError.write(Data("prunesweep: coordinator: \(error)\n".utf8))
                    world.abort(code: ExitStatus.failures.rawValue)
                }
                idle += 1
                usleep(idle < 1000 ? 50 : 2000)
            }
        }
    }

    /// On a stop signal: tell rank 0, give running tasks `grace` seconds, then
    /// abandon them (the journal is already on disk) and exit "unfinished".
    static func startWatchdog(world: Communicator, grace: Double, deadline: Deadline, coordinator: Coordinator?, manifest: Manifest?, logger: Logger) {
        Thread.detachNewThread {
            var lastTick = Date()
            while signalReceived == 0 {
                usleep(50_000)
                if let c = coordinator, Date().timeIntervalSince(lastTick) > 30 { c.tick(); lastTick = Date() }
            }
            logger.notice("signal received; finishing running tasks for up to \(Int(grace)) s")
            if let c = coordinator { c.requestStop("signal") } else { try? world.send([1], to: 0, tag: Tag.stop.rawValue) }
            deadline.set(Date().addingTimeInterval(grace))
            while !deadline.passed { usleep(50_000) }
            // past the grace period: the running task is abandoned
            usleep(UInt32(min(grace, 5) * 1_000_000) + 2_000_000)
            logger.warning("grace period over; abandoning running tasks")
            if let c = coordinator { try? c.drain(); try? manifest?.finish(status: .unfinished, counts: c.counts) }
            world.abort(code: ExitStatus.unfinished.rawValue)
        }
    }

    static func installSignalHandlers() {
        for s in [SIGTERM, SIGINT, SIGUSR1] { signal(s) { _ in signalReceived = 1 } }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// A moment set once, read from other threads.
final class Deadline: @unchecked Sendable {
    private let lock = NSLock()
    private var when: Date?
    func set(_ d: Date) { lock.withLock { when = d } }
    var passed: Bool { lock.withLock { when.map { Date() >= $0 } ?? false } }
}

extension Data { var bytes: [UInt8] { [UInt8](self) } }
