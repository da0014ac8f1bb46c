import Distillation
import Foundation
import Pruning
import Sweep

/// A table as text cells: what the Markdown, HTML and terminal writers share.
public struct Table {
    public var id: String
    public var title: String
    public var note: String
    public var header: [String]
    public var rows: [[String]]
}

/// Number formats of the report. Accuracies, ratios and agreements are shown in %.
enum Fmt {
    static func num(_ v: Double, _ digits: Int = 3) -> String { v.isFinite ? fixed(v, digits) : (v.isNaN ? "–" : (v > 0 ? "inf" : "-inf")) }

    /// What String(format: "%.<digits>f", v) writes: v's exact value rounded
    /// half to even, as printf rounds it; worked out in integers for up to 3
    /// digits (a large sweep's plots have a million points, and Foundation's
    /// formatting costs a microsecond a number).
    static func fixed(_ v: Double, _ digits: Int) -> String {
        let m = v.exponentBitPattern == 0 ? v.significandBitPattern : v.significandBitPattern | 1 << 52
        let e = max(Int(v.exponentBitPattern), 1) - 1075   // |v| = m * 2^e
        guard v.isFinite, (0...3).contains(digits), e <= 0 else { return String(format: "%.\(digits)f", v) }
        var scaled = m   // times 10^digits: below 2^63
        for _ in 0..<digits { scaled *= 10 }
        var q: UInt64 = 0   // |v| * 10^digits, rounded
        if -e < 64 {   // else below one half
            q = scaled >> -e
            if e < 0 {
                let rest = scaled & (1 << -e - 1), half: UInt64 = 1 << (-e - 1)
                if rest > half || (rest == half && q & 1 == 1) { q += 1 }
            }
        }
        var text = String(q)
        if digits > 0 {
            text = String(repeating: "0", count: max(0, digits + 1 - text.count)) + text
            text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        }
        return v.sign == .minus ? "-" + text : text
    }

    /// "mean [lower, upper]"; with fewer than 3 seeds "mean (n < 3: the values)".
    static func summary(_ s: Summary?, _ values: [Double]?, percent: Bool, digits: Int? = nil) -> String {
        guard let s, s.n > 0 else { return "–" }
        let scale = percent ? 100.0 : 1, d = digits ?? (percent ? 2 : 3)
        let m = num(s.mean * scale, d)
        switch s.interval {
        case .percentileBootstrap: return "\(m) [\(num(s.lower * scale, d)), \(num(s.upper * scale, d))]"
        case .noInterval:
            let v = s.n > 1 ? ": " + (values ?? []).map { num($0 * scale, d) }.joined(separator: ", ") : ""
            return "\(m) (n < \(Bootstrap.minimumSeeds)\(v))"
        }
    }

    static func cell(_ c: Cell, _ m: CellMetric) -> String { summary(c.summaries[m], c.values[m], percent: m.isPercent, digits: digits(m)) }
    static func parent(_ a: Analysis, _ m: ParentMetric) -> String {
        summary(a.parentSummaries[m], a.parents.map { $0.value(m) }.filter(\.isFinite), percent: m.isPercent)
    }
    static func digits(_ m: CellMetric) -> Int? { m == .compression || m == .speedUp ? 2 : nil }

    static func p(_ p: Double) -> String {
        guard p.isFinite else { return "–" }
        return p < 1e-4 ? String(format: "%.1e", p) : fixed(p, 4)
    }
}

public enum Tables {
    /// The tables of one study, in order.
    public static func study(_ a: Analysis) -> [Table] {
        (a.cells.isEmpty && a.parents.isEmpty ? [] : [parents(a), accuracy(a), cost(a), similarity(a), comparisons(a)]) + tickets(a)
    }

    static func cellColumns(_ a: Analysis) -> [String] {
        (Set(a.cells.map(\.variant)).count > 1 ? ["variant"] : []) + ["method", "teacher", "ratio"]
    }
    /// A cell's key columns (the variants worked out once, not per cell).
    static func cellKey(_ a: Analysis) -> (Cell) -> [String] {
        let variants = Set(a.cells.map(\.variant)).count > 1
        return { c in (variants ? [c.variant] : []) + [c.method.rawValue, c.teacher.description, c.ratio.description] }
    }
    /// The key columns of the unpruned parent's row.
    static func parentKey(_ a: Analysis) -> [String] {
        (Set(a.cells.map(\.variant)).count > 1 ? ["–"] : []) + ["parent (unpruned)", "–", "0"]
    }

