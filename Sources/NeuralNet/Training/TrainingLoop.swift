import Datasets
import Foundation

/// The loss of a batch: logits, the dataset indices of its rows, their labels,
/// and the normalizer (the global batch size) -> (loss, dLoss/dLogits).
public typealias LossFunction = @Sendable (_ logits: Tensor, _ indices: ArraySlice<Int>, _ labels: ArraySlice<Int32>, _ normalizer: Int) -> (Double, Tensor)

public let crossEntropyLoss: LossFunction = { logits, _, labels, n in
    CrossEntropy.lossAndGrad(logits, labels, normalizer: n)
}

public struct EpochStats: Sendable {
    public var loss: Double        // mean over the examples this process saw
    public var accuracy: Double    // training accuracy on those examples
    public var examples: Int
    public var seconds: Double
    public var imagesPerSecond: Double { Double(examples) / max(seconds, 1e-9) }
}

/// The members of a data-parallel group see the same batches; each computes
/// its shard, `reduce` sums the flat gradient buffer across the group, and
/// `reduceStatistics` sums BatchNorm's per-channel statistics (SyncBatchNorm).
public struct DataParallel {
    public let rank: Int
    public let size: Int
    public let reduce: (UnsafeMutableBufferPointer<Float>) throws -> Void
    public let reduceStatistics: (UnsafeMutableBufferPointer<Double>) throws -> Void
    public init(rank: Int, size: Int, reduce: @escaping (UnsafeMutableBufferPointer<Float>) throws -> Void,
                reduceStatistics: @escaping (UnsafeMutableBufferPointer<Double>) throws -> Void) {
        self.rank = rank; self.size = size; self.reduce = reduce; self.reduceStatistics = reduceStatistics
    }
}

/// Where a run is: batch `batch` (1-based, done) of `batches` in epoch `epoch` (0-based, of the run) of `epochs`.
public struct BatchProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batches: Int
    /// Batches done in the whole run.
    public var done: Int { epoch * batches + batch }
    public var total: Int { epochs * batches }
}

/// The one training loop: `settings.epochs` epochs of minibatch SGD with the
/// settings' schedule, every model prunesweep trains goes through it (parents,
/// teachers, fine-tuning, distillation students, IMP rounds). Epoch e of the
/// run draws its data order from (seed, firstEpoch + e) and its loss from
/// `loss(firstEpoch + e)`. `masks` (one 0/1 mask per parameter) are set
/// first and held: masked entries stay exactly zero. `onBatch` and `onEpoch`
/// may throw to stop the run (a diverging loss, a stop signal).
@discardableResult
public func train(_ model: Model, on data: ImageDataset, settings: TrainingSettings, seed: UInt64, firstEpoch: Int = 0,
                  loss: (_ epoch: Int) -> LossFunction = { _ in crossEntropyLoss }, masks: [[Float]]? = nil,
                  group: DataParallel? = nil,
                  onBatch: ((BatchProgress) throws -> Void)? = nil,
                  onEpoch: ((_ epoch: Int, EpochStats) throws -> Void)? = nil) throws -> [EpochStats] {
    if let masks {
        precondition(masks.count == model.parameters.count, "\(masks.count) masks for \(model.parameters.count) tensors")
        for (p, m) in zip(model.parameters, masks) { p.setMask(m) }
    }
    let sgd = SGD(store: model.store, learningRate: Float(settings.lr), momentum: Float(settings.momentum),
                  nesterov: settings.nesterov, weightDecay: Float(settings.weightDecay))
    return try (0..<settings.epochs).map { e in
        let epoch = firstEpoch + e
        let stats = try trainEpoch(model, on: data, optimizer: sgd, batchSize: settings.batch, seed: seed, epoch: epoch,
                                   loss: loss(epoch), augmentation: settings.augment, group: group,
                                   learningRate: { settings.learningRate(epoch: e, batch: $0, batches: $1) }) { batch, batches in
            try onBatch?(BatchProgress(epoch: e, epochs: settings.epochs, batch: batch, batches: batches))
        }
        try onEpoch?(epoch, stats)
        return stats
    }
}

/// One epoch of minibatch SGD over `data`, in the order drawn from (seed, epoch),
/// the rate of each batch from `learningRate(batch, batches)`.
/// With `Compute.threads` > 1, each thread takes a shard of every batch on its
/// own replica and the gradients are summed in shard order.
func trainEpoch(_ model: Model, on data: ImageDataset, optimizer: SGD, batchSize: Int,
                seed: UInt64, epoch: Int, loss: @escaping LossFunction = crossEntropyLoss, augmentation: Augmentation = .none,
                group: DataParallel? = nil, learningRate: ((_ batch: Int, _ batches: Int) -> Float)? = nil,
                onBatch: ((_ done: Int, _ total: Int) throws -> Void)? = nil) throws -> EpochStats {
    let order = EpochOrder(count: data.count, batchSize: batchSize, seed: seed, epoch: epoch)
    let threads = Compute.threads
    let workers = [model] + model.replicas(threads - 1)
    // BatchNorm normalises over the whole batch: its shards meet at every layer
    let sync = model.hasBatchNorm && (threads > 1 || group != nil) ? BatchSync(shards: threads, groupSum: group?.reduceStatistics) : nil
    for (t, w) in workers.enumerated() { w.synchronize(sync, shard: t) }
    defer { for w in workers { w.synchronize(nil, shard: 0) } }
    let runShards: (Int, @escaping (Int) -> Void) -> Void = sync == nil ? { parallelFor($0, $1) } : { runConcurrently($0, $1) }
    let start = Date()
    var total = 0.0, correct = 0, seen = 0
    var lossSums = [Double](repeating: 0, count: threads), hits = [Int](repeating: 0, count: threads)
    for bi in 0..<order.batchCount {
        let batch = order.batch(bi)
        if let learningRate { optimizer.learningRate = learningRate(bi, order.batchCount) }
        let mine = group.map { EpochOrder.shard(batch, rank: $0.rank, size: $0.size) } ?? batch
        for w in workers {
            w.store.zeroGrads()
            if w !== model { _ = w.store.values.update(fromContentsOf: model.store.values) }
        }
        lossSums.withUnsafeMutableBufferPointer { ls in hits.withUnsafeMutableBufferPointer { hs in
            let (ls, hs) = (ls, hs)   // the shards outlive no call: runShards joins them
            runShards(threads) { t in
                let part = EpochOrder.shard(mine, rank: t, size: threads)
                ls[t] = 0; hs[t] = 0
                guard sync != nil || !part.isEmpty else { return }   // an empty shard still meets the others
                let (x, y) = data.gather(part, augmentation: augmentation, seed: seed, epoch: epoch)
                let logits = workers[t].forward(x, batch: part.count, training: true)
                let (l, dz) = loss(logits, part, y[...], batch.count)
                workers[t].backward(dz)
                ls[t] = l * Double(batch.count)
                hs[t] = countCorrect(logits, y[...])
            }
        }}
        let sum = model.store.grads.baseAddress!
        for w in workers.dropFirst() {
            let part = w.store.grads.baseAddress!
            for i in 0..<model.store.count { sum[i] += part[i] }
        }
        total += lossSums.reduce(0, +)
        correct += hits.reduce(0, +)
        seen += mine.count
        if let error = sync?.error { throw error }
        if let group { try group.reduce(model.store.grads) }
        optimizer.step(model.store)
        try onBatch?(bi + 1, order.batchCount)
    }
    return EpochStats(loss: total / Double(max(seen, 1)), accuracy: Double(correct) / Double(max(seen, 1)),
                      examples: seen, seconds: Date().timeIntervalSince(start))
}

