import Datasets
import NeuralNet

/// Fine-tunes `model` in place for `epochs` epochs with its masks held: SGD
/// zeroes the masked gradients and re-zeroes the masked values every step, so
/// pruned entries stay exactly zero. The paper's protocol is one epoch of plain
/// cross-entropy; a KD loss plugs in through `loss`.
@discardableResult
public func fineTune(_ model: Model, on data: ImageDataset, epochs: Int = 1, batchSize: Int = 64,
                     learningRate: Float = 0.05, momentum: Float = 0.9, weightDecay: Float = 0,
                     seed: UInt64, firstEpoch: Int = 0, loss: LossFunction = crossEntropyLoss,
                     group: DataParallel? = nil,
                     onBatch: ((_ epoch: Int, _ done: Int, _ total: Int) -> Void)? = nil) throws -> [EpochStats] {
    let sgd = SGD(store: model.store, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    return try (firstEpoch..<firstEpoch + epochs).map { epoch in
        try trainEpoch(model, on: data, optimizer: sgd, batchSize: batchSize, seed: seed, epoch: epoch,
                       loss: loss, group: group) { done, total in onBatch?(epoch, done, total) }
    }
}
