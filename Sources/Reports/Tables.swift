import Distillation
import Foundation
import Sweep

/// A table as text cells: what the Markdown, HTML and terminal writers share.
public struct Table {
    public var id: String
    public var title: String
    public var note: String
    public var header: [String]
    public var rows: [[String]]
}

/// Number formats of the report. Accuracies and agreements are shown in %.
enum Fmt {
    static func num(_ v: Double, _ digits: Int = 3) -> String { v.isFinite ? String(format: "%.\(digits)f", v) : (v.isNaN ? "–" : (v > 0 ? "inf" : "-inf")) }

    /// "mean [low, high]" in the metric's unit; the interval needs n >= 2.
    static func summary(_ s: Summary?, _ metric: TrialMetric) -> String {
        guard let s else { return "–" }
        let pct = metric.isPercent, scale = pct ? 100.0 : 1, d = pct ? 2 : 3
        let m = num(s.mean * scale, d)
        guard s.ci95Low.isFinite else { return m }
        return "\(m) [\(num(s.ci95Low * scale, d)), \(num(s.ci95High * scale, d))]"
    }

    /// "mean ± half-width" for the terminal.
    static func plusMinus(_ s: Summary?, scale: Double = 100) -> String {
        guard let s else { return "–" }
        guard s.ci95Low.isFinite else { return num(s.mean * scale, 2) }
        return "\(num(s.mean * scale, 2)) ± \(num((s.ci95High - s.ci95Low) / 2 * scale, 2))"
    }

    static func p(_ p: Double) -> String {
        guard p.isFinite else { return "–" }
        return p < 1e-4 ? String(format: "%.1e", p) : String(format: "%.4f", p)
    }
}

public enum Tables {
    /// Every table of the report, in order.
    public static func all(_ a: Analysis, _ set: ResultSet) -> [Table] {
        [accuracy(a), similarity(a), ratios(a), comparisons(a), problems(set), badLines(set)]
    }

    static func cellColumns(_ a: Analysis) -> [String] {
        (Set(a.cells.map(\.variant)).count > 1 ? ["variant"] : []) + ["method", "teacher", "ratio"]
    }
    static func cellKey(_ c: Cell, _ a: Analysis) -> [String] {
        (Set(a.cells.map(\.variant)).count > 1 ? [c.variant] : []) + [c.method.rawValue, c.teacher.description, c.ratio.description]
    }

    public static func accuracy(_ a: Analysis) -> Table {
        Table(id: "accuracy", title: "Accuracy, cosine and sparsity per method × teacher × prune ratio",
              note: "Mean over seeds [95 % Student-t interval]; accuracy, sparsity and resolved ratio in %. "
                  + "Resolved ratio: the ratio used (optimal / safe resolved per seed from its parent).",
              header: cellColumns(a) + ["resolved ratio %", "seeds", "accuracy before %", "accuracy after %", "cosine to parent", "sparsity %"],
              rows: a.cells.map { c in
                  cellKey(c, a) + [Fmt.summary(c.summaries[.ratio], .ratio), String(c.n)]
                      + [TrialMetric.accuracyBefore, .accuracyAfter, .cosine, .sparsity].map { Fmt.summary(c.summaries[$0], $0) }
              })
    }

    public static func similarity(_ a: Analysis) -> Table {
        let m: [TrialMetric] = [.agreementParent, .jsParent, .ckaParent, .agreementTeacher, .jsTeacher, .ckaTeacher]
        return Table(id: "similarity", title: "Functional similarity after fine-tuning, against the parent and the teacher",
                     note: "Agreement: % of test images given the same class; JS: Jensen-Shannon divergence of the predicted distributions (nats, lower = closer); "
                         + "CKA: linear CKA of the penultimate activations. Teacher columns only for model teachers other than the parent.",
                     header: cellColumns(a) + ["seeds", "agreement parent %", "JS parent", "CKA parent", "agreement teacher %", "JS teacher", "CKA teacher"],
                     rows: a.cells.map { c in cellKey(c, a) + [String(c.n)] + m.map { Fmt.summary(c.summaries[$0], $0) } })
    }

