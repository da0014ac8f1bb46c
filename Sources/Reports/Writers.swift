import Foundation
import Sweep

/// An SVG figure and the file name it is written under (plots/<name>.svg).
public typealias Figure = (name: String, svg: String)

/// report.md and report.html from the analysed results: the header, the method,
/// the summary across studies, then each study's figures and tables.
public enum Writers {
    static func header(_ set: ResultSet) -> (title: String, lines: [String]) {
        var trials = 0, done = 0
        for r in set.records where r.kind == .trial {
            trials += 1
            if r.status == .done { done += 1 }
        }
        var lines = ["Sources: \(set.directories.joined(separator: ", ")).",
                     "\(set.records.count) tasks recorded (\(done) of \(trials) trials done), \(set.missing.count) missing, \(set.badLines.count) unreadable lines."]
        lines += set.notes.map { "Note: \($0)." }
        return ("prunesweep report: \(set.sweepNames.joined(separator: ", "))", lines)
    }

    /// How the numbers were made: the interval, the change from the parent, and the cost counts.
    static func method(_ b: Bootstrap) -> [String] {
        let tail = (1 - b.confidence) / 2 * 100
        let pct = String(format: "%g", b.confidence * 100), low = String(format: "%g", tail), high = String(format: "%g", 100 - tail)
        return [
            "Intervals: \(pct) % percentile bootstrap of the mean over seeds: \(b.resamples) resamples of the seeds with replacement "
                + "(random stream seeded with \(b.seed), one stream per cell), bounds at the \(low)th and \(high)th "
                + "percentiles of the resampled means (linear interpolation, as numpy). The metrics of one seed are resampled together. "
                + "A bound is a mean of observed values, so it stays inside the range of every bounded metric (accuracy, agreement, sparsity, "
                + "cosine and ratios in [0, 1]); nothing is clipped. With fewer than \(Bootstrap.minimumSeeds) seeds a cell lists its values "
                + "with \"n < \(Bootstrap.minimumSeeds)\" instead of a band. With few seeds the band is narrower than a \(pct) % interval should "
                + "be (it cannot reach beyond the seeds observed): read bands from fewer than about 10 seeds as descriptive.",
            "Change from the parent (Δ): per seed, the trial's accuracy or loss minus that of its own parent (the same seed and settings), "
                + "then summarised like any metric.",
            "Compression: parameters / nonzero parameters (every weight and bias entry). Theoretical speed-up: dense multiply-adds / "
                + "multiply-adds of the nonzero weights, counted per layer from the architecture's shapes as ShrinkBench counts: a "
                + "convolution weight takes part in one multiply-add per output position (output height × width), a linear weight in one; "
                + "biases, pooling and activations are not counted. Shapes assume \(CostModel.inputSide) × \(CostModel.inputSide) "
                + "single-channel inputs and \(CostModel.classes) classes: the MNIST layout every dataset a sweep reads has.",
        ]
    }

