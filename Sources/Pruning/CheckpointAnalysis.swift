import CKernels
import Foundation
import Safetensors

/// Which tensors of a checkpoint are weights to analyse and prune: by default
/// the notebook's, every floating-point tensor whose name ends in `.weight` or
/// `.bias`; `include` globs replace that rule, `exclude` globs remove names.
public struct CheckpointScope: Codable, Sendable {
    public var include: [String]
    public var exclude: [String]
    public init(include: [String] = [], exclude: [String] = []) { self.include = include; self.exclude = exclude }

    static let floating: Set<DType> = [.F32, .F64, .F16, .BF16]

    /// Why `t` is out of scope, or nil.
    func reason(_ t: Checkpoint.Tensor) -> String? {
        guard Self.floating.contains(t.dtype) else {
            return t.dtype.rawValue.hasPrefix("F") ? "dtype \(t.dtype.rawValue) is not read (F32, F64, F16, BF16 are)" : "integer dtype \(t.dtype.rawValue)"
        }
        if let g = exclude.first(where: { glob($0, t.name) }) { return "excluded by --exclude \(g)" }
        if include.isEmpty {
            guard t.name.hasSuffix(".weight") || t.name.hasSuffix(".bias") else { return "name does not end in .weight or .bias" }
        } else if !include.contains(where: { glob($0, t.name) }) {
            return "matches no --include glob"
        }
        guard t.count > 0 else { return "empty" }
        return nil
    }

    private func glob(_ pattern: String, _ name: String) -> Bool { fnmatch(pattern, name, 0) == 0 }
}

/// Where a global-L1 prune of a checkpoint cuts: every in-scope entry whose
/// magnitude key is below `key` goes, and of those equal to it, the first
/// `ties[tensor]` of each tensor (by index).
public struct PruneCut: Sendable {
    public var ratio: Double
    /// Entries pruned: round(ratio x in-scope entries).
    public var count: Int
    public var width: Int
    /// nil when nothing is pruned.
    public var key: UInt64?
    /// Checkpoint tensor index -> ties to prune at the key (in-scope tensors only).
    public var ties: [Int: Int]
}

/// What the analysis says of one tensor.
public struct TensorFacts: Codable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var count: Int
    public var inScope: Bool
    /// Pearson kurtosis (absent out of scope, or constant).
    public var kurtosis: Double?
    /// Why the tensor is out of scope or left out of K2.
    public var note: String?
    public var sparsityOptimal: Double?
    public var sparsitySafe: Double?
}

/// The paper's data-free analysis of any safetensors checkpoint, streamed: the
/// global-L1 cosine curve, the utopia-optimal ratio, per-tensor kurtosis, K2
/// and the safe ratio, with the same rules as `RatioAnalysis` and numbers equal
/// to a float64 sort-based computation. No whole-model copy, no sort: a
/// histogram over the magnitudes' bits, refined where the wanted ranks fall.
public struct CheckpointAnalysis: Codable, Sendable {
    public var curve: [CurvePoint]
    public var optimal: Double
    public var cosineOptimal: Double
    public var safe: Double?
    public var cosineSafe: Double?
    public var safeLog: SafeLog?
    public var k2: Double?
    public var problem: String?
    public var parametersInScope: Int
    public var parametersOutOfScope: Int
    public var tensors: [TensorFacts]

    /// Where `cutAt` prunes (absent unless asked for).
    public var cut: PruneCut?

    enum CodingKeys: String, CodingKey {
        case curve, optimal, cosineOptimal, safe, cosineSafe, safeLog, k2, problem, parametersInScope, parametersOutOfScope, tensors
    }

