import Distillation
import Foundation
import Pruning
import Sweep

/// One table row: the finished trials of one method x teacher x prune ratio
/// (and variant: the values of any further sweep axis) of a study, summarised over seeds.
public struct Cell {
    public var variant: String      // "" unless trials differ in settings beyond seed, ratio, teacher and method
    public var method: PruneMethod
    public var teacher: TeacherKind
    public var ratio: Ratio
    public var seeds: [UInt64]
    /// Summaries over seeds of each metric (absent: no trial has it).
    public var summaries: [CellMetric: Summary]
    /// Per-seed values of each metric, in `seeds` order where present.
    public var values: [CellMetric: [Double]]
    /// Each tensor's fraction of zeros, averaged over seeds.
    public var sparsityPerTensor: [String: Double]

    public var n: Int { seeds.count }
    public func mean(_ m: CellMetric) -> Double { summaries[m]?.mean ?? .nan }
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
    public var pHolm: Double            // Holm over every comparison of the study
    public var hedgesG: Double
    public var n: (teacher: Int, control: Int)
}

/// A finished parent: the unpruned net of one seed.
public struct ParentResult {
    public var label: String
    public var seed: UInt64
    public var metrics: TrainMetrics
    public func value(_ m: ParentMetric) -> Double { m.value(metrics) ?? .nan }
}

/// The results of one study: its parents, its cells, and the teachers' tests.
public struct Analysis {
    public var study: Study
    public var control: TeacherKind
    public var bootstrap: Bootstrap
    public var cost: CostModel
    public var cells: [Cell]
    public var comparisons: [Comparison]
    public var parents: [ParentResult]
    public var parentSummaries: [ParentMetric: Summary]
    /// IMP rounds and their controls, when the study has them.
    public var tickets: Tickets?

    /// One analysis per (dataset, architecture) of the results, in name order.
    public static func studies(_ set: ResultSet, control: TeacherKind = .none, bootstrap: Bootstrap = Bootstrap()) -> [Analysis] {
        var trials: [Study: [(spec: TrialSpec, metrics: TrialMetrics)]] = [:]
        var parents: [Study: [(label: String, spec: TrainSpec, metrics: TrainMetrics)]] = [:]
        var rounds: [Study: [(spec: RoundSpec, metrics: RoundMetrics)]] = [:]
        var datasets: [String: String] = [:]   // data directory -> its name, worked out once
        func study(_ p: TrainSpec) -> Study {
            if let d = datasets[p.data.dir] { return Study(dataset: d, architecture: p.arch) }
            let s = Study(p)
            datasets[p.data.dir] = s.dataset
            return s
        }
        for r in set.records where r.status == .done {
            switch (r.spec, r.metrics) {
            case (.trial(let spec), .trial(let m)?): trials[study(spec.parent), default: []].append((spec, m))
            case (.parent(let spec), .train(let m)?): parents[study(spec), default: []].append((r.label, spec, m))
            case (.round(let spec), .round(let m)?): rounds[study(spec.dense), default: []].append((spec, m))
            default: continue
            }
        }
        return Set(trials.keys).union(parents.keys).union(rounds.keys).sorted(by: Study.order).map {
            var a = Analysis(study: $0, trials: trials[$0] ?? [], parents: parents[$0] ?? [], control: control, bootstrap: bootstrap)
            if let r = rounds[$0] { a.tickets = Tickets(r, study: $0, bootstrap: bootstrap) }
            return a
        }
    }

