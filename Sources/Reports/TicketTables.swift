import Foundation
import Pruning

/// The lottery-ticket tables: every round over seeds, and the matching sparsity per method.
extension Tables {
    static func tickets(_ a: Analysis) -> [Table] {
        guard let t = a.tickets, !t.isEmpty else { return [] }
        return [ticketRounds(a, t), matching(a, t)]
    }

    static func ticketCell(_ c: TicketCell, _ m: TicketMetric) -> String {
        Fmt.summary(c.summaries[m], c.values[m], percent: m.isPercent)
    }

    static func ticketRounds(_ a: Analysis, _ t: Tickets) -> Table {
        let metrics: [TicketMetric] = [.remaining, .accuracy, .loss, .cosine, .k2, .barrier]
        var rows: [[String]] = []
        for line in t.lines {
            for c in line.cells {
                rows.append([line.variant.rawValue, line.rewind.description, line.teacher.description, String(line.rate), String(c.round), String(c.n)]
                            + metrics.map { ticketCell(c, $0) })
            }
        }
        return Table(id: "tickets-\(a.study.slug)", title: "Lottery tickets: every round of IMP and its controls",
                     note: "Mean over seeds [95 % bootstrap interval]. Round 0 is the dense net (shared by a method and its controls). "
                         + "Weights left: % of the in-scope entries. Cosine: to the dense net. K2: of the remaining weights. Barrier: the highest "
                         + "test error on the line between two copies trained from the rewind point with different data orders, minus the mean "
                         + "of the two ends, in percentage points (IMP rounds with [imp] stability = true).",
                     header: ["method", "rewind", "teacher", "rate", "round", "seeds", "weights left %", "accuracy %", "loss", "cosine", "K2 (remaining)", "barrier (pp)"],
                     rows: rows)
    }

    static func matching(_ a: Analysis, _ t: Tickets) -> Table {
        Table(id: "matching-\(a.study.slug)", title: "Matching sparsity: the fewest weights at which a method stays as accurate as the dense net",
              note: "Matching: the round with the fewest weights left whose mean accuracy over seeds is at least the dense net's mean minus "
                  + "one standard deviation (over seeds; the mean alone with one seed). –: no round matches.",
              header: ["method", "rewind", "teacher", "rate", "dense accuracy % (mean ± sd)", "matching: weights left %", "sparsity %", "last round: weights left %", "accuracy %"],
              rows: t.lines.map { l in
                  let dense = l.dense.map { Fmt.num($0.mean * 100, 2) + ($0.sd.isFinite ? " ± " + Fmt.num($0.sd * 100, 2) : "") } ?? "–"
                  let last = l.cells.last
                  return [l.variant.rawValue, l.rewind.description, l.teacher.description, String(l.rate), dense,
                          l.matching.map { Fmt.num($0 * 100, 2) } ?? "–", l.matching.map { Fmt.num((1 - $0) * 100, 2) } ?? "–",
                          last.map { Fmt.num($0.mean(.remaining) * 100, 2) } ?? "–", last.map { ticketCell($0, .accuracy) } ?? "–"]
              })
    }

    /// The terminal lines of a study's tickets: accuracy per round for each method, and where it stops matching.
    static func ticketsTerminal(_ a: Analysis) -> String? {
        guard let t = a.tickets, !t.isEmpty else { return nil }
        let rounds = Set(t.lines.flatMap { $0.cells.map(\.round) }).sorted()
        let left = rounds.map { r in t.lines.lazy.compactMap { $0.cells.first { $0.round == r } }.first.map { Fmt.num($0.mean(.remaining) * 100, 1) } ?? "–" }
        let header = ["method / weights left %"] + left + ["matching %"]
        let rows = t.lines.map { l in
            [l.label] + rounds.map { r in l.cells.first { $0.round == r }.map { Fmt.num($0.mean(.accuracy) * 100, 2) } ?? "–" }
                + [l.matching.map { Fmt.num($0 * 100, 1) } ?? "–"]
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, v in i > 0 ? String(repeating: " ", count: widths[i] - v.count) + v : v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return (["\(a.study) lottery tickets (test accuracy %, mean over seeds):", line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
                + rows.map(line)).joined(separator: "\n")
    }
}
