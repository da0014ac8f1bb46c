import Datasets

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
