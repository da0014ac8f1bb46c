import Distillation
import Foundation
import Safetensors

/// `prunesweep report`: read results directories, analyse each (dataset,
/// architecture) study, write the files.
public struct Report {
    public enum Format: String, CaseIterable, Sendable { case md, csv, html, json, all }

    public var set: ResultSet
    public var bootstrap: Bootstrap
    /// One per (dataset, architecture), in name order.
    public var analyses: [Analysis]

    public init(directories: [String], control: TeacherKind = .none, bootstrap: Bootstrap = Bootstrap()) throws {
        self.init(set: try ResultSet.load(directories), control: control, bootstrap: bootstrap)
    }

    public init(set: ResultSet, control: TeacherKind = .none, bootstrap: Bootstrap = Bootstrap()) {
        self.set = set
        self.bootstrap = bootstrap
        analyses = Analysis.studies(set, control: control, bootstrap: bootstrap)
    }

    /// Writes report.md / report.csv / report.html / report.json (and plots/*.svg
    /// for md and html) into `dir`, each atomically (a temporary name renamed).
    /// Returns the paths written.
    @discardableResult
    public func write(to dir: String, format: Format = .all) throws -> [String] {
        let want = format == .all ? [Format.md, .csv, .html, .json] : [format]
        try createDirectory(dir)
        var written: [String] = []
        var perStudy: [[Figure]] = [], overall: [Figure] = []
        if want.contains(.md) || want.contains(.html) {
            perStudy = analyses.map(Plots.study)
            overall = Plots.overall(analyses)
            try createDirectory("\(dir)/plots")
            for p in overall + perStudy.joined() { written.append(try writeFile(p.svg, "\(dir)/plots/\(p.name).svg")) }
        }
        if want.contains(.md) { written.append(try writeFile(Writers.markdown(self, studyFigures: perStudy, overallFigures: overall), "\(dir)/report.md")) }
        if want.contains(.csv) { written.append(try writeFile(TidyCSV.write(analyses), "\(dir)/report.csv")) }
        if want.contains(.html) { written.append(try writeFile(Writers.html(self, studyFigures: perStudy, overallFigures: overall), "\(dir)/report.html")) }
        if want.contains(.json) { written.append(try writeFile(try ReportJSON.write(self), "\(dir)/report.json")) }
        return written
    }

    /// The terminal summary: each study's table, with a line about problems.
    public var summary: String {
        let parts = analyses.filter { !$0.cells.isEmpty }.map(Tables.terminal) + analyses.compactMap(Tables.ticketsTerminal)
        var s = parts.isEmpty ? "no finished trials yet" : parts.joined(separator: "\n\n")
        for c in set.checkpoints {
            s += "\ncheckpoint \(c.checkpoint): optimal \(Fmt.num(c.optimal * 100, 2)) %, safe \(c.safe.map { Fmt.num($0 * 100, 2) + " %" } ?? "n/a"), K2 \(c.k2.map { Fmt.num($0, 4) } ?? "n/a")"
        }
        let failed = set.problems.count, missing = set.missing.count
        if failed + missing + set.badLines.count > 0 {
            s += "\n\(failed) failed or skipped, \(missing) missing, \(set.badLines.count) unreadable lines (see the report)"
        }
        return s
    }

    func createDirectory(_ dir: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ReportError("\(dir): cannot create the output directory: \(error.localizedDescription)")
        }
    }

    func writeFile(_ text: String, _ path: String) throws -> String {
        do { try AtomicFile.write(Array(text.utf8), to: path) } catch {
            throw ReportError("\(path): cannot write: \(error)")
        }
        return path
    }
}
