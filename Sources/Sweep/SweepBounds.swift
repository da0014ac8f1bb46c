import Datasets
import Foundation
import NeuralNet
import Safetensors

/// Bounds on a sweep's settings beyond their types: what `plan` accepts, `run`
/// can use (the same checks run in both, on the same file). Those that depend
/// on the machine (cores, free memory) run on rank 0 only in `run`, so every
/// rank still parses the same bytes to the same answer.
extension SweepFile {
    /// Threads per rank: up to this many times the cores (more only thrash).
    public static let threadsPerCore = 4
    /// The KD temperature divides logits held as Float: above this, T^2 and the
    /// softened outputs lose every digit.
    public static let maxTemperature = 1000.0

    func boundError(_ key: String, _ message: String) -> SweepFileError {
        SweepFileError(file: path, line: lines[key] ?? lines["axes.\(key)"] ?? 0, message: "'\(key)': \(message)")
    }

    /// Checks one grid point's settings; errors name the key and its line.
    func checkBounds() throws {
        let fail = boundError
        guard kd.temperature <= SweepFile.maxTemperature else {
            throw fail("kd.temperature", "must be at most \(SweepFile.maxTemperature), found \(kd.temperature)")
        }
        if let n = data.trainSubset {
            for (table, s) in [("parent", parent), ("finetune", finetune)] where s.batch > n {
                throw fail("\(table).batch", "batch \(s.batch) is larger than the \(n) training images of data.train_subset")
            }
        }
    }

    /// Every grid point's settings against this machine: threads per core, and
    /// the memory a rank needs against what is free now.
    public func checkMachine() throws {
        for variant in settingVariants() { try variant.checkMachinePoint() }
    }

    func checkMachinePoint() throws {
        let fail = boundError
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard threads <= SweepFile.threadsPerCore * cores else {
            throw fail("run.threads", "\(threads) threads, more than \(SweepFile.threadsPerCore) per core on this machine's \(cores) cores")
        }
        // the MNIST layout's count is in its data: 60,000 (MNIST's) is the estimate there
        let images = data.trainSubset ?? ImageData.trainCount(directory: data.dir) ?? 60_000
        for (table, s) in [("parent", parent), ("finetune", finetune)] {
            let need = SweepFile.memoryEstimate(arch, batch: min(s.batch, images), threads: threads)
            if let free = InputFile.availableMemory(), need > free {
                throw fail(table == "parent" ? "parent.arch" : "finetune.batch",
                           "\(arch) at batch \(s.batch) on \(threads) threads needs about \(need >> 20) MiB, more than the \(free >> 20) MiB available")
            }
        }
    }

    /// Bytes a rank needs to train `arch` on 28x28 images: parameters with
    /// gradients, momentum and a mask, per thread a replica, and each layer's
    /// activations and their gradients for a batch. Overflow counts as Int.max.
    static func memoryEstimate(_ arch: Architecture, batch: Int, threads: Int) -> Int {
        // each layer's outputs, per image (LeNet5: conv, pool, conv, pool, fc)
        let widths: [Int]
        switch arch {
        case .lenet5: widths = [784, 4704, 1176, 1600, 400, 120, 84, 10]
        case .mlp(let hidden): widths = [784] + hidden + [10]
        // each convolution's output kept as itself, BatchNorm's xhat and output, ReLU's, and gradients
        case .resnet20, .resnet18, .vgg11bn, .vgg16bn: widths = [6 * arch.convolutionOutputsPerImage(channels: 3)]
        }
        var activations = 0, overflow = false
        func add(_ a: inout Int, _ x: Int, _ y: Int) {
            let (p, o1) = x.multipliedReportingOverflow(by: y)
            let (s, o2) = a.addingReportingOverflow(p)
            overflow = overflow || o1 || o2
            a = s
        }
        for w in widths { add(&activations, w, 2) }
        guard let params = arch.parameterCount(inputSide: 28, classes: 10) else { return Int.max }
        var total = 0, perImage = 0
        add(&total, params, 4 * 4 * (1 + min(threads, 1 << 20)))
        add(&perImage, activations, 4)
        add(&total, perImage, batch)
        return overflow ? Int.max : total
    }
}
