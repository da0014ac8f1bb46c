import Distillation
import Foundation
import Pruning
import Sweep

/// The report's figures, as SVG text keyed by file name (plots/<name>.svg).
public enum Plots {
    static func percent(_ v: Double) -> String { String(format: "%g %%", (v * 1000).rounded() / 10) }
    static let ratioAxis = "prune ratio (% of parameters set to zero)"

    public static func all(_ a: Analysis, _ set: ResultSet) -> [(name: String, svg: String)] {
        [("pareto", pareto(a, set)), ("accuracy", accuracy(a)), ("agreement", agreement(a))]
    }

    /// A series label's prefix when there is more than one method or variant.
    static func prefix(_ c: Cell, _ a: Analysis) -> String {
        let methods = Set(a.cells.map(\.method)).count > 1, variants = Set(a.cells.map(\.variant)).count > 1
        return [variants ? c.variant : "", methods ? c.method.rawValue : ""].filter { !$0.isEmpty }.joined(separator: " ") + (methods || variants ? ": " : "")
    }

    /// One point per ratio of a group of cells: x the mean resolved ratio, y the
    /// metric's mean, band its 95 % interval.
    static func curve(_ cells: [Cell], _ metric: TrialMetric, low: Bool = true) -> ([(x: Double, y: Double)], [(x: Double, low: Double, high: Double)]) {
        var pts: [(x: Double, y: Double)] = [], band: [(x: Double, low: Double, high: Double)] = []
        for c in cells {
            guard let s = c.summaries[metric] else { continue }
            let x = c.mean(.ratio)
            pts.append((x, s.mean)); band.append((x, s.ci95Low, s.ci95High))
        }
        return (pts, band)
    }

    /// Cosine to the parent against the prune ratio: the mean over seeds with
    /// its 95 % band per method, every trial's (ratio, cosine) with resolved
    /// optimal/safe ratios marked, the utopia (1, 1) and the optimum (the mean
    /// resolved optimal ratio on the curve).
    public static func pareto(_ a: Analysis, _ set: ResultSet) -> String {
        var plot = SVGPlot(title: "Pareto front: similarity to the parent vs sparsity", xLabel: ratioAxis,
                           yLabel: "cosine similarity to the parent (1 = identical)", x: 0...1, y: 0...1)
        plot.xFormat = percent
        // The pruned net before fine-tuning does not depend on the teacher: one curve per (variant, method).
        struct Key: Hashable { var variant: String, method: PruneMethod }
        var keys: [Key] = []
        for c in a.cells where !keys.contains(Key(variant: c.variant, method: c.method)) { keys.append(Key(variant: c.variant, method: c.method)) }
        var minCos = 1.0
        var optimalStyle = SVGPlot.Style(color: "#D55E00", marker: .diamond), safeStyle = SVGPlot.Style(color: "#009E73", marker: .triangle)
        for (i, k) in keys.enumerated() {
            let first = a.cells.first { $0.variant == k.variant && $0.method == k.method }?.teacher
            let cells = a.cells.filter { $0.variant == k.variant && $0.method == k.method && $0.teacher == first }
                .sorted { $0.mean(.ratio) < $1.mean(.ratio) }
            let (pts, band) = curve(cells, .cosine)
            minCos = min(minCos, band.map(\.low).filter(\.isFinite).min() ?? 1, pts.map(\.y).min() ?? 1)
            var st = SVGPlot.style(2 * i)
            st.marker = .none
            let label = (keys.count > 1 ? "\([k.variant, k.method.rawValue].filter { !$0.isEmpty }.joined(separator: " ")): " : "")
            plot.series.append(.init(name: "\(label)mean cosine over seeds (band: 95 % CI)", points: pts, band: band, style: st))
            // the trials themselves, one point per seed and ratio
            var dots: [(x: Double, y: Double)] = [], opt: [(x: Double, y: Double)] = [], safe: [(x: Double, y: Double)] = []
            for c in cells {
                for (r, cos) in zip(c.values[.ratio] ?? [], c.values[.cosine] ?? []) {
                    switch c.ratio { case .optimal: opt.append((r, cos)); case .safe: safe.append((r, cos)); case .fixed: dots.append((r, cos)) }
                }
            }
            var dotStyle = SVGPlot.style(2 * i); dotStyle.marker = .circle; dotStyle.color = SVGPlot.palette[(2 * i) % SVGPlot.palette.count]
            plot.series.append(.init(name: "\(label)trials (one per seed)", points: dots, style: dotStyle, line: false))
            if i > 0 { optimalStyle.color = SVGPlot.palette[(2 * i + 1) % SVGPlot.palette.count]; safeStyle.color = optimalStyle.color }
            if !opt.isEmpty { plot.series.append(.init(name: "\(label)trials at the resolved optimal ratio", points: opt, style: optimalStyle, line: false)) }
            if !safe.isEmpty { plot.series.append(.init(name: "\(label)trials at the resolved safe ratio", points: safe, style: safeStyle, line: false)) }
            // the optimum: the parents' mean optimal ratio, on this curve
            if i == 0, a.averageRatios.optimal.n > 0, let y = interpolate(pts, at: a.averageRatios.optimal.mean) {
                plot.annotations.append(.init(x: a.averageRatios.optimal.mean, y: y,
                                              label: String(format: "optimum: %.1f %%, cosine %.3f", a.averageRatios.optimal.mean * 100, y),
                                              style: .init(color: "#D55E00", marker: .diamond), below: true))
            }
        }
        plot.y = SVGPlot.range([minCos, 1], clamp: -1...1.02)
        plot.y = plot.y.lowerBound...max(plot.y.upperBound, 1.02)
        plot.annotations.append(.init(x: 1, y: 1, label: "utopia (100 %, cosine 1)", style: .init(color: "#E69F00", marker: .star)))
        plot.legendExtras.append(("utopia point (ratio 1, cosine 1)", .init(color: "#E69F00", marker: .star), false))
        return plot.render()
    }