    /// `cutAt`: also find where that ratio prunes, for `CheckpointPruning`.
    public static func run(_ checkpoint: Checkpoint, scope: CheckpointScope = .init(), group: RankGroup = OneRank(),
                           cutAt: Ratio? = nil) throws -> CheckpointAnalysis {
        let reader = try CheckpointReader(checkpoint)
        var facts = checkpoint.tensors.map { t in
            TensorFacts(name: t.name, dtype: t.dtype, shape: t.shape, count: t.count, inScope: scope.reason(t) == nil, note: scope.reason(t))
        }
        var inScope = facts.indices.filter { facts[$0].inScope }
        guard !inScope.isEmpty else { throw PruningError("no tensor is in scope (floating point, named *.weight or *.bias, or as --include / --exclude say)") }

        // One pass: what the curve needs, and each tensor's [count, non-finite, kurtosis, defined];
        // tensors with NaN or infinities leave the scope.
        let (magnitudes, stats) = try firstPass(reader: reader, inScope: &inScope, facts: &facts, group: group)
        var kurtoses: [Double] = []
        for t in inScope {
            if stats[4 * t + 3] > 0 {
                facts[t].kurtosis = stats[4 * t + 2]
                kurtoses.append(stats[4 * t + 2])
            } else {
                facts[t].note = "constant (zero variance): kurtosis undefined, left out of K2"
            }
        }
        let n = inScope.reduce(0) { $0 + facts[$1].count }
        let total = magnitudes.total

        // The curve: the k smallest squares at every ratio.
        let ks = curveRatios.map { pruneCount($0, of: n) }
        let found = try magnitudes.thresholds(ks.filter { $0 > 0 })
        func cosine(_ pruned: Double) -> Double { total > 0 && total - pruned > 0 ? ((total - pruned) / total).squareRoot() : 0 }
        var curve: [CurvePoint] = [], j = 0
        for (r, k) in zip(curveRatios, ks) {
            if k == 0 { curve.append(CurvePoint(ratio: r, cosine: total > 0 ? 1 : 0)); continue }
            curve.append(CurvePoint(ratio: r, cosine: k == n ? 0 : cosine(found[j].squares)))
            j += 1
        }
        let optimal = optimalRatio(curve)
        var a = CheckpointAnalysis(curve: curve, optimal: optimal, cosineOptimal: curve.first { $0.ratio == optimal }?.cosine ?? 0,
                                   parametersInScope: n, parametersOutOfScope: facts.filter { !$0.inScope }.reduce(0) { $0 + $1.count },
                                   tensors: facts)
        do {
            let k2 = try kurtosisOfKurtoses(kurtoses)
            a.k2 = k2
            (a.safe, a.safeLog) = try safeRatio(optimal: optimal, k2: k2)
        } catch { a.problem = "\(error)" }

        // Sparsity per tensor at the optimal and safe ratios (and the cut asked for): ties at a
        // threshold go to earlier tensors first, then lower indices.
        let cutRatio = try cutAt.map { r in
            do { return try a.resolve(r) } catch { throw PruningError("--ratio \(r): \(error)") }
        }
        let ratios = [optimal] + (a.safe.map { [$0] } ?? []) + (cutRatio.map { [$0] } ?? [])
        let targets = ratios.map { pruneCount($0, of: n) }
        let cuts = try targets.map { k in k == 0 ? nil : try magnitudes.thresholds([k])[0] }
        if a.safe != nil { a.cosineSafe = targets[1] == n ? 0 : cuts[1].map { cosine($0.squares) } ?? 1 }
        let pruned = try prunedPerTensor(cuts, magnitudes.counts(cuts.map { $0?.key ?? 0 }))
        for (i, t) in inScope.enumerated() {
            facts[t].sparsityOptimal = Double(pruned[0][i].below + pruned[0][i].ties) / Double(max(1, facts[t].count))
            if a.safe != nil { facts[t].sparsitySafe = Double(pruned[1][i].below + pruned[1][i].ties) / Double(max(1, facts[t].count)) }
        }
        a.tensors = facts
        if let r = cutRatio, let last = pruned.last {
            a.cut = PruneCut(ratio: r, count: targets.last ?? 0, width: magnitudes.width, key: cuts.last??.key,
                             ties: Dictionary(uniqueKeysWithValues: zip(inScope, last.map(\.ties))))
        }
        return a
    }

    /// The ratio a `Ratio` stands for on this checkpoint.
    public func resolve(_ r: Ratio) throws -> Double { try r.resolve(optimal: optimal, safe: safe, problem: problem) }

    /// The first pass: the 16-bit path when every tensor in scope is BF16 or F16, else
    /// first-level bins and power sums (again without the tensors found to hold NaN).
    static func firstPass(reader: CheckpointReader, inScope: inout [Int], facts: inout [TensorFacts], group: RankGroup) throws -> (Magnitudes, [Double]) {
        let all = reader.checkpoint.tensors
        while true {
            let data = ScopedData(reader: reader, tensors: inScope, group: group)
            let (magnitudes, stats): (Magnitudes, [Double])
            if inScope.allSatisfy({ all[$0].dtype == .BF16 || all[$0].dtype == .F16 }) {
                (magnitudes, stats) = try HalfMagnitudes.read(data, group: group)
            } else {
                let (bins, s) = try binsAndMoments(data, group: group)
                (magnitudes, stats) = (StreamedMagnitudes(data: data, bins: bins, group: group), s)
            }
            let bad = inScope.filter { stats[4 * $0 + 1] > 0 }
            for t in bad { facts[t].inScope = false; facts[t].note = "holds \(Int(stats[4 * t + 1])) NaN or infinite values" }
            inScope.removeAll { bad.contains($0) }
            guard !inScope.isEmpty else { throw PruningError("no tensor in scope is finite") }
            if bad.isEmpty || magnitudes is HalfMagnitudes { return (magnitudes, stats) }
        }
    }

