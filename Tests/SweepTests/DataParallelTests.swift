import Cluster
import Datasets
import NeuralNet
import XCTest

/// Under mpirun with any number of ranks: one epoch trained by all ranks as a
/// data-parallel group (a shard of every batch each, gradients allreduced)
/// matches the same epoch trained by one process, within 1e-5 relative.
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
}
