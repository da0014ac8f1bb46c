import Datasets
import NeuralNet

/// The paper's step, shared by `prunesweep prune` and every sweep trial:
/// prune the parent, measure the pruned net, then fine-tune with the mask held
/// (`fineTune`) and measure again.
public struct PrunedNet {
    public let ratio: Double
    /// One 0/1 mask per parameter tensor of the parent.
    public let masks: [[Float]]
    /// The pruned copy of the parent (the parent is untouched).
    public let model: Model
    public let cosine: Double
    /// Logits [n, K] and penultimate activations [n, d] on the test set, and what they score.
    public let outputs: (logits: Tensor, penultimate: Tensor)
    public let evaluation: Evaluation

    public init(parent: Model, ratio: Double, method: PruneMethod, seed: UInt64, scope: PruneScope = .all, test: ImageDataset) {
        self.ratio = ratio
        masks = pruneMasks(parent, ratio: ratio, method: method, seed: seed, scope: scope)
        model = pruned(parent, masks: masks)
        cosine = cosineSimilarity(parent, model)
        outputs = predict(model, on: test)
        evaluation = Evaluation(logits: outputs.logits, labels: test.labels[...])
    }

    /// Trains a copy of the pruned net with its mask held, or `student` (a fresh
    /// net distilled from the pruned one), and measures it on `test`.
    public func fineTune(student: Model? = nil, on train: ImageDataset, test: ImageDataset, settings: TrainingSettings, seed: UInt64,
                         loss: (_ epoch: Int) -> LossFunction = { _ in crossEntropyLoss }, group: DataParallel? = nil,
                         onBatch: ((BatchProgress) throws -> Void)? = nil,
                         onEpoch: ((_ epoch: Int, EpochStats) throws -> Void)? = nil) throws -> FineTuned {
        let m = student ?? model.copy()
        let stats = try NeuralNet.train(m, on: train, settings: settings, seed: seed, loss: loss, group: group, onBatch: onBatch, onEpoch: onEpoch)
        let outputs = predict(m, on: test)
        return FineTuned(model: m, stats: stats, outputs: outputs, evaluation: Evaluation(logits: outputs.logits, labels: test.labels[...]),
                         sparsity: sparsity(m))
    }
}

public struct FineTuned {
    public let model: Model
    public let stats: [EpochStats]
    public let outputs: (logits: Tensor, penultimate: Tensor)
    public let evaluation: Evaluation
    public let sparsity: Sparsity
}
