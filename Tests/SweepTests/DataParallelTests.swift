import Cluster
import Datasets
import NeuralNet
import SeededRandom
import XCTest

/// Under mpirun with any number of ranks: one epoch trained by all ranks as a
/// data-parallel group (a shard of every batch each, gradients allreduced)
/// matches the same epoch trained by one process, within 1e-5 relative; for
/// BatchNorm networks the group normalises each batch as one (SyncBatchNorm).
final class DataParallelTests: XCTestCase {
    func testGroupTrainingMatchesOneProcess() throws {
        let world = try World.initialize()
        Compute.configure(threads: 1)
        let data = try MNISTLayout.load(split: .train).subset(1536)

        func train(group: DataParallel?) throws -> (loss: Double, weights: [Float]) {
            let m = Model(.lenet5, seed: 4)
            let settings = TrainingSettings(epochs: 1, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, batch: 256)
            let s = try XCTUnwrap(NeuralNet.train(m, on: data, settings: settings, seed: 4, group: group).first)
            var sums = [s.loss * Double(s.examples), Double(s.examples)]
            if group != nil { try world.allreduceSum(&sums) }
            return (sums[0] / sums[1], m.store.flatValues)
        }
        let single = try train(group: nil)
        let parallel = try train(group: DataParallel(rank: world.rank, size: world.size, reduce: { try world.allreduceSum($0) },
                                                            reduceStatistics: { try world.allreduceSum($0) }))
        XCTAssertEqual(parallel.loss, single.loss, accuracy: 1e-5 * abs(single.loss))
        let norm = single.weights.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        let diff = zip(single.weights, parallel.weights).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        XCTAssertLessThan(diff / norm, 1e-5, "relative L2 distance of the weights on \(world.size) ranks")
        let maxRel = zip(single.weights, parallel.weights).map { abs($0 - $1) / max(abs($0), 1e-3) }.max()!
        XCTAssertLessThan(maxRel, 1e-4)
    }

    /// resnet20, one step on a batch of 12 with crop-flip augmentation, split
    /// over the ranks: the shards meet at every BatchNorm, so the weight update
    /// and the running statistics are one process's; shards normalised alone
    /// differ. One step of random images: each further step, and Fashion-MNIST's
    /// constant background (one value repeated over whole regions), raise the
    /// odds that a summation order moves a unit across a ReLU's kink, which
    /// moved updates by ~1e-3 (measured; it happens with threads alike).
    func testGroupTrainsBatchNormNetworkAsOneProcess() throws {
        let world = try World.initialize()
        Compute.configure(threads: 1)
        var rng = RandomStream("group-bn", 0)
        let data = ImageDataset(images: (0..<12 * 1024).map { _ in rng.nextUnit() }, labels: (0..<12).map { Int32($0 % 10) }, rows: 32, cols: 32)
        let settings = TrainingSettings(epochs: 1, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, batch: 12, augment: .cropFlip)
        func train(_ group: DataParallel?) throws -> (updates: [Double], statistics: [Double]) {
            let m = Model(.resnet20, for: data, seed: 5)
            let initial = m.store.flatValues
            try NeuralNet.train(m, on: data, settings: settings, seed: 5, group: group)
            return (zip(m.store.flatValues, initial).map { Double($0 - $1) }, m.buffers.flatMap(\.values))
        }
        func relative(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / a.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        }
        let single = try train(nil)
        let parallel = try train(DataParallel(rank: world.rank, size: world.size, reduce: { try world.allreduceSum($0) },
                                              reduceStatistics: { try world.allreduceSum($0) }))
        XCTAssertLessThan(relative(single.updates, parallel.updates), 1e-5, "weight updates on \(world.size) ranks")
        XCTAssertLessThan(relative(single.statistics, parallel.statistics), 1e-5, "running statistics on \(world.size) ranks")
        guard world.size > 1 else { return }
        let apart = try train(DataParallel(rank: world.rank, size: world.size, reduce: { try world.allreduceSum($0) }, reduceStatistics: { _ in }))
        XCTAssertGreaterThan(relative(single.updates, apart.updates), 1e-2, "shards normalised alone differ")
        XCTAssertGreaterThan(relative(single.statistics, apart.statistics), 1e-3, "shards normalised alone differ")
    }
}
