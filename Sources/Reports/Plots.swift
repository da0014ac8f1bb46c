import Distillation
import Foundation
import Pruning
import Sweep

/// The report's figures, as SVG text keyed by file name (plots/<name>.svg).
public enum Plots {
    static func percent(_ v: Double) -> String { String(format: "%g %%", (v * 1000).rounded() / 10) }
    static let ratioAxis = "prune ratio (% of parameters set to zero)"

    /// The figures of one study, named "<study slug>-<figure>": the paper's accuracy
    /// against cosine next to accuracy against ratio, the Pareto front, accuracy
    /// per teacher (with more than one teacher), agreement with the parent, and the
    /// per-layer sparsity at the optimal and safe ratios (when the study has them).
    public static func study(_ a: Analysis) -> [(name: String, svg: String)] {
        if a.cells.isEmpty { return tickets(a).map { ("\(a.study.slug)-\($0.0)", $0.1) } }
        let y = accuracyRange(a)
        var out = [("accuracy-cosine", accuracyAgainst(.cosine, a, y: y)), ("accuracy-ratio", accuracyAgainst(.ratio, a, y: y)),
                   ("pareto", pareto(a))]
        if Set(a.cells.map(\.teacher)).count > 1 { out.append(("accuracy-teachers", accuracy(a))) }
        out.append(("agreement", agreement(a)))
        if let bars = layerSparsity(a) { out.append(("layer-sparsity", bars)) }
        out += tickets(a)
        return out.map { ("\(a.study.slug)-\($0.0)", $0.1) }
    }

    /// The figures across studies: kurtosis against the optimal ratio, when the
    /// results hold more than one architecture whose parents recorded them.
    public static func overall(_ analyses: [Analysis]) -> [(name: String, svg: String)] {
        let measured = analyses.filter { $0.parentSummaries[.optimalRatio] != nil && ($0.parentSummaries[.k2] ?? $0.parentSummaries[.meanKurtosis]) != nil }
        return Set(measured.map(\.study.architecture)).count > 1 ? [("kurtosis", kurtosis(measured))] : []
    }

    /// A series label's prefix when there is more than one method or variant.
    static func prefix(_ c: Cell, _ a: Analysis) -> String {
        let methods = Set(a.cells.map(\.method)).count > 1, variants = Set(a.cells.map(\.variant)).count > 1
        return [variants ? c.variant : "", methods ? c.method.rawValue : ""].filter { !$0.isEmpty }.joined(separator: " ") + (methods || variants ? ": " : "")
    }

    /// One point per ratio of a group of cells: x the mean resolved ratio, y the
    /// metric's mean, band its 95 % interval.
    static func curve(_ cells: [Cell], _ metric: TrialMetric, x: TrialMetric = .ratio) -> ([(x: Double, y: Double)], [(x: Double, low: Double, high: Double)]) {
        var pts: [(x: Double, y: Double)] = [], band: [(x: Double, low: Double, high: Double)] = []
        for c in cells {
            guard let s = c.summaries[.recorded(metric)] else { continue }
            let x = c.mean(.recorded(x))
            pts.append((x, s.mean)); band.append((x, s.lower, s.upper))
        }
        return (pts, band)
    }