    public static func markdown(_ r: Report, studyFigures: [[Figure]], overallFigures: [Figure]) -> String {
        let (title, lines) = header(r.set)
        var s = "# \(title)\n\n" + lines.joined(separator: "\n") + "\n\n## Method\n\n" + method(r.bootstrap).map { "- \($0)\n" }.joined() + "\n"
        func figures(_ fs: [Figure]) -> String { fs.isEmpty ? "" : fs.map { "![\($0.name)](plots/\($0.name).svg)" }.joined(separator: "\n") + "\n\n" }
        func table(_ t: Table, level: String) -> String {
            let s = "\(level) \(t.title)\n\n\(t.note)\n\n"
            guard !t.rows.isEmpty else { return s }
            func row(_ r: [String]) -> String { "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }.joined(separator: " | ") + " |\n" }
            return s + row(t.header) + row(t.header.map { _ in "---" }) + t.rows.map(row).joined() + "\n"
        }
        s += table(Tables.studies(r.analyses), level: "##") + figures(overallFigures)
        if !r.set.checkpoints.isEmpty { s += table(Tables.checkpoints(r.set), level: "##") }
        for (a, fs) in zip(r.analyses, studyFigures) {
            s += "## \(a.study)\n\n" + figures(fs) + Tables.study(a).map { table($0, level: "###") }.joined()
        }
        return s + [Tables.problems(r.set), Tables.badLines(r.set)].map { table($0, level: "##") }.joined()
    }

    /// One self-contained page: inline CSS and SVG, no script, no network.
    public static func html(_ r: Report, studyFigures: [[Figure]], overallFigures: [Figure]) -> String {
        let (title, lines) = header(r.set)
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(xmlEscape(title))</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; font-size: 15px; color: #000; background: #fff; margin: 24px; max-width: 1500px; }
        h1 { font-size: 24px; } h2 { font-size: 20px; margin-top: 32px; border-bottom: 2px solid #000; } h3 { font-size: 17px; margin-top: 24px; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
        th, td { border: 1px solid #999; padding: 3px 8px; text-align: right; white-space: nowrap; vertical-align: top; }
        th { background: #eee; white-space: normal; } td.text { text-align: left; white-space: normal; max-width: 40em; }
        td .band { display: block; font-size: 12px; color: #333; }
        p.note, ul.method { font-size: 14px; max-width: 75em; }
        div.figures { display: flex; flex-wrap: wrap; gap: 8px; }
        figure { flex: 0 1 calc(50% - 8px); margin: 0; } svg { width: 100%; height: auto; }
        @media print { h2, h3 { break-after: avoid; } figure, table { break-inside: avoid; } }
        </style></head><body>
        <h1>\(xmlEscape(title))</h1>

        """
        s += lines.map { "<p>\(xmlEscape($0))</p>\n" }.joined()
        s += "<h2 id=\"method\">Method</h2>\n<ul class=\"method\">\n" + method(r.bootstrap).map { "<li>\(xmlEscape($0))</li>\n" }.joined() + "</ul>\n"
        func figures(_ fs: [Figure]) -> String {
            fs.isEmpty ? "" : "<div class=\"figures\">\n" + fs.map { "<figure id=\"plot-\($0.name)\">\n\($0.svg)</figure>\n" }.joined() + "</div>\n"
        }
        s += table(Tables.studies(r.analyses), level: "h2") + figures(overallFigures)
        if !r.set.checkpoints.isEmpty { s += table(Tables.checkpoints(r.set), level: "h2") }
        for (a, fs) in zip(r.analyses, studyFigures) {
            s += "<section id=\"study-\(a.study.slug)\">\n<h2>\(xmlEscape(a.study.description))</h2>\n" + figures(fs)
            s += Tables.study(a).map { table($0, level: "h3") }.joined() + "</section>\n"
        }
        s += [Tables.problems(r.set), Tables.badLines(r.set)].map { table($0, level: "h2") }.joined()
        return s + "</body></html>\n"
    }

    static func table(_ t: Table, level: String) -> String {
        var s = "<\(level) id=\"\(t.id)\">\(xmlEscape(t.title))</\(level)>\n<p class=\"note\">\(xmlEscape(t.note))</p>\n"
        guard !t.rows.isEmpty else { return s }
        s += "<table id=\"table-\(t.id)\">\n<thead><tr>" + t.header.map { "<th>\(xmlEscape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for r in t.rows { s += "<tr>" + r.map(htmlCell).joined() + "</tr>\n" }
        return s + "</tbody></table>\n"
    }

    /// A number keeps to the right, its band or its few values on a line of their own; text goes left.
    static func htmlCell(_ v: String) -> String {
        guard v != "–", Double(v.split(separator: " ").first.map(String.init) ?? "") != nil else { return "<td class=\"text\">\(xmlEscape(v))</td>" }
        guard let split = v.range(of: " [") ?? v.range(of: " (n <") else { return "<td>\(xmlEscape(v))</td>" }
        return "<td>\(xmlEscape(String(v[..<split.lowerBound])))<span class=\"band\">\(xmlEscape(String(v[v.index(after: split.lowerBound)...])))</span></td>"
    }
}
