import Datasets
import NeuralNet

/// Linear mode connectivity (Frankle et al. 2020): test error along the
/// straight line (1 - alpha) * A + alpha * B, and the error barrier, the
/// highest error on the line minus the mean of the two ends (0 when the two
/// nets are linearly connected).
///
/// A network with BatchNorm gets its running statistics recomputed on the
/// training data at every alpha (the interpolated statistics of A and B
/// describe neither net), as Frankle et al. do.
public struct LinearPath: Codable, Sendable, Equatable {
    public var alphas: [Double]
    public var errors: [Double]
    public var losses: [Double]

    public var barrier: Double { (errors.max() ?? 0) - ((errors.first ?? 0) + (errors.last ?? 0)) / 2 }

    /// `points` evenly spaced alphas from 0 to 1 (at least 2).
    public init(_ a: Model, _ b: Model, test: ImageDataset, train: ImageDataset? = nil, points: Int = 11) throws {
        guard a.architecture == b.architecture, a.classes == b.classes, a.imageSide == b.imageSide, a.inputChannels == b.inputChannels else {
            throw PruningError("the two models differ: \(a.architecture) on \(a.imageSide)x\(a.imageSide) with \(a.classes) classes, and \(b.architecture) on \(b.imageSide)x\(b.imageSide) with \(b.classes)")
        }
        guard points >= 2 else { throw PruningError("a linear path needs at least 2 points, got \(points)") }
        alphas = (0..<points).map { Double($0) / Double(points - 1) }
        let x = a.store.flatValues, y = b.store.flatValues
        let mid = Model(a.architecture, inputSide: a.imageSide, channels: a.inputChannels, classes: a.classes)
        if mid.hasBatchNorm && train == nil { throw PruningError("\(a.architecture) has BatchNorm: the path needs training data to recompute its statistics") }
        var errors: [Double] = [], losses: [Double] = []
        for alpha in alphas {
            let t = Float(alpha)
            for i in 0..<x.count { mid.store.values[i] = (1 - t) * x[i] + t * y[i] }
            if mid.hasBatchNorm, let train { mid.recomputeBatchNormStatistics(on: train) }
            let e = evaluate(mid, on: test)
            errors.append(1 - e.accuracy)
            losses.append(e.loss)
        }
        self.errors = errors; self.losses = losses
    }
}
