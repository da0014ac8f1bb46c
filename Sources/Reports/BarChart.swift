import Foundation

/// Grouped vertical bars over named categories (one group per tensor) on a
/// 0-100 % axis, drawn like SVGPlot: black axes and outlines, text of 13 px
/// and more, a legend below; a series' twin can take a lighter fill of its colour.
public struct BarChart {
    public struct Series {
        public var name: String
        /// Fractions in [0, 1], one per category; NaN draws no bar.
        public var values: [Double]
        public var color: String
        public var light: Bool
        public init(name: String, values: [Double], color: String, light: Bool = false) {
            self.name = name; self.values = values; self.color = color; self.light = light
        }
    }

    public var title: String
    public var categories: [String]
    public var yLabel: String
    public var series: [Series]
    public var width = 780.0
    public var height = 560.0

    public init(title: String, categories: [String], yLabel: String, series: [Series]) {
        self.title = title; self.categories = categories; self.yLabel = yLabel; self.series = series
    }

    public func render() -> String {
        let (left, right, top, labels) = (86.0, 24.0, 46.0, 100.0)
        let legend = SVGPlot.Legend(series.map(\.name))
        let height = self.height + legend.extra
        let plotBottom = height - labels - legend.height
        let groupWidth = (width - left - right) / Double(max(1, categories.count))
        let barWidth = groupWidth * 0.8 / Double(max(1, series.count))
        func py(_ v: Double) -> Double { plotBottom - v * (plotBottom - top) }
        func f(_ v: Double) -> String { Fmt.fixed(v, 1) }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"14\" role=\"img\">\n"
        s += "<title>\(xmlEscape(title))</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">\(xmlEscape(title))</text>\n"
        for t in stride(from: 0.0, through: 1.0, by: 0.2) {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(width - right))\" y2=\"\(f(py(t)))\" stroke=\"#d9d9d9\"/>"
            s += "<text x=\"\(f(left - 10))\" y=\"\(f(py(t) + 5))\" text-anchor=\"end\">\(Int((t * 100).rounded()))</text>\n"
        }
        for (k, se) in series.enumerated() {
            for (i, v) in se.values.enumerated() where v.isFinite && i < categories.count {
                let x = left + Double(i) * groupWidth + groupWidth * 0.1 + Double(k) * barWidth
                s += "<rect x=\"\(f(x))\" y=\"\(f(py(v)))\" width=\"\(f(barWidth))\" height=\"\(f(py(0) - py(v)))\" fill=\"\(se.color)\""
                    + "\(se.light ? " fill-opacity=\"0.4\"" : "") stroke=\"black\" stroke-width=\"0.8\"><title>\(xmlEscape("\(se.name), \(categories[i]): \(String(format: "%.1f", v * 100)) %"))</title></rect>\n"
            }
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" height=\"\(f(plotBottom - top))\" fill=\"none\" stroke=\"black\" stroke-width=\"1.2\"/>\n"
        for (i, c) in categories.enumerated() {
            let x = left + (Double(i) + 0.5) * groupWidth
            s += "<text transform=\"translate(\(f(x)) \(f(plotBottom + 14))) rotate(-35)\" text-anchor=\"end\" font-size=\"13\">\(xmlEscape(c))</text>\n"
        }
        s += "<text transform=\"translate(22 \(f((top + plotBottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        for (i, se) in series.enumerated() {
            let (lx, ly) = legend.position(i, left: left, width: width - left - right, top: plotBottom + labels + 4)
            s += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 8))\" width=\"28\" height=\"14\" fill=\"\(se.color)\"\(se.light ? " fill-opacity=\"0.4\"" : "") stroke=\"black\" stroke-width=\"0.8\"/>"
            s += "<text x=\"\(f(lx + 38))\" y=\"\(f(ly + 4))\">\(xmlEscape(se.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}
