import Foundation

/// report.csv in tidy form: one row per (parent or cell) and metric, columns
/// documented in docs/report-format.md. Numbers are fractions (not %), empty
/// where undefined.
public enum TidyCSV {
    public static let header = ["kind", "dataset", "architecture", "variant", "method", "teacher", "ratio",
                                "metric", "n", "mean", "sd", "lower", "upper", "interval"]

    public static func write(_ analyses: [Analysis]) -> String {
        var out = header.joined(separator: ",") + "\n"
        for a in analyses {
            let study = [a.study.dataset, a.study.architecture.description]
            for m in ParentMetric.allCases {
                guard let s = a.parentSummaries[m] else { continue }
                out += line(["parent"] + study + ["", "", "", ""] + [m.rawValue] + fields(s))
            }
            for c in a.cells {
                for m in CellMetric.allCases {
                    guard let s = c.summaries[m] else { continue }
                    out += line(["cell"] + study + [c.variant, c.method.rawValue, c.teacher.description, c.ratio.description, m.description] + fields(s))
                }
            }
            // IMP rounds: variant names the rewind point and rate, ratio the round
            for l in a.tickets?.lines ?? [] {
                for c in l.cells {
                    for m in TicketMetric.allCases {
                        guard let s = c.summaries[m] else { continue }
                        out += line(["round"] + study + ["rewind=\(l.rewind) rate=\(l.rate)", l.variant.rawValue, l.teacher.description, "round \(c.round)", m.rawValue] + fields(s))
                    }
                }
            }
        }
        return out
    }

    static func fields(_ s: Summary) -> [String] {
        [String(s.n), number(s.mean), number(s.sd), number(s.lower), number(s.upper), s.interval.rawValue]
    }

    static func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "" }

    static func line(_ fields: [String]) -> String {
        fields.map { f in f.contains(where: { ",\"\n".contains($0) }) ? "\"\(f.replacingOccurrences(of: "\"", with: "\"\""))\"" : f }
            .joined(separator: ",") + "\n"
    }
}
