import Datasets
import Foundation
@testable import NeuralNet
import Safetensors
import SeededRandom
import XCTest

/// The papers' BatchNorm networks: names and sizes as torchvision's, files
/// round-trip with their buffers, and a batch split over threads trains as one.
final class ArchitectureTests: XCTestCase {
    /// Parameter counts published for the CIFAR variants (3 channels, 10 classes):
    /// ResNet-20 0.27 M (He et al. 2016, with projection shortcuts 272,474),
    /// torchvision's ResNet-18 with the CIFAR stem 11,173,962, VGG11-BN 9,231,114, VGG16-BN 14,728,266.
    func testParameterCountsAreThePublishedOnes() {
        for (arch, count) in [(Architecture.resnet20, 272_474), (.resnet18, 11_173_962), (.vgg11bn, 9_231_114), (.vgg16bn, 14_728_266)] {
            XCTAssertEqual(arch.parameterCount(inputSide: 32, channels: 3, classes: 10), count, "\(arch)")
            XCTAssertEqual(Model(arch, channels: 3, classes: 10).store.count, count, "\(arch) allocated")
        }
    }

    func testNamesAreTorchvisions() {
        let r = Model(.resnet18, channels: 3).parameters.map(\.name) + Model(.resnet18, channels: 3).buffers.map(\.name)
        for name in ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
                     "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer4.1.conv2.weight", "fc.weight", "fc.bias",
                     "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "layer3.0.downsample.1.running_var"] {
            XCTAssertTrue(r.contains(name), name)
        }
        XCTAssertFalse(r.contains("conv1.bias"), "torchvision's ResNet convolutions have no bias")
        XCTAssertFalse(r.contains("layer1.0.downsample.0.weight"), "a stride-1 block of equal width adds x itself")
        let v = Model(.vgg11bn, channels: 3).parameters.map(\.name)
        XCTAssertEqual(Array(v.prefix(6)), ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                                            "features.4.weight", "features.4.bias"])
        XCTAssertEqual(Array(v.suffix(2)), ["classifier.weight", "classifier.bias"])
        XCTAssertTrue(v.contains("features.25.weight"), "vgg11_bn's last convolution is features.25")
        XCTAssertTrue(Model(.vgg16bn, channels: 3).parameters.map(\.name).contains("features.40.weight"))
    }

    /// 28x28 images meet a 32x32 network zero-padded by 2 on every side.
    func testSmallerImagesArePadded() {
        let model = Model(.resnet20, inputSide: 28, classes: 10, seed: 1)
        XCTAssertEqual(model.imageSide, 32)
        var rng = RandomStream("pad-test", 0)
        let small = (0..<2 * 784).map { _ in rng.nextUnit() }
        var big = [Float](repeating: 0, count: 2 * 1024)
        for b in 0..<2 { for r in 0..<28 { for c in 0..<28 { big[b * 1024 + (r + 2) * 32 + c + 2] = small[b * 784 + r * 28 + c] } } }
        XCTAssertEqual(model.forward(small, batch: 2).data, model.forward(big, batch: 2).data)
    }

    func testFileRoundTripKeepsBuffers() throws {
        let model = Model(.resnet20, channels: 3, classes: 10, seed: 2)
        for (i, b) in model.buffers.enumerated() { b.values = b.values.map { _ in b.isCounter ? Double(i) : Double(Float(i) * 0.25 + 0.5) } }
        let path = NSTemporaryDirectory() + "arch-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let file = try Safetensors.decode(AtomicFile.read(path), source: path)
        XCTAssertEqual(file["bn1.num_batches_tracked"]?.dtype, .I64)
        XCTAssertEqual(file["bn1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(file["layer1.0.bn1.running_var"]?.dtype, .F32)
        let back = try Model.load(path: path)
        XCTAssertEqual(back.inputChannels, 3)
        XCTAssertEqual(back.store.flatValues, model.store.flatValues)
        XCTAssertEqual(back.buffers.map(\.values), model.buffers.map(\.values))
        var rng = RandomStream("roundtrip", 0)
        let x = (0..<2 * 3 * 1024).map { _ in rng.nextUnit() }
        XCTAssertEqual(back.forward(x, batch: 2).data, model.forward(x, batch: 2).data)
    }

    /// Running statistics after one training batch, against the definition
    /// (momentum 0.1, unbiased variance), and eval mode using them.
    func testRunningStatisticsFollowPyTorch() {
        let bn = BatchNorm2d("bn", 2)
        let store = ParameterStore(bn.parameters)
        defer { withExtendedLifetime(store) {} }
        store.initialize(seed: 0)
        var rng = RandomStream("bn-stats", 0)
        let x = Tensor(shape: [2, 3, 2, 5], data: (0..<60).map { _ in rng.uniform(-2, 3) })
        _ = bn.forward(x, training: true)
        for c in 0..<2 {
            let v = x.data[c * 30..<(c + 1) * 30].map(Double.init)
            let mean = v.reduce(0, +) / 30, unbiased = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 29
            XCTAssertEqual(bn.runningMean.values[c], 0.1 * mean, accuracy: 1e-6)
            XCTAssertEqual(bn.runningVar.values[c], 0.9 + 0.1 * unbiased, accuracy: 1e-6)
        }
        XCTAssertEqual(bn.batchesTracked.values, [1])
        let y = bn.forward(x, training: false)
        for i in [0, 17, 31, 59] {
            let c = i / 30
            XCTAssertEqual(Double(y.data[i]), (Double(x.data[i]) - bn.runningMean.values[c]) / (bn.runningVar.values[c] + 1e-5).squareRoot(), accuracy: 1e-5)
        }
    }

    /// A batch split into shards that meet through BatchSync is normalised as
    /// one: the same logits and running statistics (to float rounding), and
    /// the same gradients but for units an ulp from a ReLU's kink, which sums
    /// in another order may put on the other side (one such unit moves a
    /// gradient by ~1e-4). Shards that do not meet differ by far more.
    func testShardsMeetAsOneBatch() throws {
        var rng = RandomStream("bn-shards", 0)
        let (b, labels) = (6, [Int32](0..<6))
        let x = (0..<b * 784).map { _ in rng.nextUnit() }
        let whole = Model(.resnet20, seed: 3)
        let logits = whole.forward(x, batch: b, training: true)
        whole.store.zeroGrads()
        whole.backward(CrossEntropy.lossAndGrad(logits, labels[...], normalizer: b).grad)
        func sharded(_ shards: Int, meet: Bool) -> (logits: [Float], grads: [Double], stats: [Double]) {
            let models = (0..<shards).map { _ in Model(.resnet20, seed: 3) }
            let sync = BatchSync(shards: shards, groupSum: nil)
            for (t, m) in models.enumerated() { m.store.zeroGrads(); if meet { m.synchronize(sync, shard: t) } }
            nonisolated(unsafe) var outs = [[Float]](repeating: [], count: shards)
            runConcurrently(shards) { t in
                let (lo, hi) = (b * t / shards, b * (t + 1) / shards)
                let y = models[t].forward(Array(x[lo * 784..<hi * 784]), batch: hi - lo, training: true)
                outs[t] = y.data
                models[t].backward(CrossEntropy.lossAndGrad(y, labels[lo..<hi], normalizer: b).grad)
            }
            let grads = (0..<whole.store.count).map { i in models.reduce(0.0) { $0 + Double($1.store.grads[i]) } }
            return (outs.flatMap { $0 }, grads, models[0].buffers.flatMap(\.values))
        }
        let grads = whole.store.grads.map(Double.init), stats = whole.buffers.flatMap(\.values)
        for shards in [2, 3] {
            let s = sharded(shards, meet: true)
            XCTAssertLessThan(distance(logits.data.map(Double.init), s.logits.map(Double.init)), 1e-5, "\(shards) shards: logits")
            XCTAssertLessThan(distance(stats, s.stats), 1e-5, "\(shards) shards: running statistics")
            XCTAssertLessThan(distance(grads, s.grads), 1e-2, "\(shards) shards: gradients")
        }
        let apart = sharded(2, meet: false)
        XCTAssertGreaterThan(distance(logits.data.map(Double.init), apart.logits.map(Double.init)), 1e-2, "shards that do not meet")
        XCTAssertGreaterThan(distance(grads, apart.grads), 1e-1, "shards that do not meet")
    }

    /// Through the training loop: 1, 2 and 3 threads (and a last batch of one
    /// image, which leaves shards empty) train the same network, to a kink:
    /// a small rate keeps a flipped unit's ~1e-4 in a gradient small in the weights.
    func testThreadsTrainTheSameBatchNormNetwork() throws {
        var rng = RandomStream("bn-threads", 0)
        let n = 13
        let data = ImageDataset(images: (0..<n * 1024).map { _ in rng.nextUnit() }, labels: (0..<n).map { Int32($0 % 10) }, rows: 32, cols: 32)
        func trained(threads: Int) throws -> Model {
            Compute.configure(threads: threads)
            defer { Compute.configure(threads: 1) }
            let m = Model(.resnet20, seed: 3)
            try train(m, on: data, settings: TrainingSettings(epochs: 1, lr: 1e-3, batch: 6), seed: 1)
            return m
        }
        let one = try trained(threads: 1)
        for threads in [2, 3] {
            let other = try trained(threads: threads)
            XCTAssertLessThan(distance(one.store.flatValues.map(Double.init), other.store.flatValues.map(Double.init)), 1e-4, "\(threads) threads: weights")
            XCTAssertLessThan(distance(one.buffers.flatMap(\.values), other.buffers.flatMap(\.values)), 1e-4, "\(threads) threads: running statistics")
        }
        XCTAssertEqual(one.batchNorms[0].batchesTracked.values, [3])
    }

    /// Recomputed statistics are the cumulative average over the batches (momentum=None).
    func testRecomputedStatisticsAreTheAverageOverBatches() {
        var rng = RandomStream("recompute", 0)
        let data = ImageDataset(images: (0..<8 * 1024).map { _ in rng.nextUnit() }, labels: [Int32](repeating: 0, count: 8), rows: 32, cols: 32)
        let model = Model(.resnet20, inputSide: 32, seed: 1)
        model.recomputeBatchNormStatistics(on: data, batchSize: 4)
        let first = BatchNorm2d("bn1", 16), second = BatchNorm2d("bn1", 16)
        let conv = model.layers[0]   // its weights: the recomputation leaves them alone
        var means = [[Double]]()
        for (bn, lo) in [(first, 0), (second, 4)] {
            let store = ParameterStore(bn.parameters)
            store.initialize(seed: 0)
            let x = model.input(Array(data.images[lo * 1024..<(lo + 4) * 1024]), batch: 4)
            _ = withExtendedLifetime(store) { bn.forward(conv.forward(x, training: false), training: true) }
            means.append(bn.runningMean.values.map { $0 / 0.1 })   // momentum 0.1 from 0: a tenth of the batch mean
        }
        for c in 0..<16 {
            XCTAssertEqual(model.batchNorms[0].runningMean.values[c], (means[0][c] + means[1][c]) / 2, accuracy: 1e-5)
        }
        XCTAssertEqual(model.batchNorms[0].batchesTracked.values, [2])
        XCTAssertEqual(model.batchNorms[0].momentum, 0.1)
    }
}

/// |a - b| / |a| in the L2 norm.
private func distance(_ a: [Double], _ b: [Double]) -> Double {
    (zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / a.map { $0 * $0 }.reduce(0, +)).squareRoot()
}
