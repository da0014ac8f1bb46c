import Distillation
import Foundation

/// `prunesweep report`: read results directories, analyse, write the files.
public struct Report {
    public enum Format: String, CaseIterable { case md, csv, html, all }

    public var set: ResultSet
    public var analysis: Analysis

    public init(directories: [String], control: TeacherKind = .none) throws {
        set = try ResultSet.load(directories)
        analysis = Analysis(set, control: control)
    }

    public init(set: ResultSet, control: TeacherKind = .none) {
        self.set = set
        analysis = Analysis(set, control: control)
    }

    /// Writes report.md / report.csv / report.html (and plots/*.svg for md and html)
    /// into `dir`, each atomically (a temporary name renamed). Returns the paths written.
    @discardableResult
    public func write(to dir: String, format: Format = .all) throws -> [String] {
        let want = format == .all ? [Format.md, .csv, .html] : [format]
        try createDirectory(dir)
        var written: [String] = []
        var plots: [(name: String, svg: String)] = []
        if want.contains(.md) || want.contains(.html) {
            plots = Plots.all(analysis, set)
            try createDirectory("\(dir)/plots")
            for p in plots { written.append(try writeFile(p.svg, "\(dir)/plots/\(p.name).svg")) }
        }
        if want.contains(.md) { written.append(try writeFile(Writers.markdown(analysis, set, plots: plots.map(\.name)), "\(dir)/report.md")) }
        if want.contains(.csv) { written.append(try writeFile(Writers.csv(analysis), "\(dir)/report.csv")) }
        if want.contains(.html) { written.append(try writeFile(Writers.html(analysis, set, plots: plots), "\(dir)/report.html")) }
        return written
    }

    /// The terminal summary table, with a line about problems.
    public var summary: String {
        var s = analysis.cells.isEmpty ? "no finished trials yet" : Tables.terminal(analysis)
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
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ReportError("\(path): cannot write: \(error.localizedDescription)")
        }
        return path
    }
}
