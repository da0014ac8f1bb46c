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
/// With `Compute.threads` > 1, each thread takes a shard of every batch on its
/// own replica and the gradients are summed in shard order.
public func trainEpoch(_ model: Model, on data: ImageDataset, optimizer: SGD, batchSize: Int,
                       seed: UInt64, epoch: Int, loss: LossFunction = crossEntropyLoss,
                       group: DataParallel? = nil,
                       onBatch: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> EpochStats {
    let order = EpochOrder(count: data.count, batchSize: batchSize, seed: seed, epoch: epoch)
    let threads = Compute.threads
    let workers = [model] + model.replicas(threads - 1)
    let start = Date()
    var total = 0.0, correct = 0, seen = 0
    var lossSums = [Double](repeating: 0, count: threads), hits = [Int](repeating: 0, count: threads)
    for bi in 0..<order.batchCount {
        let batch = order.batch(bi)
        let mine = group.map { EpochOrder.shard(batch, rank: $0.rank, size: $0.size) } ?? batch
        for w in workers {
            w.store.zeroGrads()
            if w !== model { _ = w.store.values.update(fromContentsOf: model.store.values) }
        }
        lossSums.withUnsafeMutableBufferPointer { ls in hits.withUnsafeMutableBufferPointer { hs in
            parallelFor(threads) { t in
                let part = EpochOrder.shard(mine, rank: t, size: threads)
                ls[t] = 0; hs[t] = 0
                guard !part.isEmpty else { return }
                let (x, y) = data.gather(part)
                let logits = workers[t].forward(x, batch: part.count, training: true)
                let (l, dz) = loss(logits, part, y[...], batch.count)
                workers[t].backward(dz)
                ls[t] = l * Double(batch.count)
                hs[t] = countCorrect(logits, y[...])
            }
        }}
        for w in workers.dropFirst() {
            for i in 0..<model.store.count { model.store.grads[i] += w.store.grads[i] }
        }
        total += lossSums.reduce(0, +)
        correct += hits.reduce(0, +)
        seen += mine.count
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

    /// From logits already computed, [n, classes], and their labels.
    public init(logits: Tensor, labels: ArraySlice<Int32>) {
        accuracy = Double(countCorrect(logits, labels)) / Double(labels.count)
        loss = CrossEntropy.lossAndGrad(logits, labels).loss
    }
}

/// Test accuracy and mean cross-entropy over all of `data` (batches on
/// `Compute.threads` threads; inference keeps no state in the model).
public func evaluate(_ model: Model, on data: ImageDataset, batchSize: Int = 250) -> Evaluation {
    let batches = (data.count + batchSize - 1) / batchSize
    var losses = [Double](repeating: 0, count: batches), hits = [Int](repeating: 0, count: batches)
    losses.withUnsafeMutableBufferPointer { ls in hits.withUnsafeMutableBufferPointer { hs in
        parallelFor(batches) { b in
            let idx = Array(b * batchSize..<min(data.count, (b + 1) * batchSize))
            let (x, y) = data.gather(idx[...])
            let logits = model.forward(x, batch: idx.count)
            ls[b] = CrossEntropy.lossAndGrad(logits, y[...]).loss * Double(idx.count)
            hs[b] = countCorrect(logits, y[...])
        }
    }}
    return Evaluation(accuracy: Double(hits.reduce(0, +)) / Double(data.count), loss: losses.reduce(0, +) / Double(data.count))
}

/// Logits for every example of `data`, [count, classes].
public func predictLogits(_ model: Model, on data: ImageDataset, batchSize: Int = 250) -> Tensor {
    predict(model, on: data, batchSize: batchSize).logits
}

/// Logits [count, classes] and the penultimate representation [count, width]
/// for every example of `data`, batches on `Compute.threads` threads.
public func predict(_ model: Model, on data: ImageDataset, batchSize: Int = 250) -> (logits: Tensor, penultimate: Tensor) {
    let k = model.classes, d = model.penultimateWidth
    var z = [Float](repeating: 0, count: data.count * k), h = [Float](repeating: 0, count: data.count * d)
    z.withUnsafeMutableBufferPointer { zp in h.withUnsafeMutableBufferPointer { hp in
        parallelFor((data.count + batchSize - 1) / batchSize) { b in
            let lo = b * batchSize, hi = min(data.count, lo + batchSize)
            let (pen, logits) = model.forwardWithPenultimate(data.gather(Array(lo..<hi)[...]).images, batch: hi - lo)
            _ = UnsafeMutableBufferPointer(rebasing: zp[lo * k..<hi * k]).update(fromContentsOf: logits.data)
            _ = UnsafeMutableBufferPointer(rebasing: hp[lo * d..<hi * d]).update(fromContentsOf: pen.data)
        }
    }}
    return (Tensor(shape: [data.count, k], data: z), Tensor(shape: [data.count, d], data: h))
}
