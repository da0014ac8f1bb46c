import ArgumentParser
import Datasets
import Foundation
import NeuralNet

/// Where the data comes from and how many BLAS threads to use.
struct DataOptions: ParsableArguments {
    @Option(help: "Directory with the four MNIST-layout IDX files (.gz or raw).")
    var data: String = MNISTLayout.defaultDirectory

    @Option(help: "OpenBLAS threads (results are bit-identical for a given count).")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func load(_ split: MNISTLayout.Split) throws -> ImageDataset {
        Compute.configure(threads: threads)
        return try MNISTLayout.load(directory: data, split: split)
    }
}

/// SGD hyper-parameters shared by every command that trains.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Epochs.") var epochs: Int = 12
    @Option(help: "Learning rate.") var lr: Float = 0.05
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay.") var weightDecay: Float = 0
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Seed for initialisation and data order.") var seed: UInt64 = 0
    @Option(help: "Learning-rate schedule over epochs: cosine (decays to 0) or constant.") var schedule: Schedule = .cosine

    enum Schedule: String, ExpressibleByArgument { case cosine, constant }

    /// The learning rate of `epoch` (0-based) of `epochs`.
    func learningRate(epoch: Int) -> Float {
        switch schedule {
        case .constant: lr
        case .cosine: lr * Float(0.5 * (1 + cos(Double.pi * Double(epoch) / Double(max(epochs, 1)))))
        }
    }

    func validate() throws {
        guard epochs >= 0 else { throw ValidationError("--epochs must be >= 0") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard (0..<1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be >= 0") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }
}

extension Architecture: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}