    public static func ratios(_ a: Analysis) -> Table {
        var rows = a.parents.map { p in
            [p.label, String(p.seed), Fmt.num(p.accuracy * 100, 2), Fmt.num(p.optimal * 100, 2), Fmt.num(p.safe * 100, 2), Fmt.num(p.k2, 3)]
        }
        let (o, s, k) = a.averageRatios
        if !a.parents.isEmpty {
            rows.append(["mean [95 % CI]", "\(a.parents.count) seeds", Fmt.summary(Summary(a.parents.map(\.accuracy).filter(\.isFinite)), .ratio),
                         Fmt.summary(o, .ratio), Fmt.summary(s, .ratio), Fmt.summary(k, .k2)])
        }
        return Table(id: "ratios", title: "Resolved optimal and safe ratios and K2 per seed",
                     note: "Optimal: the point of the cosine curve nearest the utopia (ratio 1, cosine 1); safe: optimal / ln K2 (log2 when K2 < e); "
                         + "K2: kurtosis of the per-tensor kurtoses.",
                     header: ["parent", "seed", "parent accuracy %", "optimal ratio %", "safe ratio %", "K2"], rows: rows)
    }

    public static func comparisons(_ a: Analysis) -> Table {
        let variants = Set(a.cells.map(\.variant)).count > 1
        return Table(id: "tests", title: "Teachers against the control (\(a.control)): accuracy after fine-tuning",
                     note: "Welch's two-sided t-test over seeds at each ratio; p (Holm): Holm-corrected over all \(a.comparisons.count) comparisons; "
                         + "g: Hedges' g (teacher − control). * marks p (Holm) < 0.05.",
                     header: (variants ? ["variant"] : []) + ["method", "ratio", "teacher", "n (teacher / control)", "Δ accuracy (pp)", "t", "df", "p", "p (Holm)", "Hedges' g", ""],
                     rows: a.comparisons.map { c in
                         (variants ? [c.variant] : []) + [c.method.rawValue, c.ratio.description, c.teacher.description, "\(c.n.teacher) / \(c.n.control)",
                                                         Fmt.num(c.meanDifference * 100, 2), Fmt.num(c.t, 2), Fmt.num(c.df, 1),
                                                         Fmt.p(c.p), Fmt.p(c.pHolm), Fmt.num(c.hedgesG, 2), c.pHolm < 0.05 ? "*" : ""]
                     })
    }

    public static func problems(_ set: ResultSet) -> Table {
        var rows = set.problems.map { r in [r.status.rawValue, r.task, r.label, r.error ?? "", r.host] }
        rows += set.missing.map { t in ["missing", t.id, t.label, "no line in any journal (not run yet, or lost)", ""] }
        return Table(id: "problems", title: "Failed, skipped and missing tasks",
                     note: rows.isEmpty ? "None: every task of the sweep finished." : "\(set.problems.filter { $0.status == .failed }.count) failed, "
                         + "\(set.problems.filter { $0.status != .failed }.count) skipped, \(set.missing.count) missing.",
                     header: ["status", "task", "label", "error", "host"], rows: rows)
    }

    public static func badLines(_ set: ResultSet) -> Table {
        Table(id: "bad-lines", title: "Unreadable results lines (skipped)",
              note: set.badLines.isEmpty ? "None." : "A torn last line is expected while a sweep is still writing.",
              header: ["file", "line", "problem"], rows: set.badLines.map { [$0.file, String($0.line), $0.problem] })
    }

    /// The terminal summary: per method × teacher × ratio, n and accuracy before/after, mean ± 95 % CI half-width.
    public static func terminal(_ a: Analysis) -> String {
        let header = cellColumns(a) + ["n", "acc before %", "acc after %"]
        let rows = a.cells.map { c in cellKey(c, a) + [String(c.n), Fmt.plusMinus(c.summaries[.accuracyBefore]), Fmt.plusMinus(c.summaries[.accuracyAfter])] }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, v in i >= header.count - 3 ? String(repeating: " ", count: widths[i] - v.count) + v : v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }
}
