import ArgumentParser
import Foundation
import NeuralNet
import Pruning
import Safetensors

extension Rewind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

struct Imp: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Iterative magnitude pruning with rewinding (lottery tickets), round by round.",
        discussion: """
        Round 0 trains the dense net; round k prunes the smallest in-scope weights of round k - 1 so that \
        1 - (1 - rate)^k of them are gone, rewinds the survivors to --rewind and retrains --epochs epochs. \
        The same rounds as a sweep's method "imp" with the same settings (bit-identical tensors). Writes to --out: \
        round-K.safetensors (with <name>_mask tensors), rewind.safetensors and rounds.csv.
        """)

    @Argument(help: "A model prunesweep wrote whose weights are the initialisation (default: --arch initialised from --seed).") var model: String?
    @Option(help: "lenet5, resnet20, resnet18, vgg11_bn, vgg16_bn or mlp:W1,W2,... (hidden widths), when no model is given.") var arch: Architecture = .lenet5
    @Option(help: "Rounds of pruning after the dense training.") var rounds: Int = 3
    @Option(help: "Fraction of the remaining in-scope weights each round prunes.") var rate: Double = 0.2
    @Option(help: "Where survivors rewind to: init, epoch:K (end of epoch K) or iter:N (after N batches) of the dense training.")
    var rewind: Rewind = .initialisation
    @OptionGroup var pruneScope: PruneScopeOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Output directory.") var out: String

    func validate() throws {
        guard (1...1000).contains(rounds) else { throw ValidationError("--rounds must be in 1...1000") }
        guard rate > 0, rate < 1 else { throw ValidationError("--rate must be in (0, 1) (the fraction of the remaining weights each round prunes)") }
    }

    func run() throws {
        let train = try dataOptions.load(.train), test = try dataOptions.load(.test)
        let settings = try training.settings(epochs: 2, lr: 0.05)
        let imp = IMPSettings(rate: rate, rewind: rewind, scope: pruneScope.scope)
        let dense = try model.map { try loadModel($0, for: train) } ?? Model(arch, for: train, seed: training.seed)
        try imp.scope.check(dense)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        var started = Date(), progress = 0.0
        var report = TrainingReport("round 0", model: dense, test: test)
        /// The progress line of an epoch (a test pass, as `train` prints), its time kept apart.
        func epochLine(_ e: Int, _ s: EpochStats) {
            let t = Date()
            report.epoch(e, s, of: settings.epochs)
            progress += Date().timeIntervalSince(t)
        }
        let (rewindWeights, denseStats) = try trainDense(dense, on: train, settings: settings, seed: training.seed, imp: imp,
                                                         onBatch: report.batch) { e, s in epochLine(e, s) }
        try dense.save(to: "\(out)/round-0.safetensors")
        let start = roundStart(dense.architecture, for: train, start: rewindWeights,
                               masks: dense.parameters.map { [Float](repeating: 1, count: $0.count) })
        try start.save(to: "\(out)/rewind.safetensors", metadata: ["rewind": rewind.description])
        var rows = [RoundMetrics(round: 0, variant: .imp, imp: imp, model: dense, dense: dense, test: test, trainLoss: denseStats.last?.loss)]
        print(summary(rows[0], seconds: Date().timeIntervalSince(started), training: denseStats, progress: progress))
        var previous = dense
        for k in 1...rounds {
            (started, progress) = (Date(), 0)
            let masks = roundMasks(.imp, previous: previous, round: k, imp: imp, seed: training.seed)
            let m = roundStart(dense.architecture, for: train, start: rewindWeights, masks: masks)
            report = TrainingReport("round \(k)", model: m, test: test)
            var epochsDone = 0   // retraining numbers its epochs from the rewind point's
            let stats = try retrain(m, on: train, settings: settings, seed: training.seed, imp: imp, onBatch: report.batch) { _, s in
                epochLine(epochsDone, s)
                epochsDone += 1
            }
            try m.save(to: "\(out)/round-\(k).safetensors")
            rows.append(RoundMetrics(round: k, variant: .imp, imp: imp, model: m, dense: dense, test: test, trainLoss: stats.last?.loss))
            print(summary(rows[k], seconds: Date().timeIntervalSince(started), training: stats, progress: progress))
            previous = m
        }
        try AtomicFile.write(Array(csv(rows).utf8), to: "\(out)/rounds.csv")
        print("-> \(out)/rounds.csv")
    }

    /// The round's numbers, and its time: all of it, the training loop's share and the progress lines'
    /// (the rest is pruning, rewinding, saving and measuring the round).
    func summary(_ r: RoundMetrics, seconds: Double, training: [EpochStats], progress: Double) -> String {
        String(format: "round %d: %.2f %% of the weights left  test acc %.2f %%  loss %.4f  cosine to dense %.4f  K2 %@  %.2f s (training %.2f s, progress lines %.2f s)",
               r.round, r.remaining * 100, r.accuracy * 100, r.loss, r.cosine, r.k2.map { String(format: "%.4f", $0) } ?? "n/a",
               seconds, training.reduce(0) { $0 + $1.seconds }, progress)
    }

    func csv(_ rows: [RoundMetrics]) -> String {
        var lines = ["round,remaining,sparsity,pruned,prunable,accuracy,loss,train_loss,cosine,k2"]
        for r in rows {
            let fields: [String] = ["\(r.round)", "\(r.remaining)", "\(r.sparsity)", "\(r.pruned)", "\(r.prunable)", "\(r.accuracy)", "\(r.loss)",
                                    r.trainLoss.map { "\($0)" } ?? "", "\(r.cosine)", r.k2.map { "\($0)" } ?? ""]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
