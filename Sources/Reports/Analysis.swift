import Distillation
import Foundation
import Sweep

/// One table row: the finished trials of one method x teacher x prune ratio
/// (and variant: the values of any further sweep axis), summarised over seeds.
public struct Cell {
    public var variant: String      // "" unless the sweep has axes beyond seeds/ratios/teachers/methods
    public var method: String
    public var teacher: String
    public var ratio: String        // as in the sweep: "0.5", "optimal", "safe"
    public var seeds: [String]
    /// Summaries over seeds of each metric in `Analysis.metrics` (absent: no trial recorded it).
    public var summaries: [String: Summary]
    /// Per-seed values of each metric, in `seeds` order where present.
    public var values: [String: [Double]]

    public var n: Int { seeds.count }
    public func mean(_ m: String) -> Double { summaries[m]?.mean ?? .nan }
}

/// Welch's test of one teacher against the control at one ratio, on accuracy after fine-tuning.
public struct Comparison {
    public var variant: String
    public var method: String
    public var ratio: String
    public var teacher: String
    public var control: String
    public var meanDifference: Double   // teacher - control, accuracy fraction
    public var t: Double
    public var df: Double
    public var p: Double
    public var pHolm: Double            // Holm over every comparison of the report
    public var hedgesG: Double
    public var n: (teacher: Int, control: Int)
}

/// The parent's resolved ratios per seed (and on average).
public struct ParentRatios {
    public var label: String
    public var seed: String
    public var optimal: Double
    public var safe: Double
    public var k2: Double
    public var accuracy: Double
}

public struct Analysis {
    /// Metrics summarised per cell (fractions; the writers show accuracies and agreements as %).
    public static let metrics = ["ratio", "accuracy_before", "accuracy_after", "cosine", "sparsity",
                                 "agreement_parent", "js_parent", "cka_parent",
                                 "agreement_teacher", "js_teacher", "cka_teacher",
                                 "loss_before", "loss_after", "k2"]
    /// The parameters that name a cell; any other trial parameter that varies is a variant axis.
    static let cellKeys: Set<String> = ["seed", "ratio", "method", "teacher", "parent", "data", "threads"]

    public var control: String
    public var cells: [Cell]
    public var comparisons: [Comparison]
    public var parents: [ParentRatios]
    public var averageRatios: (optimal: Summary, safe: Summary, k2: Summary)

    public init(_ set: ResultSet, control: String = "none") {
        self.control = control
        let trials = set.trials.filter { $0.status == "done" }

        // Variant: the trial parameters (other than the cell's own) that take more than one value.
        var valuesOf: [String: Set<String>] = [:]
        for r in trials { for (k, v) in r.parameters where !Analysis.cellKeys.contains(k) { valuesOf[k, default: []].insert(v) } }
        let variantKeys = valuesOf.filter { $0.value.count > 1 }.keys.sorted()
        func variant(_ r: ResultRecord) -> String { variantKeys.map { "\($0)=\(r.parameters[$0] ?? "-")" }.joined(separator: " ") }

        struct Key: Hashable { var variant, method, teacher, ratio: String }
        var order: [Key] = [], groups: [Key: [ResultRecord]] = [:]
        for r in trials {
            let k = Key(variant: variant(r), method: r.parameters["method"] ?? "?", teacher: r.parameters["teacher"] ?? "?",
                        ratio: r.parameters["ratio"] ?? "?")
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(r)
        }
        order.sort { a, b in
            (a.variant, a.method, Analysis.ratioOrder(a.ratio), a.ratio, Analysis.teacherOrder(a.teacher, control), a.teacher)
                < (b.variant, b.method, Analysis.ratioOrder(b.ratio), b.ratio, Analysis.teacherOrder(b.teacher, control), b.teacher)
        }
        cells = order.map { k in
            let rs = groups[k]!.sorted { Analysis.seedOrder($0.parameters["seed"] ?? "", $1.parameters["seed"] ?? "") }
            var values: [String: [Double]] = [:]
            for m in Analysis.metrics {
                let v = rs.compactMap { $0.metrics[m] }.filter(\.isFinite)
                if !v.isEmpty { values[m] = v }
            }
            return Cell(variant: k.variant, method: k.method, teacher: k.teacher, ratio: k.ratio,
                        seeds: rs.map { $0.parameters["seed"] ?? "?" }, summaries: values.mapValues(Summary.init), values: values)
        }

        // Every teacher against the control at the same ratio; Holm over the whole family.
        var comps: [Comparison] = []
        for c in cells where c.teacher != control {
            guard let ctrl = cells.first(where: { $0.teacher == control && $0.variant == c.variant && $0.method == c.method && $0.ratio == c.ratio }) else { continue }
            let a = c.values["accuracy_after"] ?? [], b = ctrl.values["accuracy_after"] ?? []
            let w = welchTTest(a, b)
            comps.append(Comparison(variant: c.variant, method: c.method, ratio: c.ratio, teacher: c.teacher, control: control,
                                    meanDifference: c.mean("accuracy_after") - ctrl.mean("accuracy_after"),
                                    t: w.t, df: w.df, p: w.p, pHolm: .nan, hedgesG: hedgesG(a, b), n: (a.count, b.count)))
        }
        let adjusted = holm(comps.map(\.p))
        for i in comps.indices { comps[i].pHolm = adjusted[i] }
        comparisons = comps

        let parents = set.parents.filter { $0.status == "done" }
            .sorted { Analysis.seedOrder($0.parameters["seed"] ?? "", $1.parameters["seed"] ?? "") }
            .map { r in ParentRatios(label: r.label, seed: r.parameters["seed"] ?? "?", optimal: r.metrics["optimal_ratio"] ?? .nan,
                                     safe: r.metrics["safe_ratio"] ?? .nan, k2: r.metrics["k2"] ?? .nan, accuracy: r.metrics["accuracy"] ?? .nan) }
        func summary(_ k: KeyPath<ParentRatios, Double>) -> Summary { Summary(parents.map { $0[keyPath: k] }.filter(\.isFinite)) }
        averageRatios = (summary(\.optimal), summary(\.safe), summary(\.k2))
        self.parents = parents
    }

    /// Numeric ratios in order, then the resolved ones.
    static func ratioOrder(_ r: String) -> Double { Double(r) ?? (r == "safe" ? 2 : r == "optimal" ? 3 : 4) }
    static func teacherOrder(_ t: String, _ control: String) -> Int {
        t == control ? 0 : ["none", "parent", "uniform", "gaussian"].firstIndex(of: t).map { $0 + 1 } ?? 9
    }
    static func seedOrder(_ a: String, _ b: String) -> Bool {
        if let x = Int(a), let y = Int(b) { return x < y }
        return a < b
    }
}
