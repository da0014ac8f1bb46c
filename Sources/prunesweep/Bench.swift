import ArgumentParser
import Datasets
import Foundation
import NeuralNet

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Throughput figures.", subcommands: [TrainBench.self])
}

/// Training images/s on Fashion-MNIST (the median of timed epochs over a
/// fixed slice), with the fraction of the measured sgemm roofline reached.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Training throughput of one model.")
    @Option(help: "lenet5 or mlp:W1,W2,...") var arch: Architecture = .lenet5
    @Option(help: "Batch size.") var batch: Int = 256
    @Option(help: "Images per timed pass.") var images: Int = 15360
    @Option(help: "Timed passes (the median is reported).") var repeats: Int = 3
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let data = try dataOptions.load(.train).subset(images)
        let model = Model(arch, seed: 0)
        let sgd = SGD(store: model.store, learningRate: 0.01, momentum: 0.9)
        _ = try trainEpoch(model, on: data.subset(batch * 4), optimizer: sgd, batchSize: batch, seed: 0, epoch: 0)   // warm-up
        var rates: [Double] = []
        for r in 0..<repeats {
            rates.append(try trainEpoch(model, on: data, optimizer: sgd, batchSize: batch, seed: 0, epoch: r).imagesPerSecond)
        }
        let rate = rates.sorted()[rates.count / 2]
        let flops = model.flopsPerImage.training
        let roof = measureSGEMM()
        print(String(format: "%@ batch %d threads %d: %.0f images/s  %.2f MFLOP/image  %.1f GFLOP/s  sgemm %.1f GFLOP/s  roofline %.1f %%",
                     arch.description, batch, dataOptions.threads, rate, flops / 1e6, flops * rate / 1e9, roof, 100 * flops * rate / 1e9 / roof))
    }
}
