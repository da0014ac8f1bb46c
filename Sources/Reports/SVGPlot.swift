import Foundation

/// A small line-plot writer: one panel, linear axes, lines with markers and
/// shaded bands, annotated points, a legend. Made to be read in print and by
/// colour-blind readers: Okabe-Ito colours, and every series also differs in
/// dash pattern and marker; black axes; text at least 13 px.
public struct SVGPlot {
    public enum Marker: CaseIterable { case circle, square, triangle, diamond, cross, star, none }

    public struct Style {
        public var color: String
        public var dash: String       // SVG stroke-dasharray, "" for solid
        public var marker: Marker
        public init(color: String, dash: String = "", marker: Marker = .circle) { self.color = color; self.dash = dash; self.marker = marker }
    }

    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// 95 % band (x, low, high); drawn where both bounds are finite.
        public var band: [(x: Double, low: Double, high: Double)]
        public var style: Style
        public var line: Bool
        /// Draw the band as a vertical bar at each x (points that are not a curve).
        public var errorBars: Bool
        public init(name: String, points: [(x: Double, y: Double)], band: [(x: Double, low: Double, high: Double)] = [], style: Style,
                    line: Bool = true, errorBars: Bool = false) {
            self.name = name; self.points = points; self.band = band; self.style = style; self.line = line; self.errorBars = errorBars
        }
    }

    /// A labelled point (the utopia, an optimum).
    public struct Annotation {
        public var x, y: Double
        public var label: String
        public var style: Style
        public var below: Bool
        public init(x: Double, y: Double, label: String, style: Style, below: Bool = false) {
            self.x = x; self.y = y; self.label = label; self.style = style; self.below = below
        }
    }

    /// Okabe & Ito (2008), without yellow (too faint on white paper).
    public static let palette = ["#000000", "#E69F00", "#0072B2", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
    public static let dashes = ["", "9 4", "3 3", "12 3 3 3", "6 6", "2 6", "14 4 2 4 2 4"]

    /// The i-th series style: colour, dash and marker all change together.
    public static func style(_ i: Int) -> Style {
        let markers: [Marker] = [.circle, .square, .triangle, .diamond, .cross, .star]
        return Style(color: palette[i % palette.count], dash: dashes[i % dashes.count], marker: markers[i % markers.count])
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var x: ClosedRange<Double>
    public var y: ClosedRange<Double>
    public var xFormat: (Double) -> String = { String(format: "%g", $0) }
    /// Where the x ticks go, when not at even steps (a log axis, categories).
    public var xTicks: [Double]?
    public var yFormat: (Double) -> String = { String(format: "%g", $0) }
    public var series: [Series] = []
    public var annotations: [Annotation] = []
    /// Extra legend rows for annotation-only symbols (e.g. "optimal ratio" markers).
    public var legendExtras: [(name: String, style: Style, line: Bool)] = []
    public var width = 780.0
    public var height = 520.0

    public init(title: String, xLabel: String, yLabel: String, x: ClosedRange<Double>, y: ClosedRange<Double>) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.x = x; self.y = y
    }

    /// The y range of some values with a little room, snapped to tick steps; `clamp` bounds it.
    public static func range(_ values: [Double], clamp: ClosedRange<Double>) -> ClosedRange<Double> {
        let v = values.filter(\.isFinite)
        guard let lo = v.min(), let hi = v.max() else { return clamp }
        let pad = max((hi - lo) * 0.08, 0.02 * max(1, abs(hi)))
        let step = niceStep((hi - lo + 2 * pad) / 5)
        let a = max(clamp.lowerBound, (floor((lo - pad) / step) * step)), b = min(clamp.upperBound, ceil((hi + pad) / step) * step)
        return a < b ? a...b : clamp
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw))), f = raw / p
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p
    }

    static func ticks(_ r: ClosedRange<Double>) -> [Double] {
        let step = niceStep((r.upperBound - r.lowerBound) / 6)
        var t: [Double] = [], v = ceil(r.lowerBound / step - 1e-9) * step
        while v <= r.upperBound + step * 1e-9 { t.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return t
    }

    public func render() -> String {
        let (left, right, top, bottom) = (86.0, 24.0, 46.0, 70.0)
        let rows: [(String, Style, Bool)] = series.map { ($0.name, $0.style, $0.line) } + legendExtras.map { ($0.name, $0.style, $0.line) }
        let legend = Legend(rows.map(\.0))
        let height = self.height + legend.extra
        let plotBottom = height - bottom - legend.height
        func px(_ v: Double) -> Double { left + (v - x.lowerBound) / (x.upperBound - x.lowerBound) * (width - left - right) }
        func py(_ v: Double) -> Double { plotBottom - (v - y.lowerBound) / (y.upperBound - y.lowerBound) * (plotBottom - top) }
        func f(_ v: Double) -> String { Fmt.fixed(v, 1) }
        func inside(_ p: (x: Double, y: Double)) -> Bool { p.x.isFinite && p.y.isFinite }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"14\" role=\"img\">\n"
        s += "<title>\(xmlEscape(title))</title>\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">\(xmlEscape(title))</text>\n"
        s += "<defs><clipPath id=\"clip-\(clipID)\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" height=\"\(f(plotBottom - top))\"/></clipPath></defs>\n"
        // grid and ticks
        for t in xTicks ?? SVGPlot.ticks(x) {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(plotBottom))\" stroke=\"#d9d9d9\"/>"
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(plotBottom))\" x2=\"\(f(px(t)))\" y2=\"\(f(plotBottom + 6))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(plotBottom + 22))\" text-anchor=\"middle\">\(xmlEscape(xFormat(t)))</text>\n"
        }
        for t in SVGPlot.ticks(y) {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(width - right))\" y2=\"\(f(py(t)))\" stroke=\"#d9d9d9\"/>"
            s += "<line x1=\"\(f(left - 6))\" y1=\"\(f(py(t)))\" x2=\"\(f(left))\" y2=\"\(f(py(t)))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(left - 10))\" y=\"\(f(py(t) + 5))\" text-anchor=\"end\">\(xmlEscape(yFormat(t)))</text>\n"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" height=\"\(f(plotBottom - top))\" fill=\"none\" stroke=\"black\" stroke-width=\"1.2\"/>\n"
        s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(plotBottom + 48))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
        s += "<text transform=\"translate(22 \(f((top + plotBottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"

        s += "<g clip-path=\"url(#clip-\(clipID))\">\n"
        for se in series {
            let band = se.band.filter { $0.x.isFinite && $0.low.isFinite && $0.high.isFinite }.sorted { $0.x < $1.x }
            if band.count >= 2 && !se.errorBars {
                let pts = band.map { "\(f(px($0.x))),\(f(py($0.high)))" } + band.reversed().map { "\(f(px($0.x))),\(f(py($0.low)))" }
                s += "<polygon points=\"\(pts.joined(separator: " "))\" fill=\"\(se.style.color)\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
            } else {
                for b in band {   // error bars, or a lone interval
                    s += "<line x1=\"\(f(px(b.x)))\" y1=\"\(f(py(b.low)))\" x2=\"\(f(px(b.x)))\" y2=\"\(f(py(b.high)))\" stroke=\"\(se.style.color)\" stroke-width=\"1.5\"/>\n"
                }
            }
        }
        for se in series {
            let pts = se.points.filter(inside).sorted { $0.x < $1.x }
            if se.line && pts.count >= 2 {
                s += "<polyline fill=\"none\" stroke=\"\(se.style.color)\" stroke-width=\"2.2\"\(se.style.dash.isEmpty ? "" : " stroke-dasharray=\"\(se.style.dash)\"") points=\"\(pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " "))\"/>\n"
            }
            for p in pts { s += SVGPlot.marker(se.style, at: (px(p.x), py(p.y)), size: 5) }
        }
        s += "</g>\n"
        for a in annotations where a.x.isFinite && a.y.isFinite {
            let (ax, ay) = (px(a.x), py(a.y))
            s += SVGPlot.marker(a.style, at: (ax, ay), size: 8)
            let anchor = ax > (left + width - right) / 2 ? "end" : "start"
            s += "<text x=\"\(f(ax + (anchor == "end" ? -12 : 12)))\" y=\"\(f(ay + (a.below || ay < top + 20 ? 26 : -14)))\" text-anchor=\"\(anchor)\" fill=\"black\">\(xmlEscape(a.label))</text>\n"
        }
        // legend: under the axis label
        for (i, r) in rows.enumerated() {
            let (lx, ly) = legend.position(i, left: left, width: width - left - right, top: plotBottom + 72)
            if r.2 {
                s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 40))\" y2=\"\(f(ly))\" stroke=\"\(r.1.color)\" stroke-width=\"2.2\"\(r.1.dash.isEmpty ? "" : " stroke-dasharray=\"\(r.1.dash)\"")/>"
            }
            s += SVGPlot.marker(r.1, at: (lx + 20, ly), size: 5)
            s += "<text x=\"\(f(lx + 50))\" y=\"\(f(ly + 5))\">\(xmlEscape(r.0))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// Where legend entries go: two columns when every label fits in half the
    /// width (about 38 characters of 14 px), else one; a figure grows by the rows
    /// beyond the two its default height holds, so every plot area is as tall.
    struct Legend {
        let columns: Int, rows: Int
        init(_ labels: [String]) {
            columns = labels.allSatisfy { $0.count <= 38 } ? 2 : 1
            rows = (labels.count + columns - 1) / columns
        }
        var height: Double { Double(rows) * 22 + 10 }
        var extra: Double { max(0, height - 54) }
        func position(_ i: Int, left: Double, width: Double, top: Double) -> (x: Double, y: Double) {
            (left + Double(i % columns) * width / Double(columns), top + Double(i / columns) * 22)
        }
    }

    /// Distinct ids per plot, so several inline SVGs in one HTML page do not share a clip path.
    var clipID: String { String(title.unicodeScalars.reduce(UInt32(5381)) { ($0 &* 33) &+ $1.value }, radix: 16) }

    static func marker(_ st: Style, at p: (Double, Double), size r: Double) -> String {
        func f(_ v: Double) -> String { Fmt.fixed(v, 1) }
        let (x, y) = p, c = st.color
        switch st.marker {
        case .none: return ""
        case .circle: return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(f(r))\" fill=\"\(c)\" stroke=\"white\" stroke-width=\"1\"/>\n"
        case .square: return "<rect x=\"\(f(x - r))\" y=\"\(f(y - r))\" width=\"\(f(2 * r))\" height=\"\(f(2 * r))\" fill=\"\(c)\" stroke=\"white\" stroke-width=\"1\"/>\n"
        case .triangle: return "<polygon points=\"\(f(x)),\(f(y - 1.2 * r)) \(f(x + 1.1 * r)),\(f(y + 0.8 * r)) \(f(x - 1.1 * r)),\(f(y + 0.8 * r))\" fill=\"\(c)\" stroke=\"white\" stroke-width=\"1\"/>\n"
        case .diamond: return "<polygon points=\"\(f(x)),\(f(y - 1.3 * r)) \(f(x + 1.3 * r)),\(f(y)) \(f(x)),\(f(y + 1.3 * r)) \(f(x - 1.3 * r)),\(f(y))\" fill=\"\(c)\" stroke=\"white\" stroke-width=\"1\"/>\n"
        case .cross: return "<path d=\"M\(f(x - r)),\(f(y - r)) L\(f(x + r)),\(f(y + r)) M\(f(x - r)),\(f(y + r)) L\(f(x + r)),\(f(y - r))\" stroke=\"\(c)\" stroke-width=\"2.5\"/>\n"
        case .star:
            let pts = (0..<10).map { k -> String in
                let a = Double.pi / 2 + Double(k) * .pi / 5, rr = k % 2 == 0 ? 1.5 * r : 0.65 * r
                return "\(f(x + rr * cos(a))),\(f(y - rr * sin(a)))"
            }
            return "<polygon points=\"\(pts.joined(separator: " "))\" fill=\"\(c)\" stroke=\"black\" stroke-width=\"1\"/>\n"
        }
    }
}

func xmlEscape(_ s: String) -> String {
    var o = ""
    o.reserveCapacity(s.utf8.count)
    for ch in s {
        switch ch {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        default: o.append(ch)
        }
    }
    return o
}
