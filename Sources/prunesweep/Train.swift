import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import ProgressOutput
import Sweep

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model and save it as safetensors.")

    @Option(help: "lenet5 or mlp:W1,W2,... (hidden widths).") var arch: Architecture = .lenet5
    @OptionGroup var training: TrainingOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Output safetensors file.") var out: String

    func run() throws {
        let train = try dataOptions.load(.train), test = try dataOptions.load(.test)
        let model = Model(arch, inputSide: train.rows, seed: training.seed)
        try fit(model, train: train, test: test, training: training)
        let result = evaluate(model, on: test)
        try model.save(to: out, metadata: ["seed": String(training.seed), "epochs": String(training.epochs)])
        print(String(format: "test accuracy %.2f %%  loss %.4f  -> %@", result.accuracy * 100, result.loss, out))
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test accuracy and loss of a saved model.")
    @Argument(help: "A safetensors model file.") var model: String
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let m = try Model.load(path: model)
        let r = evaluate(m, on: try dataOptions.load(.test))
        print(String(format: "%@ (%@): test accuracy %.2f %%  loss %.4f", model, m.architecture.description, r.accuracy * 100, r.loss))
    }
}

/// Trains with per-epoch progress: loss, train accuracy, images/s, ETA.
func fit(_ model: Model, train: ImageDataset, test: ImageDataset?, training: TrainingOptions, loss: @escaping LossFunction = crossEntropyLoss) throws {
    let sgd = SGD(store: model.store, learningRate: training.lr, momentum: training.momentum, weightDecay: training.weightDecay)
    let started = Date()
    for epoch in 0..<training.epochs {
        sgd.learningRate = training.learningRate(epoch: epoch)
        let progress = ProgressLine("epoch \(epoch + 1)/\(training.epochs)", total: (train.count + training.batch - 1) / training.batch, unit: "batches")
        let s = try trainEpoch(model, on: train, optimizer: sgd, batchSize: training.batch, seed: training.seed, epoch: epoch, loss: loss) { done, total in
            progress.update(done)
        }
        let elapsed = Date().timeIntervalSince(started)
        let eta = elapsed / Double(epoch + 1) * Double(training.epochs - epoch - 1)
        var line = String(format: "epoch %d/%d  loss %.4f  train acc %.2f %%  %.0f images/s  ETA %@",
                          epoch + 1, training.epochs, s.loss, s.accuracy * 100, s.imagesPerSecond, formatDuration(eta))
        if let test { line += String(format: "  test acc %.2f %%", evaluate(model, on: test).accuracy * 100) }
        print(line)
    }
}