    /// One row per (dataset, architecture): its size, its parents, and the paper's
    /// point (global L1 at the optimal ratio, fine-tuned with the control teacher).
    public static func studies(_ analyses: [Analysis]) -> Table {
        Table(id: "studies", title: "Summary: one row per dataset × architecture",
              note: "Parents: mean over seeds [95 % bootstrap interval]. At optimal: the l1 cell at the optimal ratio fine-tuned with the control "
                  + "teacher; Δ: its accuracy after fine-tuning minus its parent's, in percentage points.",
              header: ["dataset", "architecture", "parameters", "dense multiply-adds / image", "seeds", "parent accuracy %", "optimal ratio %",
                       "K2", "mean kurtosis", "at optimal: accuracy after %", "Δ (pp)", "compression ×", "speed-up ×"],
              rows: analyses.map { a in
                  let best = a.cells.first { $0.method == .l1 && $0.ratio == .optimal && $0.teacher == a.control }
                  return [a.study.dataset, a.study.architecture.description, String(a.cost.parameters), String(a.cost.denseMultiplyAdds),
                          String(a.parents.count), Fmt.parent(a, .accuracy), Fmt.parent(a, .optimalRatio), Fmt.parent(a, .k2),
                          Fmt.parent(a, .meanKurtosis)]
                      + [.recorded(.accuracyAfter), .accuracyAfterChange, .compression, .speedUp].map { m in best.map { Fmt.cell($0, m) } ?? "–" }
              })
    }

    public static func parents(_ a: Analysis) -> Table {
        let metrics = ParentMetric.allCases
        var rows = a.parents.map { p in
            [p.label, String(p.seed)] + metrics.map { m in Fmt.num(p.value(m) * (m.isPercent ? 100 : 1), m.isPercent ? 2 : 3) }
        }
        if !a.parents.isEmpty { rows.append(["mean [95 % bootstrap]", "\(a.parents.count) seeds"] + metrics.map { Fmt.parent(a, $0) }) }
        return Table(id: "parents-\(a.study.slug)", title: "Parents: accuracy, loss, resolved ratios and kurtosis per seed",
                     note: "The unpruned nets every trial of this study starts from. Optimal: the point of the cosine curve nearest the utopia "
                         + "(ratio 1, cosine 1); safe: optimal / ln K2 (log2 when K2 < e); K2: kurtosis of the per-tensor kurtoses; "
                         + "mean kurtosis: the mean of those per-tensor (Pearson) kurtoses.",
                     header: ["parent", "seed", "accuracy %", "loss", "optimal ratio %", "safe ratio %", "K2", "mean kurtosis"], rows: rows)
    }

    public static func accuracy(_ a: Analysis) -> Table {
        let metrics: [CellMetric] = [.recorded(.accuracyBefore), .accuracyBeforeChange, .recorded(.accuracyAfter), .accuracyAfterChange,
                                     .recorded(.lossAfter), .lossAfterChange]
        let parent = parentKey(a) + [String(a.parents.count), Fmt.parent(a, .accuracy), "–", Fmt.parent(a, .accuracy), "–", Fmt.parent(a, .loss), "–"]
        return Table(id: "accuracy-\(a.study.slug)", title: "Accuracy and loss per method × teacher × prune ratio, and their change from the parent",
                     note: "Mean over seeds [95 % bootstrap interval]; accuracy in %, its change (Δ) in percentage points. Δ is taken seed by seed "
                         + "against the trial's own parent, then averaged. Before: the pruned net; after: fine-tuned with the teacher.",
                     header: cellColumns(a) + ["seeds", "accuracy before %", "Δ before (pp)", "accuracy after %", "Δ after (pp)", "loss after", "Δ loss"],
                     rows: [parent] + a.cells.map { [key = cellKey(a)] c in key(c) + [String(c.n)] + metrics.map { Fmt.cell(c, $0) } })
    }

    public static func cost(_ a: Analysis) -> Table {
        let metrics: [CellMetric] = [.recorded(.ratio), .recorded(.sparsity), .recorded(.cosine), .compression, .speedUp]
        let parent = parentKey(a) + [String(a.parents.count), "0.00", "–", "1.000", "1.00", "1.00"]
        return Table(id: "cost-\(a.study.slug)", title: "Compression and theoretical speed-up",
                     note: "Resolved ratio: the ratio used (optimal / safe resolved per seed from its parent). Sparsity: the fraction of all entries "
                         + "that are zero. Compression: parameters / nonzero parameters (\(a.cost.parameters) parameters). Speed-up: dense "
                         + "multiply-adds (\(a.cost.denseMultiplyAdds) per image) / multiply-adds of the nonzero weights, counted per layer "
                         + "(see Method).",
                     header: cellColumns(a) + ["seeds", "resolved ratio %", "sparsity %", "cosine to parent", "compression ×", "speed-up ×"],
                     rows: [parent] + a.cells.map { [key = cellKey(a)] c in key(c) + [String(c.n)] + metrics.map { Fmt.cell(c, $0) } })
    }

