import Datasets
import Foundation
import NeuralNet
import SeededRandom

/// Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle
/// et al. 2020), one round at a time so each round can be a task of its own:
/// round 0 trains the dense net from its initialisation and keeps the weights
/// at the rewind point; round k prunes the smallest in-scope weights of round
/// k - 1 so that 1 - (1 - rate)^k of them are gone, rewinds the survivors to
/// the rewind point and retrains. Every round trains `epochs` epochs of the
/// same settings; retraining takes its data order from the rewind point's epoch on.

/// Where IMP rewinds the survivors: the initialisation, the end of epoch K of
/// the dense training, or after its first N batches.
public enum Rewind: Hashable, Sendable, Codable, CustomStringConvertible {
    case initialisation
    case epoch(Int)
    case iteration(Int)

    /// "init", "epoch:K" or "iter:N".
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        func count() throws -> Int {
            guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { throw PruningError("rewind '\(text)': expected init, epoch:K or iter:N with K, N whole numbers >= 0") }
            return n
        }
        switch parts.first {
        case "init" where parts.count == 1: self = .initialisation
        case "epoch": self = .epoch(try count())
        case "iter": self = .iteration(try count())
        default: throw PruningError("rewind '\(text)': expected init, epoch:K or iter:N")
        }
    }

    public var description: String {
        switch self {
        case .initialisation: "init"
        case .epoch(let k): "epoch:\(k)"
        case .iteration(let n): "iter:\(n)"
        }
    }

    /// Batches of the dense training done at the rewind point.
    public func batch(batchesPerEpoch: Int) -> Int {
        switch self {
        case .initialisation: 0
        case .epoch(let k): k * batchesPerEpoch
        case .iteration(let n): n
        }
    }

    /// The epoch whose data order retraining starts with.
    public func firstEpoch(batchesPerEpoch: Int) -> Int { batch(batchesPerEpoch: batchesPerEpoch) / max(batchesPerEpoch, 1) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch let e as PruningError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: e.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The lottery-ticket method and Frankle & Carbin's two controls.
public enum IMPVariant: String, Codable, Hashable, Sendable, CaseIterable {
    /// Round k's mask from the magnitudes of round k - 1, survivors rewound.
    case imp
    /// IMP's round-k mask, trained from a fresh initialisation.
    case reinit = "imp-reinit"
    /// A random mask of round k's sparsity, survivors rewound.
    case random = "imp-random"
}

/// The `[imp]` settings a round depends on (the number of rounds is not one:
/// more rounds extend a sweep without changing its earlier rounds).
public struct IMPSettings: Codable, Hashable, Sendable {
    /// Fraction of the remaining in-scope entries each round prunes.
    public var rate = 0.2
    public var rewind = Rewind.initialisation
    public var scope = PruneScope.all
    /// Train two copies of each IMP round from the rewind point and measure their error barrier.
    public var stability = false

    public init(rate: Double = 0.2, rewind: Rewind = .initialisation, scope: PruneScope = .all, stability: Bool = false) {
        self.rate = rate; self.rewind = rewind; self.scope = scope; self.stability = stability
    }

    /// In-scope entries pruned after round k: round((1 - (1 - rate)^k) * prunable).
    public func prunedCount(round k: Int, prunable: Int) -> Int {
        pruneCount(1 - Foundation.pow(1 - rate, Double(k)), of: prunable)
    }

    /// The rewind point must lie within the dense training of `epochs` epochs of `batches` batches.
    public func checkRewind(epochs: Int, batchesPerEpoch: Int) throws {
        let b = rewind.batch(batchesPerEpoch: batchesPerEpoch)
        guard b <= epochs * batchesPerEpoch else {
            throw PruningError("rewind \(rewind) is past the dense training (\(epochs) epochs of \(batchesPerEpoch) batches)")
        }
    }
}

/// Trains the dense net (round 0) from its initialisation; returns the flat
/// weights at the rewind point and the epochs' statistics.
public func trainDense(_ model: Model, on train: ImageDataset, settings: TrainingSettings, seed: UInt64, imp: IMPSettings,
                       group: DataParallel? = nil, onBatch: ((BatchProgress) throws -> Void)? = nil,
                       onEpoch: ((_ epoch: Int, EpochStats) throws -> Void)? = nil) throws -> (rewind: [Float], stats: [EpochStats]) {
    let batches = EpochOrder(count: train.count, batchSize: settings.batch, seed: seed, epoch: 0).batchCount
    try imp.checkRewind(epochs: settings.epochs, batchesPerEpoch: batches)
    let point = imp.rewind.batch(batchesPerEpoch: batches)
    var rewind: [Float]? = point == 0 ? model.store.flatValues : nil
    let stats = try NeuralNet.train(model, on: train, settings: settings, seed: seed, group: group, onBatch: { p in
        if p.done == point { rewind = model.store.flatValues }
        try onBatch?(p)
    }, onEpoch: onEpoch)
    return (rewind!, stats)
}

/// Round k's masks. `imp`: the smallest magnitudes of `previous` (round k - 1,
/// its mask held, so no weight revives); `random`: uniformly random in-scope
/// entries drawn from `seed`. Both prune `prunedCount(round: k)` entries.
public func roundMasks(_ variant: IMPVariant, previous: Model, round k: Int, imp: IMPSettings, seed: UInt64) -> [[Float]] {
    var layout = MaskLayout(previous, scope: imp.scope)
    let count = imp.prunedCount(round: k, prunable: layout.prunable)
    switch variant {
    case .imp, .reinit:
        layout.prune(sortedMagnitudeKeys(previous, scope: imp.scope), count: count)
    case .random:
        let indices = layout.inScope.flatMap { layout.offsets[$0]..<layout.offsets[$0] + layout.counts[$0] }   // [prunable]: flat indices
        var rng = RandomStream("imp-random", seed, k)
        for j in rng.permutation(indices.count)[..<count] { layout.flat[indices[j]] = 0 }
    }
    return layout.masks
}

/// Where round k's training starts: `start` (the rewind weights, or a fresh
/// initialisation for the reinit control) with `masks` set.
public func roundStart(_ architecture: Architecture, for data: ImageDataset, start: [Float], masks: [[Float]]) -> Model {
    let m = Model(architecture, for: data)
    _ = m.store.values.update(fromContentsOf: start)
    applyMasks(masks, to: m)
    return m
}

/// Retrains a round from its start, `epochs` epochs with the data order from the rewind point's epoch on.
@discardableResult
public func retrain(_ model: Model, on train: ImageDataset, settings: TrainingSettings, seed: UInt64, imp: IMPSettings,
                    loss: @escaping (_ epoch: Int) -> LossFunction = { _ in crossEntropyLoss }, group: DataParallel? = nil,
                    onBatch: ((BatchProgress) throws -> Void)? = nil,
                    onEpoch: ((_ epoch: Int, EpochStats) throws -> Void)? = nil) throws -> [EpochStats] {
    let batches = EpochOrder(count: train.count, batchSize: settings.batch, seed: seed, epoch: 0).batchCount
    return try NeuralNet.train(model, on: train, settings: settings, seed: seed, firstEpoch: imp.rewind.firstEpoch(batchesPerEpoch: batches),
                               loss: loss, group: group, onBatch: onBatch, onEpoch: onEpoch)
}

/// What a round measured: the paper's numbers for one ticket.
public struct RoundMetrics: Codable, Equatable, Sendable {
    public var round: Int
    public var variant: IMPVariant
    public var rewind: String
    /// Fraction of the in-scope entries pruned, their count, and how many there are.
    public var sparsity: Double
    public var pruned: Int
    public var prunable: Int
    public var accuracy: Double
    public var loss: Double
    public var trainLoss: Double?
    /// Cosine similarity of the round's net to the trained dense net (round 0).
    public var cosine: Double
    /// K2 of the remaining weights (kurtosis of the per-tensor kurtoses of the unpruned entries), or why it is undefined.
    public var k2: Double?
    public var k2Error: String?
    public var sparsityPerTensor: [String: Double]
    /// Linear mode connectivity of two copies trained from the rewind point (with `stability`).
    public var barrier: Double?
    public var pathErrors: [Double]?

    /// Fraction of the in-scope entries left.
    public var remaining: Double { 1 - sparsity }

    enum CodingKeys: String, CodingKey {
        case round, variant, rewind, sparsity, pruned, prunable, accuracy, loss, cosine, k2, barrier
        case trainLoss = "train_loss", k2Error = "k2_error", sparsityPerTensor = "sparsity_per_tensor", pathErrors = "path_errors"
    }

    /// Measures `model` (a round's trained net) against `dense` (round 0's) on `test`.
    public init(round: Int, variant: IMPVariant, imp: IMPSettings, model: Model, dense: Model, test: ImageDataset, trainLoss: Double?) {
        self.round = round; self.variant = variant; rewind = imp.rewind.description; self.trainLoss = trainLoss
        let layout = MaskLayout(model, scope: imp.scope)
        prunable = layout.prunable
        pruned = layout.inScope.reduce(0) { n, t in n + (model.parameters[t].mask?.filter { $0 == 0 }.count ?? 0) }
        sparsity = Double(pruned) / Double(max(prunable, 1))
        let e = evaluate(model, on: test)
        (accuracy, loss) = (e.accuracy, e.loss)
        cosine = cosineSimilarity(dense, model)
        do { k2 = try remainingK2(model, scope: imp.scope) } catch { k2Error = "\(error)" }
        sparsityPerTensor = Pruning.sparsity(model).byName
    }
}

/// K2 over the entries a mask keeps: the kurtosis of each in-scope tensor's unpruned entries, then their kurtosis.
public func remainingK2(_ model: Model, scope: PruneScope = .all) throws -> Double {
    let kurtoses = try model.parameters.filter(scope.contains).map { p in
        let kept = p.mask.map { m in p.value.indices.filter { m[$0] != 0 }.map { p.value[$0] } } ?? Array(p.value)
        guard let k = kurtosis(kept) else { throw PruningError("the remaining entries of '\(p.name)' are constant (or none): kurtosis undefined") }
        return k
    }
    return try kurtosisOfKurtoses(kurtoses)
}
