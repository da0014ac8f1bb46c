import Distillation
import Foundation
import Pruning
import Sweep

/// One table row: the finished trials of one method x teacher x prune ratio
/// (and variant: the values of any further sweep axis), summarised over seeds.
public struct Cell {
    public var variant: String      // "" unless trials differ in settings beyond seed, ratio, teacher and method
    public var method: PruneMethod
    public var teacher: TeacherKind
    public var ratio: Ratio
    public var seeds: [UInt64]
    /// Summaries over seeds of each metric (absent: no trial recorded it).
    public var summaries: [TrialMetric: Summary]
    /// Per-seed values of each metric, in `seeds` order where present.
    public var values: [TrialMetric: [Double]]

    public var n: Int { seeds.count }
    public func mean(_ m: TrialMetric) -> Double { summaries[m]?.mean ?? .nan }
}

/// Welch's test of one teacher against the control at one ratio, on accuracy after fine-tuning.
public struct Comparison {
    public var variant: String
    public var method: PruneMethod
    public var ratio: Ratio
    public var teacher: TeacherKind
    public var control: TeacherKind
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
    public var seed: UInt64
    public var optimal: Double
    public var safe: Double
    public var k2: Double
    public var accuracy: Double
}

public struct Analysis {
    public var control: TeacherKind
    public var cells: [Cell]
    public var comparisons: [Comparison]
    public var parents: [ParentRatios]
    public var averageRatios: (optimal: Summary, safe: Summary, k2: Summary)

    public init(_ set: ResultSet, control: TeacherKind = .none) {
        self.control = control
        let trials: [(record: ResultRecord, spec: TrialSpec, metrics: TrialMetrics)] = set.records.compactMap { r in
            guard r.status == .done, case .trial(let spec) = r.spec, let m = r.trial else { return nil }
            return (r, spec, m)
        }

        // Variant: the trial settings (other than the cell's own) that take more than one value.
        let settings = trials.map { Analysis.variantSettings($0.spec) }
        var valuesOf: [String: Set<String>] = [:]
        for s in settings { for (k, v) in s { valuesOf[k, default: []].insert(v) } }
        let variantKeys = valuesOf.filter { $0.value.count > 1 }.keys.sorted()

        struct Key: Hashable { var variant: String, method: PruneMethod, teacher: TeacherKind, ratio: Ratio }
        var order: [Key] = [], groups: [Key: [(seed: UInt64, metrics: TrialMetrics)]] = [:]
        for (t, s) in zip(trials, settings) {
            let k = Key(variant: variantKeys.map { "\($0)=\(s[$0] ?? "-")" }.joined(separator: " "),
                        method: t.spec.method, teacher: t.spec.teacher, ratio: t.spec.ratio)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append((t.spec.seed, t.metrics))
        }
        order.sort { a, b in
            (a.variant, a.method.rawValue, a.ratio.sortKey, Analysis.teacherOrder(a.teacher, control), a.teacher.description)
                < (b.variant, b.method.rawValue, b.ratio.sortKey, Analysis.teacherOrder(b.teacher, control), b.teacher.description)
        }
        cells = order.map { k in
            let rs = (groups[k] ?? []).sorted { $0.seed < $1.seed }
            var values: [TrialMetric: [Double]] = [:]
            for m in TrialMetric.allCases {
                let v = rs.compactMap { m.value($0.metrics) }.filter(\.isFinite)
                if !v.isEmpty { values[m] = v }
            }
            return Cell(variant: k.variant, method: k.method, teacher: k.teacher, ratio: k.ratio,
                        seeds: rs.map(\.seed), summaries: values.mapValues(Summary.init), values: values)
        }

        // Every teacher against the control at the same ratio; Holm over the whole family.
        var comps: [Comparison] = []
        for c in cells where c.teacher != control {
            guard let ctrl = cells.first(where: { $0.teacher == control && $0.variant == c.variant && $0.method == c.method && $0.ratio == c.ratio }) else { continue }
            let a = c.values[.accuracyAfter] ?? [], b = ctrl.values[.accuracyAfter] ?? []
            let w = welchTTest(a, b)
            comps.append(Comparison(variant: c.variant, method: c.method, ratio: c.ratio, teacher: c.teacher, control: control,
                                    meanDifference: c.mean(.accuracyAfter) - ctrl.mean(.accuracyAfter),
                                    t: w.t, df: w.df, p: w.p, pHolm: .nan, hedgesG: hedgesG(a, b), n: (a.count, b.count)))
        }
        let adjusted = holm(comps.map(\.p))
        for i in comps.indices { comps[i].pHolm = adjusted[i] }
        comparisons = comps

        let parents: [ParentRatios] = set.records.compactMap { r in
            guard r.status == .done, case .parent(let spec) = r.spec, let m = r.train else { return nil }
            return ParentRatios(label: r.label, seed: spec.seed, optimal: m.optimalRatio ?? .nan, safe: m.safeRatio ?? .nan,
                                k2: m.k2 ?? .nan, accuracy: m.accuracy)
        }.sorted { $0.seed < $1.seed }
        func summary(_ k: KeyPath<ParentRatios, Double>) -> Summary { Summary(parents.map { $0[keyPath: k] }.filter(\.isFinite)) }
        averageRatios = (summary(\.optimal), summary(\.safe), summary(\.k2))
        self.parents = parents
    }

    /// A trial's settings as "path=value" pairs, without those that name its cell
    /// (ratio, method, teacher, seed) or do not change its numbers (data location).
    static func variantSettings(_ spec: TrialSpec) -> [String: String] {
        let ignored: Set<String> = ["ratio", "method", "teacher", "threads", "parent.seed", "parent.data.dir"]
        guard let data = try? JSONEncoder().encode(spec), let object = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ v: Any, _ path: String) {
            if let d = v as? [String: Any] {
                for (k, x) in d { walk(x, path.isEmpty ? k : "\(path).\(k)") }
            } else if !ignored.contains(path) {
                out[path] = (v as? [Any]).map { "\($0)" } ?? "\(v)"
            }
        }
        walk(object, "")
        return out
    }

    static func teacherOrder(_ t: TeacherKind, _ control: TeacherKind) -> Int {
        if t == control { return 0 }
        switch t {
        case .none: return 1
        case .parent: return 2
        case .noise(.uniform): return 3
        case .noise(.gaussian): return 4
        default: return 9
        }
    }
}
