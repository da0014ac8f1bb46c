import Datasets
import NeuralNet

/// Iterative magnitude pruning with rewinding (Frankle et al.): train, prune a
/// fraction of the *remaining* in-scope weights by global magnitude, rewind the
/// survivors to their values at `rewindEpoch` (0 = initialisation), retrain;
/// repeat for `rounds` rounds.
public struct IMPConfig: Codable, Sendable {
    public var rounds: Int
    public var fractionPerRound: Double = 0.2
    public var rewindEpoch: Int = 0
    /// The dense training (round 0) and each retraining.
    public var training: TrainingSettings
    public var seed: UInt64 = 0
    public var scope: PruneScope = .all

    public init(rounds: Int, training: TrainingSettings, fractionPerRound: Double = 0.2, rewindEpoch: Int = 0, seed: UInt64 = 0) {
        self.rounds = rounds; self.training = training; self.fractionPerRound = fractionPerRound
        self.rewindEpoch = rewindEpoch; self.seed = seed
    }

    public func validate() throws {
        guard rounds >= 0 else { throw PruningError("IMP rounds must be >= 0, got \(rounds)") }
        guard training.epochs >= 1 else { throw PruningError("IMP epochs per round must be >= 1, got \(training.epochs)") }
        guard fractionPerRound > 0, fractionPerRound < 1 else { throw PruningError("IMP fraction per round must be in (0, 1), got \(fractionPerRound)") }
        guard (0...training.epochs).contains(rewindEpoch) else { throw PruningError("IMP rewind epoch must be in 0...\(training.epochs) (the dense training), got \(rewindEpoch)") }
    }
}

public struct IMPRound: Codable, Sendable {
    /// 0 is the dense network.
    public var round: Int
    /// Fraction of in-scope entries pruned after this round.
    public var sparsity: Double
    public var pruned: Int
    public var accuracy: Double
    public var loss: Double
    /// One mask per parameter tensor (kept in memory, not in JSON: save them as safetensors).
    public var masks: [[Float]] = []
    enum CodingKeys: String, CodingKey { case round, sparsity, pruned, accuracy, loss }
}

/// Runs IMP on `model` (freshly initialised; it ends as the last round's net).
public func iterativeMagnitudePruning(_ model: Model, train: ImageDataset, test: ImageDataset, config c: IMPConfig,
                                      group: DataParallel? = nil, onRound: ((IMPRound) -> Void)? = nil) throws -> [IMPRound] {
    try c.validate()
    try c.scope.check(model)
    var rewind: [Float]? = c.rewindEpoch == 0 ? model.store.flatValues : nil
    /// Dense training runs epochs 0..<E; retraining after a rewind to epoch k
    /// continues the data order from epoch k (k..<k+E), as in Frankle et al.
    func trainRound(from first: Int) throws {
        try NeuralNet.train(model, on: train, settings: c.training, seed: c.seed, firstEpoch: first, group: group, onEpoch: { epoch, _ in
            if rewind == nil && epoch + 1 == c.rewindEpoch { rewind = model.store.flatValues }
        })
    }
    let prunable = model.parameters.filter(c.scope.contains).reduce(0) { $0 + $1.count }
    var rounds: [IMPRound] = []
    func record(_ r: Int, _ masks: [[Float]]) {
        let pruned = zip(model.parameters, masks).filter { c.scope.contains($0.0) }.reduce(0) { $0 + $1.1.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
        let e = evaluate(model, on: test)
        let round = IMPRound(round: r, sparsity: Double(pruned) / Double(max(1, prunable)), pruned: pruned,
                             accuracy: e.accuracy, loss: e.loss, masks: masks)
        rounds.append(round)
        onRound?(round)
    }
    try trainRound(from: 0)
    record(0, model.parameters.map { $0.mask ?? [Float](repeating: 1, count: $0.count) })
    var pruned = rounds[0].pruned
    for r in 0..<c.rounds {
        let masks = globalL1Masks(model, pruning: pruned + pruneCount(c.fractionPerRound, of: prunable - pruned), scope: c.scope)
        for p in model.parameters { p.setMask(nil) }
        _ = model.store.values.update(fromContentsOf: rewind!)
        applyMasks(masks, to: model)
        try trainRound(from: c.rewindEpoch)
        record(r + 1, masks)
        pruned = rounds.last!.pruned
    }
    return rounds
}