    public static func similarity(_ a: Analysis) -> Table {
        let m: [TrialMetric] = [.agreementParent, .jsParent, .ckaParent, .agreementTeacher, .jsTeacher, .ckaTeacher]
        return Table(id: "similarity-\(a.study.slug)", title: "Functional similarity after fine-tuning, against the parent and the teacher",
                     note: "Agreement: % of test images given the same class; JS: Jensen-Shannon divergence of the predicted distributions (bits, "
                         + "lower = closer); CKA: linear CKA of the penultimate activations. Teacher columns only for model teachers other than the parent.",
                     header: cellColumns(a) + ["seeds", "agreement parent %", "JS parent", "CKA parent", "agreement teacher %", "JS teacher", "CKA teacher"],
                     rows: a.cells.map { [key = cellKey(a)] c in key(c) + [String(c.n)] + m.map { Fmt.cell(c, .recorded($0)) } })
    }

    public static func comparisons(_ a: Analysis) -> Table {
        let variants = Set(a.cells.map(\.variant)).count > 1
        return Table(id: "tests-\(a.study.slug)", title: "Teachers against the control (\(a.control)): accuracy after fine-tuning",
                     note: "Welch's two-sided t-test over seeds at each ratio; p (Holm): Holm-corrected over the \(a.comparisons.count) comparisons "
                         + "of this study; g: Hedges' g (teacher − control). * marks p (Holm) < 0.05.",
                     header: (variants ? ["variant"] : []) + ["method", "ratio", "teacher", "n (teacher / control)", "Δ accuracy (pp)", "t", "df", "p", "p (Holm)", "Hedges' g", ""],
                     rows: a.comparisons.map { c in
                         (variants ? [c.variant] : []) + [c.method.rawValue, c.ratio.description, c.teacher.description, "\(c.n.teacher) / \(c.n.control)",
                                                         Fmt.num(c.meanDifference * 100, 2), Fmt.num(c.t, 2), Fmt.num(c.df, 1),
                                                         Fmt.p(c.p), Fmt.p(c.pHolm), Fmt.num(c.hedgesG, 2), c.pHolm < 0.05 ? "*" : ""]
                     })
    }

    /// `prunesweep analyse` results given beside the sweeps: the paper's figures of a checkpoint.
    public static func checkpoints(_ set: ResultSet) -> Table {
        func pct(_ v: Double?) -> String { v.map { Fmt.num($0 * 100, 2) } ?? "–" }
        return Table(id: "checkpoints", title: "Checkpoints analysed (prunesweep analyse)",
                     note: "The data-free analysis of each checkpoint: optimal ratio nearest the utopia on the global-L1 cosine curve, "
                         + "safe ratio optimal / ln K2, K2 the kurtosis of the per-tensor kurtoses.",
                     header: ["checkpoint", "parameters in scope", "optimal ratio %", "cosine at optimal", "safe ratio %", "cosine at safe", "K2", "mean kurtosis"],
                     rows: set.checkpoints.map { c in
                         [c.checkpoint, String(c.parametersInScope), pct(c.optimal), Fmt.num(c.cosineOptimal, 4), pct(c.safe),
                          c.cosineSafe.map { Fmt.num($0, 4) } ?? "–", c.k2.map { Fmt.num($0, 4) } ?? "–", c.meanKurtosis.map { Fmt.num($0, 3) } ?? "–"]
                     })
    }

    public static func problems(_ set: ResultSet) -> Table {
        let problems = set.problems
        var rows = problems.map { r in [r.status.rawValue, r.task, r.label, r.error ?? "", r.host] }
        rows += set.missing.map { t in ["missing", t.id, t.label, "no line in any journal (not run yet, or lost)", ""] }
        return Table(id: "problems", title: "Failed, skipped and missing tasks",
                     note: rows.isEmpty ? "None: every task of the sweep finished." : "\(problems.filter { $0.status == .failed }.count) failed, "
                         + "\(problems.filter { $0.status != .failed }.count) skipped, \(set.missing.count) missing.",
                     header: ["status", "task", "label", "error", "host"], rows: rows)
    }

    public static func badLines(_ set: ResultSet) -> Table {
        Table(id: "bad-lines", title: "Unreadable results lines (skipped)",
              note: set.badLines.isEmpty ? "None." : "A torn last line is expected while a sweep is still writing.",
              header: ["file", "line", "problem"], rows: set.badLines.map { [$0.file, String($0.line), $0.problem] })
    }

    /// The terminal summary of one study: its parents, then per method × teacher × ratio
    /// n, accuracy before and after, and the change after from the parent.
    public static func terminal(_ a: Analysis) -> String {
        let header = cellColumns(a) + ["n", "acc before %", "acc after %", "Δ after pp"]
        let parent = parentKey(a) + [String(a.parents.count), Fmt.parent(a, .accuracy), Fmt.parent(a, .accuracy), "–"]
        let rows = [parent] + a.cells.map { [key = cellKey(a)] c in
            key(c) + [String(c.n)] + [CellMetric.recorded(.accuracyBefore), .recorded(.accuracyAfter), .accuracyAfterChange].map { Fmt.cell(c, $0) }
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, v in i >= header.count - 4 ? String(repeating: " ", count: widths[i] - v.count) + v : v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return (["\(a.study):", line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }
}
