import Pruning

extension Plots {
    /// One parent's cosine curve (`prunesweep prune`, `analyse`): the global-L1
    /// curve over prune ratios, another method's curve if given, the utopia
    /// (ratio 1, cosine 1), the optimum joined to it by the distance it
    /// minimises, the safe ratio, and the ratio used when it is neither.
    public static func cosineCurve(_ curve: [CurvePoint], optimal: Double, safe: Double?, chosen: Double,
                                   other: (name: String, curve: [CurvePoint])?, title: String) -> String {
        var plot = SVGPlot(title: title, xLabel: ratioAxis, yLabel: "cosine similarity to the parent", x: 0...1, y: 0...1)
        plot.xFormat = percent
        func points(_ c: [CurvePoint]) -> [(x: Double, y: Double)] { c.map { ($0.ratio, max(0, $0.cosine)) } }
        let l1 = points(curve)
        var st = SVGPlot.style(2); st.marker = .none
        plot.series.append(.init(name: "global L1 cosine curve", points: l1, style: st))
        if let other {
            var o = SVGPlot.style(1); o.marker = .none
            plot.series.append(.init(name: "\(other.name) pruning", points: points(other.curve), style: o))
        }
        let co = interpolate(l1, at: optimal) ?? 0
        var distance = SVGPlot.Style(color: "#D55E00", dash: "4 3", marker: .none)
        plot.series.append(.init(name: "distance to the utopia", points: [(optimal, co), (1, 1)], style: distance))
        distance.marker = .diamond
        plot.annotations.append(.init(x: optimal, y: co, label: String(format: "optimal %.0f %%, cos %.3f", optimal * 100, co), style: distance, below: true))
        if let safe, let cs = interpolate(l1, at: safe) {
            plot.annotations.append(.init(x: safe, y: cs, label: String(format: "safe %.2f %%, cos %.3f", safe * 100, cs),
                                          style: .init(color: "#009E73", marker: .triangle), below: true))
        }
        if abs(chosen - optimal) > 1e-9 && abs(chosen - (safe ?? -1)) > 1e-9, let cc = interpolate(l1, at: chosen) {
            plot.annotations.append(.init(x: chosen, y: cc, label: String(format: "used %.0f %%", chosen * 100), style: .init(color: "#555555", marker: .cross)))
        }
        plot.annotations.append(.init(x: 1, y: 1, label: "utopia (100 %, 1.0)", style: .init(color: "#E69F00", marker: .star)))
        plot.y = 0...1.02
        return plot.render()
    }
}
