import Datasets
import Foundation

/// The loss of a batch: logits, the dataset indices of its rows, their labels,
/// and the normalizer (the global batch size) -> (loss, dLoss/dLogits).
public typealias LossFunction = (_ logits: Tensor, _ indices: ArraySlice<Int>, _ labels: ArraySlice<Int32>, _ normalizer: Int) -> (Double, Tensor)

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
/// its shard and `reduce` sums the flat gradient buffer across the group.
public struct DataParallel {
    public let rank: Int
    public let size: Int
    public let reduce: (UnsafeMutableBufferPointer<Float>) throws -> Void
    public init(rank: Int, size: Int, reduce: @escaping (UnsafeMutableBufferPointer<Float>) throws -> Void) {
        self.rank = rank; self.size = size; self.reduce = reduce
    }
}

/// One epoch of minibatch SGD over `data`, in the order drawn from (seed, epoch).
public func trainEpoch(_ model: Model, on data: ImageDataset, optimizer: SGD, batchSize: Int,
                       seed: UInt64, epoch: Int, loss: LossFunction = crossEntropyLoss,
                       group: DataParallel? = nil,
                       onBatch: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> EpochStats {
    let order = EpochOrder(count: data.count, batchSize: batchSize, seed: seed, epoch: epoch)
    let start = Date()
    var total = 0.0, correct = 0, seen = 0
    for bi in 0..<order.batchCount {
        let batch = order.batch(bi)
        let mine = group.map { EpochOrder.shard(batch, rank: $0.rank, size: $0.size) } ?? batch
        model.store.zeroGrads()
        if !mine.isEmpty {
            let (x, y) = data.gather(mine)
            let logits = model.forward(x, batch: mine.count, training: true)
            let (l, dz) = loss(logits, mine, y[...], batch.count)
            model.backward(dz)
            total += l * Double(batch.count)
            correct += countCorrect(logits, y[...])
            seen += mine.count
        }
        if let group { try group.reduce(model.store.grads) }
        optimizer.step(model.store)
        onBatch?(bi + 1, order.batchCount)
    }
    return EpochStats(loss: total / Double(max(seen, 1)), accuracy: Double(correct) / Double(max(seen, 1)),
                      examples: seen, seconds: Date().timeIntervalSince(start))
}

public func countCorrect(_ logits: Tensor, _ labels: ArraySlice<Int32>) -> Int {
    let k = logits.shape[1]
    var n = 0
    logits.data.withUnsafeBufferPointer { z in
        for (r, y) in labels.enumerated() where argmax(z.baseAddress! + r * k, k) == Int(y) { n += 1 }
    }
    return n
}

@inline(__always) public func argmax(_ p: UnsafePointer<Float>, _ k: Int) -> Int {
    var best = 0
    for j in 1..<k where p[j] > p[best] { best = j }
    return best
}

public struct Evaluation: Sendable, Codable {
    public var accuracy: Double
    public var loss: Double
    public init(accuracy: Double, loss: Double) { self.accuracy = accuracy; self.loss = loss }
}

/// Test accuracy and mean cross-entropy over all of `data`.
public func evaluate(_ model: Model, on data: ImageDataset, batchSize: Int = 1000) -> Evaluation {
    var correct = 0, loss = 0.0
    var start = 0
    while start < data.count {
        let idx = Array(start..<min(data.count, start + batchSize))
        let (x, y) = data.gather(idx[...])
        let logits = model.forward(x, batch: idx.count)
        loss += CrossEntropy.lossAndGrad(logits, y[...]).loss * Double(idx.count)
        correct += countCorrect(logits, y[...])
        start += batchSize
    }
    return Evaluation(accuracy: Double(correct) / Double(data.count), loss: loss / Double(data.count))
}

/// Logits for every example of `data`, [count, classes].
public func predictLogits(_ model: Model, on data: ImageDataset, batchSize: Int = 1000) -> Tensor {
    var out = [Float]()
    out.reserveCapacity(data.count * model.classes)
    var start = 0
    while start < data.count {
        let idx = Array(start..<min(data.count, start + batchSize))
        out += model.forward(data.gather(idx[...]).images, batch: idx.count).data
        start += batchSize
    }
    return Tensor(shape: [data.count, model.classes], data: out)
}
