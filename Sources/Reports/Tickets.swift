import Distillation
import Foundation
import Pruning
import Sweep

/// A number a lottery-ticket round records, summarised over seeds.
public enum TicketMetric: String, CaseIterable, CustomStringConvertible, Sendable {
    case remaining, accuracy, loss, cosine, k2, barrier

    public var description: String { rawValue }

    public func value(_ m: RoundMetrics) -> Double? {
        switch self {
        case .remaining: m.remaining
        case .accuracy: m.accuracy
        case .loss: m.loss
        case .cosine: m.cosine
        case .k2: m.k2
        case .barrier: m.barrier
        }
    }

    public var isPercent: Bool { [.remaining, .accuracy, .barrier].contains(self) }
}

/// The rounds of one method x rewind x teacher x rate at one round, over seeds.
public struct TicketCell {
    public var round: Int
    public var seeds: [UInt64]
    public var summaries: [TicketMetric: Summary]
    public var values: [TicketMetric: [Double]]
    public var n: Int { seeds.count }
    public func mean(_ m: TicketMetric) -> Double { summaries[m]?.mean ?? .nan }
}

/// One curve of the lottery-ticket figure: a method (IMP or a control) with
/// its rewind point, teacher and rate, round by round from the dense net.
public struct TicketLine {
    public var variant: IMPVariant
    public var rewind: Rewind
    public var teacher: TeacherKind
    public var rate: Double
    /// Round 0 (the dense net, shared by the method and its controls) first.
    public var cells: [TicketCell]
    /// The dense net's accuracy over seeds (mean and standard deviation).
    public var dense: Summary?
    /// The fewest weights left (fraction) at which the mean accuracy stays within
    /// one standard deviation of the dense net's mean: "matching" (nil: no round does).
    public var matching: Double?

    public var label: String {
        "\(variant.rawValue), rewind \(rewind)" + (teacher == .none ? "" : ", teacher \(teacher)")
    }
}

/// The lottery-ticket results of a study.
public struct Tickets {
    public var lines: [TicketLine]

    public init(_ rounds: [(spec: RoundSpec, metrics: RoundMetrics)], study: Study, bootstrap: Bootstrap) {
        struct Key: Hashable { var variant: IMPVariant, rewind: Rewind, teacher: TeacherKind, rate: Double }
        var groups: [Key: [Int: [(seed: UInt64, metrics: RoundMetrics)]]] = [:]
        for r in rounds {
            let k = Key(variant: r.spec.variant, rewind: r.spec.imp.rewind, teacher: r.spec.teacher, rate: r.spec.imp.rate)
            groups[k, default: [:]][r.spec.round, default: []].append((r.spec.seed, r.metrics))
        }
        func cell(_ round: Int, _ rs: [(seed: UInt64, metrics: RoundMetrics)], stream: String) -> TicketCell {
            let sorted = rs.sorted { $0.seed < $1.seed }
            let values: [(metric: TicketMetric, values: [Double])] = TicketMetric.allCases.compactMap { m in
                let v = sorted.compactMap { m.value($0.metrics) }.filter(\.isFinite)
                return v.isEmpty ? nil : (m, v)
            }
            return TicketCell(round: round, seeds: sorted.map(\.seed), summaries: bootstrap.summaries(values, seeds: sorted.count, stream: stream),
                              values: Dictionary(uniqueKeysWithValues: values))
        }
        lines = groups.keys.compactMap { k -> TicketLine? in
            // round 0 is recorded once, under IMP without a teacher
            let denseRounds = groups[Key(variant: .imp, rewind: k.rewind, teacher: .none, rate: k.rate)]?[0] ?? []
            var byRound = groups[k] ?? [:]
            byRound[0] = denseRounds.isEmpty ? nil : denseRounds
            guard byRound.keys.contains(where: { $0 > 0 }) else { return nil }
            let cells = byRound.keys.sorted().map { cell($0, byRound[$0]!, stream: "\(study) \(k.variant.rawValue) \(k.rewind) \(k.teacher) \(k.rate) round \($0)") }
            let dense = denseRounds.isEmpty ? nil : Summary(denseRounds.map(\.metrics.accuracy))
            var line = TicketLine(variant: k.variant, rewind: k.rewind, teacher: k.teacher, rate: k.rate, cells: cells, dense: dense)
            if let d = dense {
                let floor = d.mean - (d.sd.isFinite ? d.sd : 0)
                line.matching = cells.filter { $0.round > 0 && $0.mean(.accuracy) >= floor }.map { $0.mean(.remaining) }.min()
            }
            return line
        }.sorted { ($0.variant.rawValue, $0.rewind.description, $0.teacher.description, $0.rate) < ($1.variant.rawValue, $1.rewind.description, $1.teacher.description, $1.rate) }
    }

    public var isEmpty: Bool { lines.isEmpty }

    /// IMP lines whose rounds recorded a barrier (the stability runs).
    public var stability: [TicketLine] { lines.filter { $0.variant == .imp && $0.cells.contains { $0.summaries[.barrier] != nil } } }
}
