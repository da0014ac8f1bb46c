import ArgumentParser
import Foundation
import NeuralNet
import Pruning
import Safetensors

struct Lmc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmc",
        abstract: "Linear mode connectivity: test error along the straight line between two models, and the error barrier.",
        discussion: """
        Evaluates (1 - alpha) * A + alpha * B at evenly spaced alphas from 0 to 1 (masks are not applied: the \
        interpolated weights are the net). The barrier is the highest error on the line minus the mean error of A \
        and B (Frankle et al. 2020). prunesweep's architectures have no BatchNorm, so there are no statistics to recompute.
        """)

    @Argument(help: "Model A (alpha = 0), a safetensors file prunesweep wrote.") var a: String
    @Argument(help: "Model B (alpha = 1), of the same architecture.") var b: String
    @Option(help: "Points along the line, ends included (at least 11 gives alpha steps of 0.1).") var points: Int = 11
    @Option(help: "Also write alpha,error,loss rows to this CSV file.") var csv: String?
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        guard (2...10_001).contains(points) else { throw ValidationError("--points must be in 2...10001") }
    }

    func run() throws {
        let test = try dataOptions.load(.test)
        let (ma, mb) = (try loadModel(a, for: test), try loadModel(b, for: test))
        let train = ma.hasBatchNorm ? try dataOptions.load(.train) : nil
        let path = try LinearPath(ma, mb, test: test, train: train, points: points)
        print("alpha  test error  loss")
        var rows = ["alpha,error,loss"]
        for i in path.alphas.indices {
            print(String(format: "%5.3f  %8.4f %%  %.4f", path.alphas[i], path.errors[i] * 100, path.losses[i]))
            rows.append("\(path.alphas[i]),\(path.errors[i]),\(path.losses[i])")
        }
        print(String(format: "barrier %.4f %% (max error %.4f %%, mean of the ends %.4f %%); no BatchNorm layers, no statistics recomputed",
                     path.barrier * 100, (path.errors.max() ?? 0) * 100, (path.errors[0] + path.errors[path.errors.count - 1]) / 2 * 100))
        if let csv { try AtomicFile.write(Array((rows.joined(separator: "\n") + "\n").utf8), to: csv) }
    }
}
