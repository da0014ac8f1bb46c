import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import ProgressOutput
import Pruning
import Safetensors
import Sweep
import TensorStore

extension PruneMethod: ExpressibleByArgument {}

/// A ratio on the command line: a number in [0, 1], or one the analysis resolves.
enum RatioChoice: ExpressibleByArgument, CustomStringConvertible {
    case fixed(Double), optimal, safe
    init?(argument: String) {
        switch argument {
        case "optimal": self = .optimal
        case "safe": self = .safe
        default:
            guard let r = Double(argument), (0...1).contains(r) else { return nil }
            self = .fixed(r)
        }
    }
    var description: String {
        switch self { case .fixed(let r): "\(r)"; case .optimal: "optimal"; case .safe: "safe" }
    }
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a model (global L1, random or layer-wise), find the optimal and safe ratios, fine-tune with the mask held.",
        discussion: """
        Writes to --out: curve.csv, summary.json, pruned.safetensors, finetuned.safetensors \
        (with <name>_mask tensors) and pareto.svg, and prints the parent / pruned / fine-tuned table.
        """)

    @Argument(help: "The parent model (safetensors written by prunesweep train).") var model: String
    @Option(help: "l1 (global magnitude, the paper's), random (the control) or layerwise.") var method: PruneMethod = .l1
    @Option(help: "A ratio in [0, 1], or optimal (nearest the utopia on the L1 cosine curve), or safe (optimal / log K2).") var ratio: RatioChoice = .optimal
    @Option(help: "Fine-tuning epochs with the mask held (0: none).") var finetune: Int = 1
    @Option(help: "Output directory.") var out: String = "prune-out"
    @Flag(name: .customLong("eval-curve"), help: "Also test every ratio of the curve (unfine-tuned): accuracy and loss columns in curve.csv.") var evalCurve = false
    @Flag(name: .customLong("weights-only"), help: "Prune weight tensors only (the paper prunes weights and biases).") var weightsOnly = false
    @Option(help: "Prune only these layers or tensors, comma-separated (e.g. fc1,conv2.weight).") var layers: String?
    @Option(help: "Fine-tuning learning rate (low: the parent ends its cosine schedule near 0, and a large step undoes it).") var lr: Float = 0.01
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(name: .customLong("weight-decay"), help: "L2 weight decay.") var weightDecay: Float = 0
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Seed of random pruning and of the fine-tuning data order.") var seed: UInt64 = 0
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        guard finetune >= 0 else { throw ValidationError("--finetune must be >= 0") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard (0..<1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be >= 0") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let layers, layers.split(separator: ",").isEmpty { throw ValidationError("--layers needs at least one name") }
    }

    var scope: PruneScope {
        PruneScope(weightsOnly: weightsOnly, layers: layers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
    }

    func run() throws {
        let parent = try Model.load(path: model)
        try scope.check(parent)
        let test = try dataOptions.load(.test)
        let train = finetune > 0 ? try dataOptions.load(.train) : nil

        // The paper's analysis: always on the global L1 curve, whatever method prunes.
        let started = Date()
        let l1Curve = cosineCurve(parent, scope: scope)
        let curveSeconds = Date().timeIntervalSince(started)
        let optimal = optimalRatio(l1Curve)
        var k2: Double?, safe: Double?, safeLog: SafeLog?, k2Problem: String?
        var kurtoses: [TensorKurtosis] = []
        do {
            kurtoses = try tensorKurtoses(parent, scope: scope).map { TensorKurtosis(name: $0.name, kurtosis: $0.kurtosis) }
            let k = try kurtosisOfKurtoses(kurtoses.map(\.kurtosis))
            k2 = k
            (safe, safeLog) = try safeRatio(optimal: optimal, k2: k)
        } catch let e as PruningError {
            k2Problem = e.description
            if case .safe = ratio { throw PruningError("--ratio safe: \(e.description)") }
            warn("no safe ratio: \(e.description)")
        }
        let r: Double
        switch ratio {
        case .fixed(let x): r = x
        case .optimal: r = optimal
        case .safe: r = safe!
        }

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let masks = pruneMasks(parent, ratio: r, method: method, seed: seed, scope: scope)
        let child = pruned(parent, masks: masks)
        let parentEval = evaluate(parent, on: test), prunedEval = evaluate(child, on: test)
        let childSparsity = sparsity(child)
        for name in childSparsity.collapsed { warn("layer collapse: \(name) is pruned to 100 %") }
        let meta = ["parent": model, "method": method.rawValue, "ratio": String(r), "seed": String(seed)]
        try child.save(to: path("pruned.safetensors"), metadata: meta)

        var tuned: Model?, tunedEval: Evaluation?
        if let train {
            let t = child.copy()
            let batches = (train.count + batch - 1) / batch
            let progress = ProgressLine("fine-tune", total: finetune * batches, unit: "batches")
            try fineTune(t, on: train, epochs: finetune, batchSize: batch, learningRate: lr, momentum: momentum,
                         weightDecay: weightDecay, seed: seed, onBatch: { epoch, done, _ in progress.update(epoch * batches + done) })
            tunedEval = evaluate(t, on: test)
            try t.save(to: path("finetuned.safetensors"), metadata: meta.merging(["finetune_epochs": String(finetune)]) { $1 })
            tuned = t
        }

        let methodCurve = method == .l1 ? l1Curve : cosineCurve(parent, method: method, seed: seed, scope: scope)
        var curveEvals: [Evaluation]?
        if evalCurve {
            let progress = ProgressLine("eval-curve", total: curveRatios.count, unit: "ratios")
            curveEvals = curveRatios.enumerated().map { i, x in
                defer { progress.update(i + 1) }
                return evaluate(pruned(parent, masks: pruneMasks(parent, ratio: x, method: method, seed: seed, scope: scope)), on: test)
            }
        }
        try writeCurve(methodCurve, l1: method == .l1 ? nil : l1Curve, evals: curveEvals)

        let summary = PruneSummary(
            model: model, architecture: parent.architecture.description, method: method, ratioRequested: ratio.description,
            ratio: r, scope: scope, seed: seed, optimal: optimal, safe: safe, safeLog: safeLog, k2: k2, k2Problem: k2Problem,
            kurtosis: kurtoses, sparsity: childSparsity, collapsed: childSparsity.collapsed,
            cosine: cosineSimilarity(parent, child), cosineFinetuned: tuned.map { cosineSimilarity(parent, $0) },
            parent: parentEval, pruned: prunedEval, finetuned: tunedEval, finetuneEpochs: finetune,
            curvePoints: l1Curve.count, curveSeconds: curveSeconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(summary)) + [0x0A], to: path("summary.json"))
        try AtomicFile.write(Array(paretoSVG(curve: l1Curve, optimal: optimal, safe: safe, chosen: r,
                                             other: method == .l1 ? nil : (method.rawValue, methodCurve),
                                             title: "\((model as NSString).lastPathComponent): cosine to parent vs prune ratio").utf8),
                             to: path("pareto.svg"))

        print(String(format: "optimal %.2f %%  safe %@  K2 %@  (L1 curve of %d points in %.1f ms)", optimal * 100,
                     safe.map { String(format: "%.2f %%", $0 * 100) } ?? "n/a", k2.map { String(format: "%.4f", $0) } ?? "n/a",
                     l1Curve.count, curveSeconds * 1000))
        print(resultTable(parent: parentEval, pruned: prunedEval, finetuned: tunedEval, ratio: r, sparsity: childSparsity.global))
        print("wrote \(out)/{curve.csv, summary.json, pruned.safetensors\(tuned == nil ? "" : ", finetuned.safetensors"), pareto.svg}")
    }

    func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }

    func writeCurve(_ curve: [CurvePoint], l1: [CurvePoint]?, evals: [Evaluation]?) throws {
        var csv = "ratio,cosine" + (l1 == nil ? "" : ",cosine_l1") + (evals == nil ? "" : ",accuracy,loss") + "\n"
        for (i, p) in curve.enumerated() {
            csv += String(format: "%.2f,%.8f", p.ratio, p.cosine)
            if let l1 { csv += String(format: ",%.8f", l1[i].cosine) }
            if let e = evals?[i] { csv += String(format: ",%.6f,%.6f", e.accuracy, e.loss) }
            csv += "\n"
        }
        try AtomicFile.write(Array(csv.utf8), to: path("curve.csv"))
    }
}

