import ArgumentParser
import Foundation
import Sweep

/// What resume costs on a long journal: the journal read for resume (states
/// only), and with `--simulated-tasks` the graph alone and then the whole
/// resume as `run` does it (graph and read at once, then the scheduler), and
/// with `--full-read` every line decoded as the report reads it; wall seconds
/// and the process's peak memory.
struct JournalBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journal", abstract: "Resume's cost on a journal (bench scheduler --simulate-ranks writes long ones).")
    @Argument(help: "A results.jsonl.") var path: String
    @Option(name: .customLong("simulated-tasks"), help: "Also build the graph and scheduler of the simulated sweep of this many tasks (bench scheduler --tasks).") var simulatedTasks: Int?
    @Flag(name: .customLong("full-read"), help: "Also decode every line into records, as the report reads a journal.") var fullRead = false
    @Option(name: .customLong("rewrite"), help: "Also append the journal's first 100,000 lines to a new journal at this path, --rate lines a second (group commit on its file system); removed afterwards.") var rewrite: String?
    @Option(help: "Lines a second queued by --rewrite (0: all at once).") var rate: Double = 20000

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such journal") }
        var t = Date()
        let resume = try Journal.resume(path)
        let read = Date().timeIntervalSince(t)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var line = String(format: "journal %@: %d lines, %.1f MB, %d tasks, %d unreadable: read for resume %.2f s",
                          path, resume.lines, Double(bytes) / 1e6, resume.outcomes.count, resume.bad.count, read)
        if let tasks = simulatedTasks {
            let sweep = try SweepFile.parse(bytes: Array(SchedulerSimulation.sweepText(tasks: tasks).utf8), path: "simulated.toml")
            t = Date()
            let graph = TaskGraph(sweep)
            line += String(format: "; graph of %d tasks %.2f s", graph.tasks.count, Date().timeIntervalSince(t))
            // as `run` resumes: the journal read while the graph builds, then the scheduler
            t = Date()
            let (again, read) = try TaskGraph.build(sweep, readingJournal: path)
            let s = Scheduler(graph: again, finished: read?.outcomes ?? [:])
            line += String(format: "; resume as run does it (read beside the graph, then the scheduler) %.2f s, %d tasks left",
                           Date().timeIntervalSince(t), s.count(.pending))
        }
        if fullRead {
            t = Date()
            let records = Journal.read(path).records.count
            line += String(format: "; full read (the report's) %d records %.2f s", records, Date().timeIntervalSince(t))
        }
        if let target = rewrite { line += try rewriteRate(to: target) }
        print(line + String(format: "; peak RSS %.0f MB", peakResidentMB()))
    }

    /// Lines queued at `rate` a second (in 1 ms steps), then flushed: durable
    /// lines per second, lines per fsync, and how busy the writer thread was.
    func rewriteRate(to target: String) throws -> String {
        guard !FileManager.default.fileExists(atPath: target) else { throw ValidationError("--rewrite \(target) exists; give a new path") }
        defer { try? FileManager.default.removeItem(atPath: target) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("\(path): cannot read") }
        let head = try handle.read(upToCount: 400 << 20) ?? Data()   // enough for 100,000 lines of 1.7 KB
        var lines = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).prefix(100_000).map { [UInt8]($0) }
        if head.count == 400 << 20 { lines.removeLast() }   // maybe cut
        let checked = try lines.map { try JournalLine(checking: $0) }
        let journal = try Journal(path: target)
        let t = Date()
        for (i, l) in checked.enumerated() {
            try journal.submit(l)
            if rate > 0, i + 1 < checked.count { let due = Double(i + 1) / rate; let ahead = due - Date().timeIntervalSince(t); if ahead > 0.001 { usleep(UInt32(ahead * 1e6)) } }
        }
        let queued = Date().timeIntervalSince(t)
        try journal.flush()
        let seconds = Date().timeIntervalSince(t), w = journal.written
        return String(format: "; rewrite of %d lines queued at %.0f/s: %.0f durable lines/s, %d fsyncs (%.1f lines each), writer busy %.0f %%",
                      w.lines, Double(w.lines) / queued, Double(w.lines) / seconds, w.fsyncs, Double(w.lines) / Double(max(w.fsyncs, 1)), 100 * w.seconds / seconds)
    }
}
