import ArgumentParser
import Foundation
import Sweep

/// What resume costs on a long journal: the journal read for resume (states
/// only), and with `--simulated-tasks` the graph and scheduler built over it
/// as `run` does, and with `--full-read` every line decoded as the report
/// reads it; wall seconds and the process's peak memory.
struct JournalBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journal", abstract: "Resume's cost on a journal (bench scheduler --simulate-ranks writes long ones).")
    @Argument(help: "A results.jsonl.") var path: String
    @Option(name: .customLong("simulated-tasks"), help: "Also build the graph and scheduler of the simulated sweep of this many tasks (bench scheduler --tasks).") var simulatedTasks: Int?
    @Flag(name: .customLong("full-read"), help: "Also decode every line into records, as the report reads a journal.") var fullRead = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such journal") }
        var t = Date()
        let resume = try Journal.resume(path)
        let read = Date().timeIntervalSince(t)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var line = String(format: "journal %@: %d lines, %.1f MB, %d tasks, %d unreadable: read for resume %.2f s",
                          path, resume.lines, Double(bytes) / 1e6, resume.outcomes.count, resume.bad.count, read)
        if let tasks = simulatedTasks {
            t = Date()
            let graph = TaskGraph(try SweepFile.parse(bytes: Array(SchedulerSimulation.sweepText(tasks: tasks).utf8), path: "simulated.toml"))
            let graphSeconds = Date().timeIntervalSince(t)
            t = Date()
            let s = Scheduler(graph: graph, finished: resume.outcomes)
            line += String(format: "; graph of %d tasks %.2f s; scheduler %.2f s (%d left)", graph.tasks.count, graphSeconds,
                           Date().timeIntervalSince(t), s.count(.pending))
        }
        if fullRead {
            t = Date()
            let records = Journal.read(path).records.count
            line += String(format: "; full read (the report's) %d records %.2f s", records, Date().timeIntervalSince(t))
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print(line + String(format: "; peak RSS %.0f MB", Double(usage.ru_maxrss) / 1024))
    }
}
