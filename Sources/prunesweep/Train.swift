import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Safetensors
import Sweep

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and save it as safetensors.",
        discussion: "The same training as a sweep's parent with the same settings: the two give bit-identical tensors.")

    @Option(help: "lenet5, resnet20, resnet18, vgg11_bn, vgg16_bn, or mlp:W1,W2,... (hidden widths); docs/architectures.md.") var arch: Architecture = .lenet5
    @OptionGroup var training: TrainingOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Output safetensors file.") var out: String

    func run() throws {
        let train = try dataOptions.load(.train), test = try dataOptions.load(.test)
        let spec = TrainSpec(arch: arch, training: try training.settings(.recipe(for: arch)),
                             data: dataOptions.spec,
                             seed: training.seed)
        let model = try fit(spec, train: train, test: test, label: "train")
        let result = evaluate(model, on: test)
        try model.save(to: out, metadata: ["task": SweepTask(.parent(spec)).id])
        print(String(format: "test accuracy %.2f %%  loss %.4f  -> %@", result.accuracy * 100, result.loss, out))
    }
}

/// A model trained from its spec as a sweep trains a parent or teacher, with progress output.
func fit(_ spec: TrainSpec, train: ImageDataset, test: ImageDataset?, label: String) throws -> Model {
    let model = Model(spec.arch, for: train, seed: spec.seed)
    let report = TrainingReport(label, model: model, test: test)
    try NeuralNet.train(model, on: train, settings: spec.training, seed: spec.seed, onBatch: report.batch) { e, s in
        report.epoch(e, s, of: spec.training.epochs)
    }
    return model
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test accuracy and loss of a saved model.")
    @Argument(help: "A safetensors model file.") var model: String
    @Option(help: "The architecture of a file that does not name it (one PyTorch saved: its state_dict under PyTorch's names).")
    var arch: Architecture?
    @Option(help: "Also write the test logits [images, classes] as F32 tensor 'logits' to this safetensors file.") var logits: String?
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let test = try dataOptions.load(.test)
        let m = try loadModel(model, for: test, arch: arch)
        let r = evaluate(m, on: test)
        if let logits {
            let z = predictLogits(m, on: test)
            try AtomicFile.write(Safetensors(tensors: [NamedTensor(name: "logits", shape: z.shape, floats: z.data)]).encode(), to: logits)
        }
        print(String(format: "%@ (%@): test accuracy %.2f %%  loss %.4f", model, m.architecture.description, r.accuracy * 100, r.loss))
    }
}
