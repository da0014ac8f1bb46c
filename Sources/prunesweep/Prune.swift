import ArgumentParser
import Cluster
import Foundation
import NeuralNet
import ProgressOutput
import Pruning
import Reports
import Safetensors

extension PruneMethod: ExpressibleByArgument {}

extension Ratio: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a model (global L1, random or layer-wise), find the optimal and safe ratios, fine-tune with the mask held.",
        discussion: """
        The step a sweep trial takes, by hand. Writes to --out: curve.csv, summary.json, pruned.safetensors, \
        finetuned.safetensors (with <name>_mask tensors) and pareto.svg, and prints the parent / pruned / fine-tuned table. \
        Fine-tuning: --epochs (default 1, the paper's protocol; 0: none) at --lr (default 0.01: the parent ends its \
        cosine schedule near 0, and a large step undoes it).
        """)

    @Argument(help: "The parent: a model prunesweep wrote, or any checkpoint (.safetensors file, directory, model.safetensors.index.json).") var model: String
    @Option(help: "The architecture of a checkpoint prunesweep did not write (its tensors under PyTorch's names): loaded as that model and fine-tuned. Without it, a checkpoint is pruned by global L1 and written in its own layout, without fine-tuning.")
    var arch: Architecture?
    @Flag(name: .customLong("save-masks"), help: "With a checkpoint: also write masks/<shard> (a U8 tensor per pruned tensor, 1 kept, 0 pruned).") var saveMasks = false
    @OptionGroup var checkpointScope: ScopeOptions
    @Option(help: "l1 (global magnitude, the paper's), random (the control) or layerwise.") var method: PruneMethod = .l1
    @Option(help: "A ratio in [0, 1], or optimal (nearest the utopia on the L1 cosine curve), or safe (optimal / log K2).") var ratio: Ratio = .optimal
    @Option(help: .hidden) var finetune: Int?
    @Option(help: "Output directory.") var out: String = "prune-out"
    @Flag(name: .customLong("eval-curve"), help: "Also test every ratio of the curve (unfine-tuned): accuracy and loss columns in curve.csv.") var evalCurve = false
    @OptionGroup var pruneScope: PruneScopeOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if let finetune, finetune < 0 { throw ValidationError("--finetune must be >= 0") }
    }

    var scope: PruneScope { pruneScope.scope }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        if checkpoint.shards.count == 1, checkpoint.shards[0].layout.metadata["architecture"] != nil {
            try prune(try Model.load(path: model))
        } else if let arch {
            let test = try dataOptions.load(.test)
            try prune(try Model(checkpoint: checkpoint, architecture: arch, for: test))
        } else {
            try prune(checkpoint)
        }
    }

    /// Any checkpoint, in its own layout: global L1 over the tensors in scope, streamed; no fine-tuning.
    func prune(_ c: Checkpoint) throws {
        guard method == .l1 else { throw ValidationError("a checkpoint is pruned by global L1 only (--method l1), unless --arch loads it as a model") }
        let world = try World.initialize()
        let a = try CheckpointAnalysis.run(c, scope: checkpointScope.scope, group: world, cutAt: ratio)
        guard world.rank == 0, let cut = a.cut else { return }
        let existed = FileManager.default.fileExists(atPath: out)
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try CheckpointPruning.write(c, cut: cut, to: out, metadata: [
                "pruned_by": "prunesweep \(toolVersion)", "prune_method": "l1", "prune_ratio": "\(cut.ratio)",
                "prune_requested": ratio.description, "pruned_entries": "\(cut.count)", "pruned_of": "\(a.parametersInScope)",
            ], masks: saveMasks)
        } catch {
            if !existed { try? FileManager.default.removeItem(atPath: out) }
            throw error
        }
        print(String(format: "pruned %d of %d entries in scope (ratio %.4f; optimal %.2f %%, safe %@); no fine-tuning without --arch",
                     cut.count, a.parametersInScope, cut.ratio, a.optimal * 100, a.safe.map { String(format: "%.2f %%", $0 * 100) } ?? "n/a"))
        print("wrote \(out)/ (\(c.shards.count) file(s)\(c.indexPath == nil ? "" : " and the index")\(saveMasks ? ", masks/" : ""))")
    }

    /// A model of a known architecture: the paper's step with fine-tuning, as the sweep takes it.
    func prune(_ parent: Model) throws {
        var settings = try training.settings(epochs: 1, lr: 0.01)
        if let finetune { settings.epochs = finetune }   // the older name of --epochs
        let seed = training.seed
        try scope.check(parent)
        let test = try dataOptions.load(.test)
        try check(parent, fits: test, path: model)
        let train = settings.epochs > 0 ? try dataOptions.load(.train) : nil

        // The paper's analysis: always on the global L1 curve, whatever method prunes.
        let started = Date()
        let analysis = RatioAnalysis.analyse(parent, scope: scope)
        let curveSeconds = Date().timeIntervalSince(started)
        if let p = analysis.problem { warn("no safe ratio: \(p)") }
        let r = try analysis.resolve(ratio)

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let cut = PrunedNet(parent: parent, ratio: r, method: method, seed: seed, scope: scope, test: test)
        let parentEval = evaluate(parent, on: test)
        let childSparsity = sparsity(cut.model)
        for name in childSparsity.collapsed { warn("layer collapse: \(name) is pruned to 100 %") }
        let meta = ["parent": model, "method": method.rawValue, "ratio": String(r), "seed": String(seed)]
        try cut.model.save(to: path("pruned.safetensors"), metadata: meta)

        var tuned: FineTuned?
        if let train {
            let report = TrainingReport("fine-tune", model: cut.model)
            let t = try cut.fineTune(on: train, test: test, settings: settings, seed: seed, onBatch: report.batch) { e, s in
                report.epoch(e, s, of: settings.epochs)
            }
            try t.model.save(to: path("finetuned.safetensors"), metadata: meta.merging(["finetune_epochs": String(settings.epochs)]) { $1 })
            tuned = t
        }

        let methodCurve = method == .l1 ? analysis.curve : cosineCurve(parent, method: method, seed: seed, scope: scope)
        var curveEvals: [Evaluation]?
        if evalCurve {
            let progress = ProgressLine("eval-curve", total: analysis.curve.count, unit: "ratios")
            curveEvals = analysis.curve.enumerated().map { i, p in
                defer { progress.update(i + 1) }
                return evaluate(pruned(parent, masks: pruneMasks(parent, ratio: p.ratio, method: method, seed: seed, scope: scope)), on: test)
            }
        }
        try writeCurve(methodCurve, l1: method == .l1 ? nil : analysis.curve, evals: curveEvals)

        let summary = PruneSummary(
            model: model, architecture: parent.architecture.description, method: method, ratioRequested: ratio.description,
            ratio: r, scope: scope, seed: seed, optimal: analysis.optimal, safe: analysis.safe, safeLog: analysis.safeLog,
            k2: analysis.k2, k2Problem: analysis.problem, kurtosis: analysis.perTensorKurtosis, sparsity: childSparsity,
            collapsed: childSparsity.collapsed, cosine: cut.cosine, cosineFinetuned: tuned.map { cosineSimilarity(parent, $0.model) },
            parent: parentEval, pruned: cut.evaluation, finetuned: tuned?.evaluation, finetuneEpochs: settings.epochs,
            curvePoints: analysis.curve.count, curveSeconds: curveSeconds)
        try writeJSON(summary, to: path("summary.json"))
        let svg = Plots.cosineCurve(analysis.curve, optimal: analysis.optimal, safe: analysis.safe, chosen: r,
                                    other: method == .l1 ? nil : (method.rawValue, methodCurve),
                                    title: "\((model as NSString).lastPathComponent): cosine to parent vs prune ratio")
        try AtomicFile.write(Array(svg.utf8), to: path("pareto.svg"))

        print(String(format: "optimal %.2f %%  safe %@  K2 %@  (L1 curve of %d points in %.1f ms)", analysis.optimal * 100,
                     analysis.safe.map { String(format: "%.2f %%", $0 * 100) } ?? "n/a", analysis.k2.map { String(format: "%.4f", $0) } ?? "n/a",
                     analysis.curve.count, curveSeconds * 1000))
        print(resultTable(parent: parentEval, pruned: cut.evaluation, finetuned: tuned?.evaluation, ratio: r, sparsity: childSparsity.global))
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
