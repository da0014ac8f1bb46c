import Foundation
import Sweep

/// report.md, report.csv and report.html from the analysed results.
public enum Writers {
    static func header(_ set: ResultSet) -> (title: String, lines: [String]) {
        let trials = set.trials
        let done = trials.filter { $0.status == .done }.count
        var lines = ["Sources: \(set.directories.joined(separator: ", ")).",
                     "\(set.records.count) tasks recorded (\(done) of \(trials.count) trials done), \(set.missing.count) missing, \(set.badLines.count) unreadable lines."]
        lines += set.notes.map { "Note: \($0)." }
        return ("prunesweep report: \(set.sweepNames.joined(separator: ", "))", lines)
    }

    public static func markdown(_ a: Analysis, _ set: ResultSet, plots: [String]) -> String {
        let (title, lines) = header(set)
        var s = "# \(title)\n\n" + lines.joined(separator: "\n") + "\n\n"
        if !plots.isEmpty { s += "## Plots\n\n" + plots.map { "![\($0)](plots/\($0).svg)" }.joined(separator: "\n") + "\n\n" }
        for t in Tables.all(a, set) {
            s += "## \(t.title)\n\n\(t.note)\n\n"
            guard !t.rows.isEmpty else { continue }
            func row(_ r: [String]) -> String { "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }.joined(separator: " | ") + " |\n" }
            s += row(t.header) + row(t.header.map { _ in "---" }) + t.rows.map(row).joined() + "\n"
        }
        return s
    }

    /// One row per cell: every metric's mean, 95 % bounds (fractions, not %), and the
    /// cell's test against the control. Empty fields where undefined.
    public static func csv(_ a: Analysis) -> String {
        let metrics = TrialMetric.allCases
        var head = ["variant", "method", "teacher", "ratio", "n", "seeds"]
        for m in metrics { head += ["\(m.rawValue)_mean", "\(m.rawValue)_ci95_low", "\(m.rawValue)_ci95_high", "\(m.rawValue)_sd"] }
        head += ["control", "diff_accuracy_after_vs_control", "welch_t", "welch_df", "p", "p_holm", "hedges_g"]
        func field(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"\(s.replacingOccurrences(of: "\"", with: "\"\""))\"" : s }
        func num(_ v: Double?) -> String { guard let v, v.isFinite else { return "" }; return "\(v)" }
        var out = head.joined(separator: ",") + "\n"
        for c in a.cells {
            var r = [c.variant, c.method.rawValue, c.teacher.description, c.ratio.description, String(c.n), c.seeds.map(String.init).joined(separator: " ")]
            for m in metrics { let s = c.summaries[m]; r += [num(s?.mean), num(s?.ci95Low), num(s?.ci95High), num(s?.sd)] }
            let t = a.comparisons.first { $0.variant == c.variant && $0.method == c.method && $0.ratio == c.ratio && $0.teacher == c.teacher }
            r += [a.control.description, num(t?.meanDifference), num(t?.t), num(t?.df), num(t?.p), num(t?.pHolm), num(t?.hedgesG)]
            out += r.map(field).joined(separator: ",") + "\n"
        }
        return out
    }

    /// One self-contained page: inline CSS and SVG, no script, no network.
    public static func html(_ a: Analysis, _ set: ResultSet, plots: [(name: String, svg: String)]) -> String {
        let (title, lines) = header(set)
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(xmlEscape(title))</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; font-size: 15px; color: #000; background: #fff; margin: 24px; max-width: 1500px; }
        h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #000; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
        th, td { border: 1px solid #999; padding: 3px 8px; text-align: right; white-space: nowrap; }
        th { background: #eee; } td.text { text-align: left; white-space: normal; max-width: 40em; }
        p.note { font-size: 14px; max-width: 70em; }
        figure { display: inline-block; margin: 8px; } svg { max-width: 100%; height: auto; }
        @media print { h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
        </style></head><body>
        <h1>\(xmlEscape(title))</h1>

        """
        s += lines.map { "<p>\(xmlEscape($0))</p>\n" }.joined()
        s += "<h2 id=\"plots\">Plots</h2>\n"
        for p in plots { s += "<figure id=\"plot-\(p.name)\">\n\(p.svg)</figure>\n" }
        for t in Tables.all(a, set) {
            s += "<h2 id=\"\(t.id)\">\(xmlEscape(t.title))</h2>\n<p class=\"note\">\(xmlEscape(t.note))</p>\n"
            guard !t.rows.isEmpty else { continue }
            s += "<table id=\"table-\(t.id)\">\n<thead><tr>" + t.header.map { "<th>\(xmlEscape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
            for r in t.rows {
                s += "<tr>" + r.map { v in
                    let text = Double(v.split(separator: " ").first.map(String.init) ?? "") == nil && v != "–"
                    return text ? "<td class=\"text\">\(xmlEscape(v))</td>" : "<td>\(xmlEscape(v))</td>"
                }.joined() + "</tr>\n"
            }
            s += "</tbody></table>\n"
        }
        s += "</body></html>\n"
        return s
    }
}