    init(study: Study, trials: [(spec: TrialSpec, metrics: TrialMetrics)], parents: [(label: String, spec: TrainSpec, metrics: TrainMetrics)],
         control: TeacherKind, bootstrap: Bootstrap) {
        self.study = study; self.control = control; self.bootstrap = bootstrap
        let cost = CostModel(study.architecture)
        self.cost = cost

        // Variant: the trial settings (other than the cell's own) that take more than one value.
        var known: [TrialSpec: [String: String]] = [:]
        let settings = trials.map { t in
            let key = Analysis.variantKey(t.spec)
            if let s = known[key] { return s }
            let s = Analysis.variantSettings(t.spec)
            known[key] = s
            return s
        }
        var valuesOf: [String: Set<String>] = [:]
        for s in known.values { for (k, v) in s { valuesOf[k, default: []].insert(v) } }
        let variantKeys = valuesOf.filter { $0.value.count > 1 }.keys.sorted()

        // Each trial meets its own parent (the same TrainSpec: the same seed and settings).
        let parentOf = Dictionary(parents.map { ($0.spec, $0.metrics) }, uniquingKeysWith: { _, last in last })
        struct Key: Hashable { var variant: String, method: PruneMethod, teacher: TeacherKind, ratio: Ratio }
        typealias Trial = (seed: UInt64, metrics: TrialMetrics, parent: TrainMetrics?)
        var order: [Key] = [], groups: [Key: [Trial]] = [:]
        for (t, s) in zip(trials, settings) {
            let k = Key(variant: variantKeys.map { "\($0)=\(s[$0] ?? "-")" }.joined(separator: " "),
                        method: t.spec.method, teacher: t.spec.teacher, ratio: t.spec.ratio)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append((t.spec.seed, t.metrics, parentOf[t.spec.parent]))
        }
        order.sort { a, b in
            (a.variant, a.method.rawValue, a.ratio.sortKey, Analysis.teacherOrder(a.teacher, control), a.teacher.description)
                < (b.variant, b.method.rawValue, b.ratio.sortKey, Analysis.teacherOrder(b.teacher, control), b.teacher.description)
        }
        // Cells on every core: each draws from its own stream (named by the cell), so the order does not matter.
        func cell(_ k: Key) -> Cell {
            let rs = (groups[k] ?? []).sorted { $0.seed < $1.seed }
            let values: [(metric: CellMetric, values: [Double])] = CellMetric.allCases.compactMap { m in
                let v = rs.compactMap { m.value($0.metrics, parent: $0.parent, cost: cost) }.filter(\.isFinite)
                return v.isEmpty ? nil : (m, v)
            }
            var names = Set<String>()
            for r in rs { names.formUnion(r.metrics.sparsityPerTensor.keys) }
            let perTensor = Dictionary(uniqueKeysWithValues: names.map { name in
                let v = rs.compactMap { $0.metrics.sparsityPerTensor[name] }
                return (name, v.reduce(0, +) / Double(v.count))
            })
            return Cell(variant: k.variant, method: k.method, teacher: k.teacher, ratio: k.ratio, seeds: rs.map(\.seed),
                        summaries: bootstrap.summaries(values, seeds: rs.count, stream: "\(study) \(k.variant) \(k.method) \(k.teacher) \(k.ratio)"),
                        values: Dictionary(uniqueKeysWithValues: values), sparsityPerTensor: perTensor)
        }
        var built = [Cell?](repeating: nil, count: order.count)
        nonisolated(unsafe) let make = cell, keys = order   // read only; each iteration writes its own index
        built.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: keys.count) { out[$0] = make(keys[$0]) }
        }
        cells = built.map { $0! }

        // Every teacher against the control at the same ratio; Holm over the study's comparisons.
        var comps: [Comparison] = []
        for c in cells where c.teacher != control {
            guard let ctrl = cells.first(where: { $0.teacher == control && $0.variant == c.variant && $0.method == c.method && $0.ratio == c.ratio }) else { continue }
            let a = c.values[.recorded(.accuracyAfter)] ?? [], b = ctrl.values[.recorded(.accuracyAfter)] ?? []
            let w = welchTTest(a, b)
            comps.append(Comparison(variant: c.variant, method: c.method, ratio: c.ratio, teacher: c.teacher, control: control,
                                    meanDifference: c.mean(.recorded(.accuracyAfter)) - ctrl.mean(.recorded(.accuracyAfter)),
                                    t: w.t, df: w.df, p: w.p, pHolm: .nan, hedgesG: hedgesG(a, b), n: (a.count, b.count)))
        }
        let adjusted = holm(comps.map(\.p))
        for i in comps.indices { comps[i].pHolm = adjusted[i] }
        comparisons = comps

        let results = parents.map { ParentResult(label: $0.label, seed: $0.spec.seed, metrics: $0.metrics) }
            .sorted { ($0.seed, $0.label) < ($1.seed, $1.label) }
        self.parents = results
        parentSummaries = bootstrap.summaries(ParentMetric.allCases.compactMap { m in
            let v = results.map { $0.value(m) }.filter(\.isFinite)
            return v.isEmpty ? nil : (m, v)
        }, seeds: results.count, stream: "\(study) parents")
    }

    /// The spec with everything that names the cell or the study blanked: trials
    /// with the same key have the same variant settings, worked out once.
    static func variantKey(_ spec: TrialSpec) -> TrialSpec {
        var k = spec
        k.ratio = .fixed(0); k.method = .l1; k.teacher = .none; k.threads = 0
        k.parent.seed = 0; k.parent.data.dir = ""
        return k
    }

    /// A trial's settings as "path=value" pairs, without those that name its cell
    /// (ratio, method, teacher, seed), its study (architecture, data) or do not
    /// change its numbers (threads).
    static func variantSettings(_ spec: TrialSpec) -> [String: String] {
        let ignored: Set<String> = ["ratio", "method", "teacher", "threads", "parent.seed", "parent.data.dir", "parent.arch"]
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
