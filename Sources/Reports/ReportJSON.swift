import Foundation

/// report.json (`--format json`): everything the tables hold, as numbers, for
/// scripts. Fractions, not %; null where undefined. Documented in docs/report-format.md.
public enum ReportJSON {
    struct Document: Encodable {
        var format = 1
        var sweeps: [String]
        var sources: [String]
        var notes: [String]
        var bootstrap: BootstrapSettings
        var cost: CostAssumptions
        var studies: [StudyResults]
        var problems: [Problem]
        var badLines: [BadLineEntry]
    }

    struct BootstrapSettings: Encodable {
        var method = "percentile"
        var resamples: Int
        var seed: UInt64
        var confidence: Double
        var minimumSeeds = Bootstrap.minimumSeeds
    }

    struct CostAssumptions: Encodable {
        var inputSide = CostModel.inputSide
        var classes = CostModel.classes
        var counting = "multiply-adds of conv and linear weights per image (conv: output height x width per weight; linear: 1); biases, pooling and activations not counted"
    }

    struct StudyResults: Encodable {
        var dataset: String
        var architecture: String
        var parameters: Int
        var denseMultiplyAdds: Int
        var parents: [Parent]
        var parentSummary: [String: SummaryEntry]
        var cells: [CellEntry]
        var comparisons: [ComparisonEntry]
        var tickets: [TicketEntry]
    }

    /// One lottery-ticket curve: its rounds over seeds, the dense net's accuracy and the matching fraction of weights left.
    struct TicketEntry: Encodable {
        var method, rewind, teacher: String
        var rate: Double
        var denseAccuracy: SummaryEntry?
        var matchingRemaining: Double?
        var rounds: [RoundEntry]
    }

    struct RoundEntry: Encodable {
        var round: Int
        var seeds: [UInt64]
        var metrics: [String: SummaryEntry]
    }

    struct Parent: Encodable {
        var label: String
        var seed: UInt64
        var metrics: [String: Double?]
    }

    struct SummaryEntry: Encodable {
        var n: Int
        var mean, sd, lower, upper: Double?
        var interval: IntervalMethod
        init(_ s: Summary) { n = s.n; mean = finite(s.mean); sd = finite(s.sd); lower = finite(s.lower); upper = finite(s.upper); interval = s.interval }
    }

    struct CellEntry: Encodable {
        var variant, method, teacher, ratio: String
        var seeds: [UInt64]
        var metrics: [String: SummaryEntry]
        var sparsityPerTensor: [String: Double]
    }

    struct ComparisonEntry: Encodable {
        var variant, method, ratio, teacher, control: String
        var meanDifference, t, df, p, pHolm, hedgesG: Double?
        var nTeacher, nControl: Int
    }

    struct Problem: Encodable { var status, task, label: String; var error: String? }
    struct BadLineEntry: Encodable { var file: String; var line: Int; var problem: String }

    public static func write(_ r: Report) throws -> String {
        let doc = Document(
            sweeps: r.set.sweepNames, sources: r.set.directories, notes: r.set.notes,
            bootstrap: BootstrapSettings(resamples: r.bootstrap.resamples, seed: r.bootstrap.seed, confidence: r.bootstrap.confidence),
            cost: CostAssumptions(),
            studies: r.analyses.map { a in
                StudyResults(
                    dataset: a.study.dataset, architecture: a.study.architecture.description, parameters: a.cost.parameters,
                    denseMultiplyAdds: a.cost.denseMultiplyAdds,
                    parents: a.parents.map { p in
                        Parent(label: p.label, seed: p.seed, metrics: Dictionary(uniqueKeysWithValues: ParentMetric.allCases.map { ($0.rawValue, finite(p.value($0))) }))
                    },
                    parentSummary: Dictionary(uniqueKeysWithValues: a.parentSummaries.map { ($0.key.rawValue, SummaryEntry($0.value)) }),
                    cells: a.cells.map { c in
                        CellEntry(variant: c.variant, method: c.method.rawValue, teacher: c.teacher.description, ratio: c.ratio.description, seeds: c.seeds,
                                  metrics: Dictionary(uniqueKeysWithValues: c.summaries.map { ($0.key.description, SummaryEntry($0.value)) }),
                                  sparsityPerTensor: c.sparsityPerTensor)
                    },
                    comparisons: a.comparisons.map { c in
                        ComparisonEntry(variant: c.variant, method: c.method.rawValue, ratio: c.ratio.description, teacher: c.teacher.description,
                                        control: c.control.description, meanDifference: finite(c.meanDifference), t: finite(c.t), df: finite(c.df),
                                        p: finite(c.p), pHolm: finite(c.pHolm), hedgesG: finite(c.hedgesG), nTeacher: c.n.teacher, nControl: c.n.control)
                    },
                    tickets: (a.tickets?.lines ?? []).map { l in
                        TicketEntry(method: l.variant.rawValue, rewind: l.rewind.description, teacher: l.teacher.description, rate: l.rate,
                                    denseAccuracy: l.dense.map(SummaryEntry.init), matchingRemaining: l.matching,
                                    rounds: l.cells.map { c in
                                        RoundEntry(round: c.round, seeds: c.seeds,
                                                   metrics: Dictionary(uniqueKeysWithValues: c.summaries.map { ($0.key.rawValue, SummaryEntry($0.value)) }))
                                    })
                    })
            },
            problems: r.set.problems.map { Problem(status: $0.status.rawValue, task: $0.task, label: $0.label, error: $0.error) }
                + r.set.missing.map { Problem(status: "missing", task: $0.id, label: $0.label, error: nil) },
            badLines: r.set.badLines.map { BadLineEntry(file: $0.file, line: $0.line, problem: $0.problem) })
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try e.encode(doc), as: UTF8.self) + "\n"
    }
}

/// JSON has no NaN or infinity: undefined numbers are null.
func finite(_ v: Double) -> Double? { v.isFinite ? v : nil }
