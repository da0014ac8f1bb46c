import ArgumentParser
import Foundation
import Logging
import Sweep

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run or resume a sweep (one process, mpirun -np N, or srun --mpi=pmix).",
        discussion: """
        Results go to RESULTS/<name>/: results.jsonl (one line per finished task, the journal a rerun resumes from) \
        and manifest.json. Exit status: 0 all tasks done; 1 some tasks failed or were skipped; 2 bad input (fix it); \
        74 I/O or environment failure: full disk, store unreachable at start, results directory held by another run (fix, then rerun); \
        75 stopped early by SIGTERM, SIGINT or SIGUSR1, or the store stopped answering (unfinished: requeue, and the rerun resumes).
        """)

    @Argument(help: "The sweep file (TOML).") var sweep: String
    @Option(help: "Tensor store URL: file:///path or rados://POOL?conf=PATH&id=NAME (default: RESULTS/<name>/store).") var store: String?
    @Option(help: "Results directory.") var results: String = "results"
    @Option(help: "Run shard I of N (I/N, 0-based) as one job-array task; shards write separate journals.") var shard: String?
    @Option(help: "Seconds running tasks may take to finish after a stop signal.") var grace: Double = 60
    @Option(name: .customLong("max-failures"), help: "Stop handing out tasks after this many failed or skipped tasks.") var maxFailures: Int?
    @Flag(name: .customLong("retry-failed"), help: "Run failed and skipped tasks again (their new lines supersede the old).") var retryFailed = false
    @Flag(help: "Log every task start.") var verbose = false

    func validate() throws {
        if let s = shard, parseShard(s) == nil { throw ValidationError("--shard must be I/N with 0 <= I < N, got '\(s)'") }
        guard grace >= 0 else { throw ValidationError("--grace must be >= 0") }
        if let m = maxFailures, m < 1 { throw ValidationError("--max-failures must be at least 1") }
    }

    func parseShard(_ s: String) -> (Int, Int)? {
        let p = s.split(separator: "/").compactMap { Int($0) }
        guard p.count == 2, p[1] >= 1, (0..<p[1]).contains(p[0]) else { return nil }
        return (p[0], p[1])
    }

    func run() throws {
        bootstrapLogging(verbose: verbose)
        var o = RunOptions(sweepPath: sweep)
        o.storeURL = store
        o.resultsDir = results
        o.shard = shard.flatMap(parseShard).map { (index: $0.0, count: $0.1) }
        o.grace = grace
        o.maxFailures = maxFailures
        o.retryFailed = retryFailed
        o.toolVersion = toolVersion
        let status: ExitStatus
        do { status = try Engine.run(o) } catch {
            FileHandle.standardError.write(Data("prunesweep run: \(error)\n".utf8))
            throw ExitCode(ExitStatus(for: error).rawValue)
        }
        if status != .success { throw ExitCode(status.rawValue) }
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the expanded grid and task graph of a sweep, without running it.")
    @Argument(help: "The sweep file (TOML).") var sweep: String
    @Option(help: "How many tasks to list.") var show: Int = 10

    func run() throws {
        let s: SweepFile
        do { s = try SweepFile.load(path: sweep) } catch {
            FileHandle.standardError.write(Data("prunesweep plan: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        print(planText(s, show: show))
    }
}

func bootstrapLogging(verbose: Bool) {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = verbose ? .debug : .info
        return h
    }
}
