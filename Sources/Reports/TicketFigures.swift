import Foundation
import Pruning

/// The lottery-ticket figures: accuracy against the weights left (log axis,
/// fewer weights to the right, as Frankle & Carbin plot it), and the error
/// barrier between two copies against the rewind point.
extension Plots {
    static func tickets(_ a: Analysis) -> [(String, String)] {
        guard let t = a.tickets, !t.isEmpty else { return [] }
        return [("tickets-accuracy", ticketAccuracy(a, t))] + (t.stability.isEmpty ? [] : [("tickets-instability", instability(a, t))])
    }

    /// x = -log10(fraction left): 100 % at 0, 10 % at 1.
    static func ticketAccuracy(_ a: Analysis, _ t: Tickets) -> String {
        func x(_ remaining: Double) -> Double { -log10(remaining) }
        var plot = SVGPlot(title: "\(a.study): lottery tickets, accuracy vs weights left", xLabel: "weights left (% of the in-scope entries, log scale)",
                           yLabel: "test accuracy (%)", x: 0...1, y: 0...1)
        plot.xFormat = { String(format: "%.3g", 100 * pow(10, -$0)) }
        plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        var all: [Double] = [], xs: [Double] = []
        for (i, line) in t.lines.enumerated() {
            let cells = line.cells.filter { $0.summaries[.accuracy] != nil && $0.mean(.remaining) > 0 }
            let pts = cells.map { (x: x($0.mean(.remaining)), y: $0.mean(.accuracy)) }
            let band = cells.map { (x: x($0.mean(.remaining)), low: $0.summaries[.accuracy]!.lower, high: $0.summaries[.accuracy]!.upper) }
            plot.series.append(.init(name: "\(line.label), mean, 95 % bootstrap", points: pts, band: band, style: SVGPlot.style(i)))
            all += pts.map(\.y) + band.flatMap { [$0.low, $0.high] }
            xs += pts.map(\.x)
        }
        plot.x = 0...max(0.1, (xs.max() ?? 1) * 1.05)
        // the matching threshold of the first line's dense net (every line of a study at one rewind shares it)
        if let d = t.lines.first?.dense, d.sd.isFinite {
            let floor = d.mean - d.sd
            plot.series.append(.init(name: "dense net mean − 1 sd: matching above", points: [(plot.x.lowerBound, floor), (plot.x.upperBound, floor)],
                                     style: .init(color: "#000000", dash: "2 4", marker: .none)))
            all.append(floor)
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)
        plot.xTicks = [100, 50, 30, 20, 10, 5, 3, 2, 1, 0.5, 0.3, 0.2, 0.1].map { x($0 / 100) }.filter { plot.x.contains($0) }
        return plot.render()
    }

    /// One series per IMP round: the barrier's mean with its 95 % interval as error bars, at each rewind point.
    static func instability(_ a: Analysis, _ t: Tickets) -> String {
        let lines = t.stability
        let rewinds = Array(Set(lines.map(\.rewind))).sorted { order($0) < order($1) }
        var plot = SVGPlot(title: "\(a.study): instability vs rewind point", xLabel: "rewind point",
                           yLabel: "error barrier between two copies (pp)", x: -0.5...Double(rewinds.count) - 0.5, y: 0...1)
        plot.xTicks = rewinds.indices.map(Double.init)
        plot.xFormat = { i in rewinds.indices.contains(Int(i.rounded())) ? rewinds[Int(i.rounded())].description : "" }
        plot.yFormat = { String(format: "%g", ($0 * 1000).rounded() / 10) }
        let rounds = Set(lines.flatMap { $0.cells.map(\.round) }).sorted()
        var all: [Double] = [0]
        for (i, r) in rounds.enumerated() {
            var pts: [(x: Double, y: Double)] = [], band: [(x: Double, low: Double, high: Double)] = []
            for line in lines {
                guard let c = line.cells.first(where: { $0.round == r }), let s = c.summaries[.barrier], let j = rewinds.firstIndex(of: line.rewind) else { continue }
                // rounds side by side around their rewind point, so the error bars do not cover each other
                let x = Double(j) + (Double(i) - Double(rounds.count - 1) / 2) * 0.4 / Double(max(rounds.count, 1))
                pts.append((x, s.mean)); band.append((x, s.lower, s.upper))
                all += [s.mean, s.lower, s.upper]
            }
            let left = lines.first?.cells.first { $0.round == r }.map { String(format: "%.3g %% left", $0.mean(.remaining) * 100) } ?? ""
            plot.series.append(.init(name: "round \(r) (\(left))", points: pts.sorted { $0.x < $1.x }, band: band, style: SVGPlot.style(i), errorBars: true))
        }
        plot.y = SVGPlot.range(all, clamp: 0...1)   // the highest error on the line is at least the mean of its ends
        return plot.render()
    }

    /// Rewind points in training order: init, then iterations, then epochs (each kind in order).
    static func order(_ r: Rewind) -> (Int, Int) {
        switch r {
        case .initialisation: (0, 0)
        case .iteration(let n): (1, n)
        case .epoch(let k): (2, k)
        }
    }
}
