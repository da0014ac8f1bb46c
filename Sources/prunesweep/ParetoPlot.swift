import Foundation
import Pruning

/// pareto.svg: the cosine curve over prune ratios, the utopia (ratio 1,
/// cosine 1), the optimum (nearest point to the utopia, joined to it by the
/// distance it minimises), the safe ratio and the ratio used.
func paretoSVG(curve: [CurvePoint], optimal: Double, safe: Double?, chosen: Double,
               other: (name: String, curve: [CurvePoint])?, title: String) -> String {
    let (w, h) = (720.0, 540.0)
    let (left, right, top, bottom) = (80.0, 30.0, 50.0, 70.0)
    func x(_ r: Double) -> Double { left + r * (w - left - right) }
    func y(_ c: Double) -> Double { h - bottom - c * (h - top - bottom) }
    func f(_ v: Double) -> String { String(format: "%.1f", v) }
    func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") }
    func polyline(_ c: [CurvePoint], _ style: String) -> String {
        "<polyline fill=\"none\" \(style) points=\"\(c.map { "\(f(x($0.ratio))),\(f(y(max(0, $0.cosine))))" }.joined(separator: " "))\"/>\n"
    }
    func cosine(at r: Double) -> Double {   // linear interpolation on the curve
        guard let j = curve.firstIndex(where: { $0.ratio >= r }) else { return curve.last!.cosine }
        if j == 0 || curve[j].ratio == r { return curve[j].cosine }
        let (a, b) = (curve[j - 1], curve[j])
        return a.cosine + (b.cosine - a.cosine) * (r - a.ratio) / (b.ratio - a.ratio)
    }
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"14\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(f(w / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">\(esc(title))</text>\n"
    for i in 0...10 {
        let v = Double(i) / 10
        s += "<line x1=\"\(f(x(v)))\" y1=\"\(f(y(0)))\" x2=\"\(f(x(v)))\" y2=\"\(f(y(1)))\" stroke=\"#e4e4e4\"/>\n"
        s += "<line x1=\"\(f(x(0)))\" y1=\"\(f(y(v)))\" x2=\"\(f(x(1)))\" y2=\"\(f(y(v)))\" stroke=\"#e4e4e4\"/>\n"
        if i % 2 == 0 {
            s += "<text x=\"\(f(x(v)))\" y=\"\(f(y(0) + 20))\" text-anchor=\"middle\">\(Int(v * 100)) %</text>\n"
            s += "<text x=\"\(f(x(0) - 8))\" y=\"\(f(y(v) + 5))\" text-anchor=\"end\">\(String(format: "%.1f", v))</text>\n"
        }
    }
    s += "<rect x=\"\(f(x(0)))\" y=\"\(f(y(1)))\" width=\"\(f(x(1) - x(0)))\" height=\"\(f(y(0) - y(1)))\" fill=\"none\" stroke=\"#333\"/>\n"
    s += "<text x=\"\(f((x(0) + x(1)) / 2))\" y=\"\(f(h - 22))\" text-anchor=\"middle\">prune ratio (fraction of parameters set to zero)</text>\n"
    s += "<text transform=\"translate(24 \(f((y(0) + y(1)) / 2))) rotate(-90)\" text-anchor=\"middle\">cosine similarity to the parent</text>\n"
    if let other { s += polyline(other.curve, "stroke=\"#999\" stroke-width=\"2\" stroke-dasharray=\"6 4\"") }
    s += polyline(curve, "stroke=\"#1f77b4\" stroke-width=\"2.5\"")
    let co = cosine(at: optimal)
    s += "<line x1=\"\(f(x(optimal)))\" y1=\"\(f(y(co)))\" x2=\"\(f(x(1)))\" y2=\"\(f(y(1)))\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n"
    s += "<polygon points=\"\(f(x(1))),\(f(y(1) - 9)) \(f(x(1) + 9)),\(f(y(1))) \(f(x(1))),\(f(y(1) + 9)) \(f(x(1) - 9)),\(f(y(1)))\" fill=\"#2ca02c\"/>\n"
    s += "<text x=\"\(f(x(1) + 20))\" y=\"\(f(y(1) - 14))\" text-anchor=\"end\" fill=\"#2ca02c\">utopia (100 %, 1.0)</text>\n"
    s += "<circle cx=\"\(f(x(optimal)))\" cy=\"\(f(y(co)))\" r=\"6\" fill=\"#d62728\"/>\n"
    s += "<text x=\"\(f(x(optimal) - 12))\" y=\"\(f(y(co) + 22))\" text-anchor=\"end\" fill=\"#d62728\">optimal \(String(format: "%.0f %%, cos %.3f", optimal * 100, co))</text>\n"
    if let safe {
        let cs = cosine(at: safe)
        s += "<circle cx=\"\(f(x(safe)))\" cy=\"\(f(y(cs)))\" r=\"6\" fill=\"#ff7f0e\"/>\n"
        s += "<text x=\"\(f(x(safe) - 12))\" y=\"\(f(y(cs) + 22))\" text-anchor=\"end\" fill=\"#ff7f0e\">safe \(String(format: "%.2f %%, cos %.3f", safe * 100, cs))</text>\n"
    }
    if abs(chosen - optimal) > 1e-9 && abs(chosen - (safe ?? -1)) > 1e-9 {
        s += "<line x1=\"\(f(x(chosen)))\" y1=\"\(f(y(0)))\" x2=\"\(f(x(chosen)))\" y2=\"\(f(y(1)))\" stroke=\"#555\" stroke-dasharray=\"2 3\"/>\n"
        s += "<text x=\"\(f(x(chosen) + 4))\" y=\"\(f(y(0) - 8))\" fill=\"#555\">used \(String(format: "%.0f %%", chosen * 100))</text>\n"
    }
    // Legend, bottom left, clear of the curve (which runs from top left to bottom right).
    let lx = x(0.04), ly = y(0.22)
    s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 28))\" y2=\"\(f(ly))\" stroke=\"#1f77b4\" stroke-width=\"2.5\"/><text x=\"\(f(lx + 36))\" y=\"\(f(ly + 5))\">global L1 cosine curve</text>\n"
    if let other {
        s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly + 22))\" x2=\"\(f(lx + 28))\" y2=\"\(f(ly + 22))\" stroke=\"#999\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"\(f(lx + 36))\" y=\"\(f(ly + 27))\">\(esc(other.name)) pruning</text>\n"
    }
    return s + "</svg>\n"
}