    static func interpolate(_ pts: [(x: Double, y: Double)], at x: Double) -> Double? {
        let p = pts.filter { $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
        guard let first = p.first, let last = p.last, x >= first.x, x <= last.x else { return nil }
        guard let j = p.firstIndex(where: { $0.x >= x }) else { return last.y }
        if j == 0 || p[j].x == x { return p[j].y }
        let (u, v) = (p[j - 1], p[j])
        return u.y + (v.y - u.y) * (x - u.x) / (v.x - u.x)
    }

    /// Test accuracy against the prune ratio: before fine-tuning (one curve:
    /// it does not depend on the teacher) and after, per teacher, with 95 % bands.
    public static func accuracy(_ a: Analysis) -> String {
        var plot = SVGPlot(title: "Test accuracy vs prune ratio, before and after fine-tuning", xLabel: ratioAxis,
                           yLabel: "test accuracy (%)", x: 0...1, y: 0...1)
        plot.xFormat = percent; plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        var all: [Double] = [], i = 0
        for group in groups(a) {
            let cells = group.cells
            if group.teacher == group.firstTeacher {
                let (pts, band) = curve(cells, .accuracyBefore)
                var st = SVGPlot.style(i); st.color = "#000000"; st.dash = "2 4"; st.marker = .cross
                if i > 0 { st.color = "#555555" }
                plot.series.append(.init(name: "\(group.prefix)before fine-tuning", points: pts, band: band, style: st))
                all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
            }
            let (pts, band) = curve(cells, .accuracyAfter)
            plot.series.append(.init(name: "\(group.prefix)after, teacher \(group.teacher)", points: pts, band: band, style: SVGPlot.style(i + 1)))
            all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
            i += 1
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)
        plot.x = xRange(a)
        return plot.render()
    }

    /// Prediction agreement of the fine-tuned net with its parent, per teacher.
    public static func agreement(_ a: Analysis) -> String {
        var plot = SVGPlot(title: "Agreement with the parent vs prune ratio, after fine-tuning", xLabel: ratioAxis,
                           yLabel: "test predictions equal to the parent's (%)", x: 0...1, y: 0...1)
        plot.xFormat = percent; plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        var all: [Double] = []
        for (i, group) in groups(a).enumerated() {
            let (pts, band) = curve(group.cells, .agreementParent)
            plot.series.append(.init(name: "\(group.prefix)teacher \(group.teacher)", points: pts, band: band, style: SVGPlot.style(i + 1)))
            all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)
        plot.x = xRange(a)
        return plot.render()
    }

    /// The ratios the trials ran at, with room (the Pareto plot keeps 0...1 for the utopia).
    static func xRange(_ a: Analysis) -> ClosedRange<Double> {
        SVGPlot.range(a.cells.flatMap { $0.values[.ratio] ?? [] }, clamp: 0...1)
    }

    /// Cells grouped per (variant, method, teacher), each sorted by resolved ratio.
    static func groups(_ a: Analysis) -> [(prefix: String, teacher: TeacherKind, firstTeacher: TeacherKind?, cells: [Cell])] {
        var out: [(String, TeacherKind, TeacherKind?, [Cell])] = []
        struct Key: Hashable { var variant: String, method: PruneMethod, teacher: TeacherKind }
        var seen: [Key: Int] = [:]
        for c in a.cells {
            let key = Key(variant: c.variant, method: c.method, teacher: c.teacher)
            if let j = seen[key] { out[j].3.append(c) } else {
                let first = a.cells.first { $0.variant == c.variant && $0.method == c.method }?.teacher
                seen[key] = out.count; out.append((prefix(c, a), c.teacher, first, [c]))
            }
        }
        return out.map { ($0.0, $0.1, $0.2, $0.3.sorted { $0.mean(.ratio) < $1.mean(.ratio) }) }
    }
}