struct PruneSummary: Codable {
    var model: String
    var architecture: String
    var method: PruneMethod
    var ratioRequested: String
    var ratio: Double
    var scope: PruneScope
    var seed: UInt64
    var optimal: Double
    var safe: Double?
    var safeLog: SafeLog?
    var k2: Double?
    var k2Problem: String?
    var kurtosis: [TensorKurtosis]
    var sparsity: Sparsity
    var collapsed: [String]
    var cosine: Double
    var cosineFinetuned: Double?
    var parent: Evaluation
    var pruned: Evaluation
    var finetuned: Evaluation?
    var finetuneEpochs: Int
    var curvePoints: Int
    var curveSeconds: Double
}

/// The table the paper's notebook prints: accuracy and loss of the parent, the
/// pruned and the fine-tuned net, and how much was pruned.
func resultTable(parent: Evaluation, pruned: Evaluation, finetuned: Evaluation?, ratio: Double, sparsity: Double) -> String {
    var rows = [("parent", parent, 0.0), ("pruned", pruned, sparsity)]
    if let finetuned { rows.append(("fine-tuned", finetuned, sparsity)) }
    func pad(_ t: String, _ n: Int) -> String { t + String(repeating: " ", count: max(0, n - t.count)) }
    var s = pad("model", 12) + "  accuracy      loss    pruned\n"
    for (name, e, sp) in rows {
        s += pad(name, 12) + String(format: "%8.2f %% %9.4f %7.2f %%\n", e.accuracy * 100, e.loss, sp * 100)
    }
    return s + String(format: "(prune ratio %.4f)", ratio)
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}
