import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import ProgressOutput
import Pruning
import Sweep

/// Where the data comes from and how many BLAS threads to use.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Data directory: the four MNIST-layout IDX files (.gz or raw), or CIFAR binary files (cifar-10-batches-bin: data_batch_1..5.bin, test_batch.bin; cifar-100-binary: train.bin, test.bin).",
                               discussion: "The layout is picked by the files present. CIFAR pixels are normalised per channel by the training split's mean and std."))
    var data: String = MNISTLayout.defaultDirectory
    @Option(help: "CIFAR-100 labels: fine (100 classes) or coarse (20 superclasses); other layouts have fine only (as [data] labels).")
    var labels: LabelSet = .fine
    @Option(name: .customLong("train-subset"), help: "Use only the first N training images (as [data] train_subset).") var trainSubset: Int?
    @Option(name: .customLong("test-subset"), help: "Use only the first N test images (as [data] test_subset).") var testSubset: Int?
    @Option(help: "OpenBLAS threads (results are bit-identical for a given count).")
    var threads: Int = 1

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard (trainSubset ?? 1) >= 1, (testSubset ?? 1) >= 1 else { throw ValidationError("--train-subset and --test-subset must be at least 1") }
    }

    /// The data as a sweep's [data] table names it.
    var spec: DataSpec { DataSpec(dir: data, trainSubset: trainSubset, testSubset: testSubset, labels: labels) }

    func load(_ split: MNISTLayout.Split) throws -> ImageDataset {
        Compute.configure(threads: threads)
        let d = try ImageData.load(directory: data, split: split, labels: labels)
        let n = split == .train ? trainSubset : testSubset
        return n.map { d.subset($0) } ?? d
    }
}

/// Which tensors of a model prune and imp may prune.
struct PruneScopeOptions: ParsableArguments {
    @Flag(name: .customLong("weights-only"), help: "Prune weight tensors only (the paper prunes weights and biases).") var weightsOnly = false
    @Option(help: "Prune only these layers or tensors, comma-separated (e.g. fc1,conv2.weight).") var layers: String?

    func validate() throws {
        if let layers, layers.split(separator: ",").isEmpty { throw ValidationError("--layers needs at least one name") }
    }

    var scope: PruneScope {
        PruneScope(weightsOnly: weightsOnly, layers: layers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
    }
}

/// The training settings of every command that trains (the keys of [parent] /
/// [finetune] in a sweep file). What is not given comes from the command's
/// defaults: for train and distill, the architecture's recipe.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Epochs (train, distill: the architecture's recipe, 12 for lenet5; prune: 1, fine-tuning with the mask held; 0: none).") var epochs: Int?
    @Option(help: "Learning rate (train, distill: the recipe's, 0.05 for lenet5; prune: 0.01).") var lr: Double?
    @Option(help: "SGD momentum (default 0.9).") var momentum: Double?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum (default: the recipe's; on for the BatchNorm networks).") var nesterov: Bool?
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay (default: the recipe's).") var weightDecay: Double?
    @Option(help: "Batch size (default: the recipe's, 64 for lenet5 and MLPs, 128 for the BatchNorm networks).") var batch: Int?
    @Option(help: "Seed for initialisation, data order, augmentation (and random pruning).") var seed: UInt64 = 0
    @Option(help: "Learning-rate schedule over epochs: cosine (to 0), constant, or step (times --gamma after each of --milestones).")
    var schedule: ScheduleKind?
    @Option(help: "Epochs after which a step schedule drops the rate, comma-separated (e.g. 30,60).") var milestones: String?
    @Option(help: "Factor of each step-schedule drop.") var gamma: Double?
    @Option(name: .customLong("warmup-epochs"), help: "Epochs of linear warm-up before the schedule.") var warmupEpochs: Int?
    @Option(help: "Seeded augmentation of training batches: none or crop-flip (4-pixel padded random crop, horizontal flip).")
    var augment: Augmentation?

    /// The settings: these options over `defaults`.
    func settings(_ defaults: TrainingSettings) throws -> TrainingSettings {
        var s = defaults
        if let milestones {
            s.milestones = try milestones.split(separator: ",").map { text in
                guard let m = Int(text.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--milestones: '\(text)' is not a whole number of epochs") }
                return m
            }
            if schedule == nil { s.schedule = .step }
        }
        if let epochs { s.epochs = epochs }
        if let lr { s.lr = lr }
        if let momentum { s.momentum = momentum }
        if let nesterov { s.nesterov = nesterov }
        if let weightDecay { s.weightDecay = weightDecay }
        if let batch { s.batch = batch }
        if let schedule { s.schedule = schedule }
        if let gamma { s.gamma = gamma }
        if let warmupEpochs { s.warmupEpochs = warmupEpochs }
        if let augment { s.augment = augment }
        do { try s.validate() } catch let e as TrainingSettingsError {
            throw ValidationError("--\(e.key.replacingOccurrences(of: "_", with: "-")) \(e.message)")
        }
        return s
    }

    func settings(epochs: Int, lr: Double) throws -> TrainingSettings { try settings(TrainingSettings(epochs: epochs, lr: lr)) }

    func validate() throws { _ = try settings(epochs: 1, lr: 0.01) }
}

extension Augmentation: ExpressibleByArgument {}

extension ScheduleKind: ExpressibleByArgument {}
extension LabelSet: ExpressibleByArgument {}

extension Architecture: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

/// Training progress of a command: a progress line over the batches, and a
/// line per epoch with loss, training accuracy, rate, ETA and (given a test
/// set) test accuracy.
final class TrainingReport {
    let label: String
    let model: Model
    let test: ImageDataset?
    let started = Date()
    var progress: ProgressLine?

    init(_ label: String, model: Model, test: ImageDataset? = nil) {
        self.label = label; self.model = model; self.test = test
    }

    func batch(_ p: BatchProgress) {
        if progress == nil { progress = ProgressLine(label, total: p.total, unit: "batches") }
        progress?.update(p.done)
    }

    func epoch(_ e: Int, _ s: EpochStats, of epochs: Int) {
        let elapsed = Date().timeIntervalSince(started)
        let eta = elapsed / Double(e + 1) * Double(epochs - e - 1)
        var line = String(format: "%@ epoch %d/%d  loss %.4f  train acc %.2f %%  %.0f images/s  ETA %@",
                          label, e + 1, epochs, s.loss, s.accuracy * 100, s.imagesPerSecond, formatDuration(eta))
        if let test { line += String(format: "  test acc %.2f %%", evaluate(model, on: test).accuracy * 100) }
        print(line)
    }
}
