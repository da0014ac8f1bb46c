import ArgumentParser
import Distillation
import Foundation
import Reports
import Sweep

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tables, statistics, plots and an HTML page from one or more sweep results directories.",
        discussion: """
        Reads every results*.jsonl (a journal or the shard journals of a job array) and manifest.json of each \
        RESULTS/<name>/ directory given; works while a sweep is still writing. Results of different datasets or \
        architectures are analysed apart, one study per (dataset, architecture), in one report. Writes report.md, \
        report.csv (tidy: one row per cell and metric), report.html, report.json and plots/*.svg (into the first \
        directory unless --out), and prints a summary table; with --format json it prints the JSON instead. \
        Unreadable lines are reported and skipped. Exit status: 0 written; 2 no results or bad input.
        """)

    @Argument(help: "Results directories (RESULTS/<name>/).") var directories: [String]
    @Option(help: "The teacher every other teacher is tested against.") var control: TeacherKind = .none
    @Option(help: "What to write: md, csv, html, json or all.") var format: String = "all"
    @Option(help: "Output directory (default: the first results directory).") var out: String?

    func validate() throws {
        guard !directories.isEmpty else { throw ValidationError("give at least one results directory") }
    }

    func run() throws {
        do {
            guard let format = Reports.Report.Format(rawValue: format) else {
                throw ReportError("--format must be one of \(Reports.Report.Format.allCases.map(\.rawValue).joined(separator: ", ")), got '\(self.format)'")
            }
            let r = try Reports.Report(directories: directories, control: control)
            for b in r.set.badLines { FileHandle.standardError.write(Data("prunesweep report: \(b.file):\(b.line): skipped: \(b.problem)\n".utf8)) }
            let cells = r.analyses.flatMap(\.cells)
            if !cells.contains(where: { $0.teacher == control }) && !cells.isEmpty {
                FileHandle.standardError.write(Data("prunesweep report: no trials with the control teacher '\(control)': no tests against it\n".utf8))
            }
            let written = try r.write(to: out ?? directories[0], format: format)
            if format == .json {   // stdout is the document alone, for scripts
                print(try String(contentsOfFile: written[0], encoding: .utf8), terminator: "")
                return
            }
            print(r.summary)
            print("wrote \(written.filter { !$0.hasSuffix(".svg") }.joined(separator: ", ")) and \(written.filter { $0.hasSuffix(".svg") }.count) plots")
        } catch {
            FileHandle.standardError.write(Data("prunesweep report: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage.rawValue)
        }
    }
}

extension TeacherKind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}