    /// Cosine to the parent against the prune ratio: the mean over seeds with
    /// its 95 % band per method, every trial's (ratio, cosine) with resolved
    /// optimal/safe ratios marked, the utopia (1, 1) and the optimum (the mean
    /// resolved optimal ratio on the curve).
    public static func pareto(_ a: Analysis) -> String {
        var plot = SVGPlot(title: "\(a.study): similarity to the parent vs sparsity", xLabel: ratioAxis,
                           yLabel: "cosine similarity to the parent (1 = identical)", x: 0...1, y: 0...1)
        plot.xFormat = percent
        // The pruned net before fine-tuning does not depend on the teacher: one curve per (variant, method).
        struct Key: Hashable { var variant: String, method: PruneMethod }
        var keys: [Key] = []
        for c in a.cells where !keys.contains(Key(variant: c.variant, method: c.method)) { keys.append(Key(variant: c.variant, method: c.method)) }
        var minCos = 1.0
        for (i, k) in keys.enumerated() {
            let first = a.cells.first { $0.variant == k.variant && $0.method == k.method }?.teacher
            let cells = a.cells.filter { $0.variant == k.variant && $0.method == k.method && $0.teacher == first }
                .sorted { $0.mean(.recorded(.ratio)) < $1.mean(.recorded(.ratio)) }
            let (pts, band) = curve(cells, .cosine)
            minCos = min(minCos, band.map(\.low).filter(\.isFinite).min() ?? 1, pts.map(\.y).min() ?? 1)
            let color = methodStyle(k.method).color
            let label = (keys.count > 1 ? "\([k.variant, k.method.rawValue].filter { !$0.isEmpty }.joined(separator: " ")): " : "")
            plot.series.append(.init(name: "\(label)mean, 95 % bootstrap", points: pts, band: band,
                                     style: .init(color: color, dash: SVGPlot.dashes[i % SVGPlot.dashes.count], marker: .none)))
            // the trials themselves, one point per seed and ratio
            var dots: [(x: Double, y: Double)] = [], opt: [(x: Double, y: Double)] = [], safe: [(x: Double, y: Double)] = []
            for c in cells {
                for (r, cos) in zip(c.values[.recorded(.ratio)] ?? [], c.values[.recorded(.cosine)] ?? []) {
                    switch c.ratio { case .optimal: opt.append((r, cos)); case .safe: safe.append((r, cos)); case .fixed: dots.append((r, cos)) }
                }
            }
            plot.series.append(.init(name: "\(label)each seed", points: dots, style: .init(color: color, marker: .circle), line: false))
            if !opt.isEmpty { plot.series.append(.init(name: "\(label)at the optimal ratio", points: opt, style: .init(color: color, marker: .diamond), line: false)) }
            if !safe.isEmpty { plot.series.append(.init(name: "\(label)at the safe ratio", points: safe, style: .init(color: color, marker: .triangle), line: false)) }
            // the optimum: the parents' mean optimal ratio, on this curve
            if i == 0, let optimal = a.parentSummaries[.optimalRatio]?.mean, let y = interpolate(pts, at: optimal) {
                plot.annotations.append(.init(x: optimal, y: y,
                                              label: String(format: "optimum: %.1f %%, cosine %.3f", optimal * 100, y),
                                              style: .init(color: "#000000", marker: .diamond), below: true))
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
        var plot = SVGPlot(title: "\(a.study): test accuracy vs prune ratio, per teacher", xLabel: ratioAxis,
                           yLabel: "test accuracy (%)", x: 0...1, y: 0...1)
        plot.xFormat = percent; plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        var all: [Double] = []
        for group in groups(a) {
            let cells = group.cells
            if group.teacher == group.firstTeacher {
                let (pts, band) = curve(cells, .accuracyBefore)
                plot.series.append(.init(name: "\(group.prefix)before fine-tuning", points: pts, band: band, style: beforeStyle(cells[0].method)))
                all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
            }
            let (pts, band) = curve(cells, .accuracyAfter)
            plot.series.append(.init(name: "\(group.prefix)after, teacher \(group.teacher)", points: pts, band: band, style: style(group.teacher, cells[0].method, a)))
            all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)
        plot.x = xRange(a)
        return plot.render()
    }

    /// Prediction agreement of the fine-tuned net with its parent, per teacher.
    public static func agreement(_ a: Analysis) -> String {
        var plot = SVGPlot(title: "\(a.study): agreement with the parent after fine-tuning", xLabel: ratioAxis,
                           yLabel: "test predictions equal to the parent's (%)", x: 0...1, y: 0...1)
        plot.xFormat = percent; plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        var all: [Double] = []
        for group in groups(a) {
            let (pts, band) = curve(group.cells, .agreementParent)
            plot.series.append(.init(name: "\(group.prefix)teacher \(group.teacher)", points: pts, band: band, style: style(group.teacher, group.cells[0].method, a)))
            all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)
        plot.x = xRange(a)
        return plot.render()
    }

    /// A curve's style: its method's colour (as in every figure), and a dash and
    /// marker per teacher (the first, the control, solid).
    static func style(_ teacher: TeacherKind, _ method: PruneMethod, _ a: Analysis) -> SVGPlot.Style {
        var teachers: [TeacherKind] = []
        for c in a.cells where !teachers.contains(c.teacher) { teachers.append(c.teacher) }
        var st = SVGPlot.style(teachers.firstIndex(of: teacher) ?? 0)
        st.color = methodStyle(method).color
        return st
    }

    /// Before fine-tuning: the method's colour, dotted, crosses.
    static func beforeStyle(_ method: PruneMethod) -> SVGPlot.Style {
        var st = methodStyle(method)
        st.dash = "1 4"; st.marker = .cross
        return st
    }

    /// The ratios the trials ran at, with room (the Pareto plot keeps 0...1 for the utopia).
    static func xRange(_ a: Analysis) -> ClosedRange<Double> {
        SVGPlot.range(a.cells.flatMap { $0.values[.recorded(.ratio)] ?? [] }, clamp: 0...1)
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
        return out.map { ($0.0, $0.1, $0.2, $0.3.sorted { $0.mean(.recorded(.ratio)) < $1.mean(.recorded(.ratio)) }) }
    }
}