    /// First-level bins of every in-scope tensor, and per checkpoint tensor [count, non-finite, kurtosis, defined]:
    /// kurtosis from power sums about the tensor's first value (one pass, no cancellation to speak of).
    static func binsAndMoments(_ data: ScopedData, group: RankGroup) throws -> (MagnitudeBins, [Double]) {
        var stats = [Double](repeating: 0, count: 4 * data.reader.checkpoint.tensors.count)
        var local = [ps_bin](repeating: ps_bin(), count: 1 << 15)
        try local.withUnsafeMutableBufferPointer { bins in
            for t in data.mine {
                var powers = [Double](repeating: 0, count: 4), bad: Int64 = 0
                var first: Double?
                try data.visit(t) { chunk in
                    switch chunk {
                    case .f32(let x, let n):
                        if first == nil { first = Double(x[0]) }
                        bad += ps_level1_f32(x, Int64(n), bins.baseAddress, first ?? 0, &powers)
                    case .f64(let x, let n):
                        if first == nil { first = x[0] }
                        bad += ps_level1_f64(x, Int64(n), bins.baseAddress, first ?? 0, &powers)
                    }
                }
                // a NaN or infinite first value spoils the sums, and `bad` counts it
                let n = Double(data.reader.checkpoint.tensors[t].count - Int(bad)), mu = powers[0] / n
                let (s2, s3, s4) = (powers[1] / n, powers[2] / n, powers[3] / n)
                let m2 = s2 - mu * mu, m4 = s4 - 4 * mu * s3 + 6 * mu * mu * s2 - 3 * mu * mu * mu * mu
                stats.replaceSubrange(4 * t..<4 * t + 4, with: [n, Double(bad), m2 > 0 ? m4 / (m2 * m2) : 0, m2 > 0 ? 1 : 0])
            }
        }
        try group.allreduceSum(&stats)
        return (try local.withUnsafeBufferPointer { try MagnitudeBins($0).reduced(group) }, stats)
    }

    /// Entries pruned per in-scope tensor for each cut, from the counts below and at
    /// its key: those below, and of the ties, the first ones in checkpoint order.
    static func prunedPerTensor(_ cuts: [Threshold?], _ counts: [[(below: Int, at: Int)]]) -> [[(below: Int, ties: Int)]] {
        zip(cuts, counts).map { cut, counts in
            guard let cut else { return counts.map { _ in (0, 0) } }
            var ties = cut.atKey
            return counts.map { c in
                let take = min(ties, c.at)
                ties -= take
                return (c.below, take)
            }
        }
    }
}

/// summary.json of `prunesweep analyse`: what `prunesweep report` shows beside sweep results.
public struct CheckpointSummary: Codable, Sendable {
    public struct File: Codable, Sendable {
        public var path: String, bytes: Int, crc32: String
        public init(path: String, bytes: Int, crc32: String) { self.path = path; self.bytes = bytes; self.crc32 = crc32 }
    }
    public struct Excluded: Codable, Sendable { public var name: String, inScope: Bool, reason: String }
    public var checkpoint: String
    public var index: String?
    public var files: [File]
    public var scope: CheckpointScope
    public var optimal: Double
    public var safe: Double?
    public var safeLog: SafeLog?
    public var k2: Double?
    public var k2Problem: String?
    /// Mean of the per-tensor kurtoses that are defined (the paper's per-architecture figure).
    public var meanKurtosis: Double?
    public var cosineOptimal: Double
    public var cosineSafe: Double?
    public var parametersInScope: Int
    public var parametersOutOfScope: Int
    public var excluded: [Excluded]
    public var ranks: Int

    public init(_ path: String, _ a: CheckpointAnalysis, index: String?, files: [File], scope: CheckpointScope, ranks: Int) {
        let kurtoses = a.tensors.compactMap(\.kurtosis)
        checkpoint = path; self.index = index; self.files = files; self.scope = scope
        optimal = a.optimal; safe = a.safe; safeLog = a.safeLog; k2 = a.k2; k2Problem = a.problem
        meanKurtosis = kurtoses.isEmpty ? nil : kurtoses.reduce(0, +) / Double(kurtoses.count)
        cosineOptimal = a.cosineOptimal; cosineSafe = a.cosineSafe
        parametersInScope = a.parametersInScope; parametersOutOfScope = a.parametersOutOfScope
        excluded = a.tensors.filter { $0.note != nil }.map { Excluded(name: $0.name, inScope: $0.inScope, reason: $0.note ?? "") }
        self.ranks = ranks
    }
}
