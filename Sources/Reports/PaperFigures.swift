import Distillation
import Foundation
import Pruning
import Sweep

/// The figures of "What makes a good prune?": accuracy against cosine similarity
/// and against prune ratio, per method; kurtosis against the optimal ratio
/// across architectures; per-layer sparsity at the optimal and safe ratios.
extension Plots {
    /// Per (variant, method): the cells fine-tuned with the control teacher (the
    /// paper's protocol when the control is `none`), or with the first teacher
    /// when the control did not run; sorted by resolved ratio.
    static func paperSeries(_ a: Analysis) -> [(label: String, method: PruneMethod, teacher: TeacherKind, cells: [Cell])] {
        var out: [(String, PruneMethod, TeacherKind, [Cell])] = []
        for g in groups(a) where !out.contains(where: { $0.0 == g.prefix }) {
            let teacher = a.cells.contains { $0.variant == g.cells[0].variant && $0.method == g.cells[0].method && $0.teacher == a.control }
                ? a.control : g.firstTeacher ?? g.teacher
            guard g.teacher == teacher else { continue }
            out.append((g.prefix, g.cells[0].method, teacher, g.cells))
        }
        return out
    }

    /// The accuracy axis (a) and (b) share, so they read side by side.
    static func accuracyRange(_ a: Analysis) -> ClosedRange<Double> {
        let metrics: [CellMetric] = [.recorded(.accuracyBefore), .recorded(.accuracyAfter)]
        let v = paperSeries(a).flatMap(\.cells).flatMap { c in metrics.flatMap { m in [c.mean(m), c.summaries[m]?.lower ?? .nan, c.summaries[m]?.upper ?? .nan] } }
        return SVGPlot.range(v, clamp: 0...1)
    }

    /// Test accuracy before and after fine-tuning against the pruned net's cosine
    /// similarity to its parent (or its prune ratio), one colour per method: in the
    /// paper, L1 and random pruning fall on one curve against cosine and apart against ratio.
    static func accuracyAgainst(_ x: TrialMetric, _ a: Analysis, y: ClosedRange<Double>) -> String {
        let byCosine = x == .cosine
        var plot = SVGPlot(title: "\(a.study): test accuracy vs \(byCosine ? "cosine similarity to the parent" : "prune ratio")",
                           xLabel: byCosine ? "cosine similarity of the pruned net to its parent" : ratioAxis,
                           yLabel: "test accuracy (%)", x: 0...1, y: y)
        plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        if !byCosine { plot.xFormat = percent }
        var xs: [Double] = []
        for s in paperSeries(a) {
            for (metric, when) in [(TrialMetric.accuracyBefore, "before fine-tuning"), (.accuracyAfter, "after, teacher \(s.teacher)")] {
                let (pts, band) = curve(s.cells, metric, x: x)
                plot.series.append(.init(name: "\(s.label.isEmpty ? "\(s.method.rawValue): " : s.label)\(when)", points: pts, band: band,
                                         style: metric == .accuracyBefore ? beforeStyle(s.method) : methodStyle(s.method)))
                xs += pts.map(\.x)
            }
        }
        plot.x = byCosine ? SVGPlot.range(xs + [1], clamp: 0...1) : xRange(a)
        return plot.render()
    }

    /// One colour and marker per pruning method, the same in every figure.
    static func methodStyle(_ m: PruneMethod) -> SVGPlot.Style {
        switch m {
        case .l1: SVGPlot.Style(color: "#0072B2", marker: .circle)
        case .random: SVGPlot.Style(color: "#D55E00", marker: .square)
        case .layerwise: SVGPlot.Style(color: "#009E73", marker: .triangle)
        }
    }

    /// Per study, mean parameter kurtosis and K2 of its parents against their
    /// optimal ratio (means with 95 % bootstrap intervals, and each seed).
    static func kurtosis(_ analyses: [Analysis]) -> String {
        var plot = SVGPlot(title: "Parameter kurtosis vs the optimal prune ratio, per architecture", xLabel: "optimal prune ratio (%)",
                           yLabel: "kurtosis (Pearson)", x: 0...1, y: 1...2)
        plot.xFormat = percent
        var xs: [Double] = [], ys: [Double] = []
        for (i, metric) in [ParentMetric.meanKurtosis, .k2].enumerated() {
            var means: [(x: Double, y: Double)] = [], bars: [(x: Double, low: Double, high: Double)] = [], seeds: [(x: Double, y: Double)] = []
            for a in analyses {
                guard let s = a.parentSummaries[metric], let o = a.parentSummaries[.optimalRatio] else { continue }
                means.append((o.mean, s.mean)); bars.append((o.mean, s.lower, s.upper))
                seeds += a.parents.map { ($0.value(.optimalRatio), $0.value(metric)) }
                if i == 0 || a.parentSummaries[.meanKurtosis] == nil {
                    plot.annotations.append(.init(x: o.mean, y: s.mean, label: "\(a.study)", style: .init(color: "#000000", marker: .none)))
                }
            }
            let name = metric == .k2 ? "K2" : "mean kurtosis"
            let st = SVGPlot.style(2 * i + 2)
            plot.series.append(.init(name: "\(name): mean, 95 % bootstrap", points: means, band: bars, style: st, errorBars: true))
            plot.series.append(.init(name: "\(name): each seed", points: seeds, style: .init(color: st.color, marker: .cross), line: false))
            xs += means.map(\.x) + seeds.map(\.x)
            ys += means.map(\.y) + seeds.map(\.y) + bars.flatMap { [$0.low, $0.high] }
        }
        plot.x = SVGPlot.range(xs, clamp: 0...1)
        plot.y = SVGPlot.range(ys, clamp: 1...1e6)
        return plot.render()
    }

    /// Each tensor's fraction of zeros at the optimal and safe ratios, per method
    /// (mean over seeds); nil when the study has neither ratio.
    static func layerSparsity(_ a: Analysis) -> String? {
        var series: [BarChart.Series] = []
        for s in paperSeries(a) {
            for ratio in [Ratio.optimal, .safe] {
                guard let c = s.cells.first(where: { $0.ratio == ratio }), !c.sparsityPerTensor.isEmpty else { continue }
                series.append(.init(name: "\(s.label.isEmpty ? "\(s.method.rawValue): " : s.label)\(ratio) (\(percent(c.mean(.recorded(.ratio)))))",
                                    values: a.cost.tensors.map { c.sparsityPerTensor[$0.name] ?? .nan },
                                    color: methodStyle(s.method).color, light: ratio == .safe))
            }
        }
        guard !series.isEmpty else { return nil }
        return BarChart(title: "\(a.study): sparsity per tensor at the optimal and safe ratios", categories: a.cost.tensors.map(\.name),
                        yLabel: "entries set to zero (%)", series: series).render()
    }
}
