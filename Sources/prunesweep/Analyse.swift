import ArgumentParser
import Cluster
import Foundation
import Pruning
import Reports
import Safetensors
import TensorStore

extension Communicator: RankGroup {}

struct Analyse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The paper's data-free analysis of any safetensors checkpoint: cosine curve, optimal and safe ratios, kurtosis, K2.",
        discussion: """
        PATH is a .safetensors file, a directory of them, or a Hugging Face sharded checkpoint \
        (model.safetensors.index.json and its shards). F32, F64, F16 and BF16 tensors are read, streamed \
        (no whole-model copy, no sort); under mpirun -np N the ranks split the tensors, with the same results. \
        Scope: every floating-point tensor named *.weight or *.bias, or as --include / --exclude say. \
        Writes to --out: summary.json, curve.csv, tensors.csv, tensors.md and pareto.svg.
        """)

    @Argument(help: "A .safetensors file, a directory of them, or a model.safetensors.index.json.") var path: String
    @OptionGroup var scope: ScopeOptions
    @Option(help: "Output directory.") var out: String = "analyse-out"

    func run() throws {
        let world = try World.initialize()
        let started = Date()
        let checkpoint: Checkpoint, analysis: CheckpointAnalysis
        do {
            checkpoint = try Checkpoint.open(path)
            analysis = try CheckpointAnalysis.run(checkpoint, scope: scope.scope, group: world)
        } catch {
            if world.rank == 0 { FileHandle.standardError.write(Data("prunesweep analyse: \(error)\n".utf8)) }
            throw ExitCode(2)
        }
        let hashes = try fileHashes(checkpoint, world)
        guard world.rank == 0 else { return }
        FileHandle.standardError.write(Data(String(format: "analysed in %.3f s on %d rank(s)\n", Date().timeIntervalSince(started), world.size).utf8))
        for t in analysis.tensors where t.note != nil { print("left out\(t.inScope ? " of K2" : ""): \(t.name) (\(t.dtype.rawValue) \(t.shape)): \(t.note ?? "")") }
        try write(analysis, checkpoint: checkpoint, hashes: hashes, ranks: world.size)
        print(summaryTable(analysis))
        print("wrote \(out)/{summary.json, curve.csv, tensors.csv, tensors.md, pareto.svg}")
    }

    /// CRC-32 of every file of the checkpoint, the shards split over the ranks.
    func fileHashes(_ c: Checkpoint, _ world: Communicator) throws -> [String] {
        var crcs = [Double](repeating: 0, count: c.shards.count)
        for (i, s) in c.shards.enumerated() where i % world.size == world.rank { crcs[i] = Double(try Checksum.crc32(file: s.path)) }
        try world.allreduceSum(&crcs)
        return crcs.map { Checksum.format(UInt32($0)) }
    }

    func write(_ a: CheckpointAnalysis, checkpoint c: Checkpoint, hashes: [String], ranks: Int) throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
        let summary = CheckpointSummary(self.path, a, index: c.indexPath,
                                        files: zip(c.shards, hashes).map { .init(path: $0.path, bytes: $0.size, crc32: $1) }, scope: scope.scope, ranks: ranks)
        try writeJSON(summary, to: path("summary.json"))
        try AtomicFile.write(Array(("ratio,cosine\n" + a.curve.map { String(format: "%.2f,%.17g", $0.ratio, $0.cosine) }.joined(separator: "\n") + "\n").utf8), to: path("curve.csv"))
        func num(_ v: Double?) -> String { v.map { String(format: "%.17g", $0) } ?? "" }
        var csv = "name,dtype,shape,count,in_scope,kurtosis,sparsity_optimal,sparsity_safe,note\n"
        var md = "| tensor | dtype | shape | count | kurtosis | sparsity at optimal | sparsity at safe | note |\n|---|---|---|---:|---:|---:|---:|---|\n"
        for t in a.tensors {
            let shape = t.shape.map(String.init).joined(separator: "x")
            csv += [csvField(t.name), t.dtype.rawValue, shape, String(t.count), String(t.inScope), num(t.kurtosis), num(t.sparsityOptimal), num(t.sparsitySafe), csvField(t.note ?? "")].joined(separator: ",") + "\n"
            func pct(_ v: Double?) -> String { v.map { String(format: "%.2f %%", $0 * 100) } ?? "–" }
            md += "| \(t.name.replacingOccurrences(of: "|", with: "\\|")) | \(t.dtype.rawValue) | \(shape) | \(t.count) | \(t.kurtosis.map { String(format: "%.4f", $0) } ?? "–") | \(pct(t.sparsityOptimal)) | \(pct(t.sparsitySafe)) | \(t.note ?? "") |\n"
        }
        try AtomicFile.write(Array(csv.utf8), to: path("tensors.csv"))
        try AtomicFile.write(Array(md.utf8), to: path("tensors.md"))
        let svg = Plots.cosineCurve(a.curve, optimal: a.optimal, safe: a.safe, chosen: a.optimal, other: nil,
                                    title: "\((self.path as NSString).lastPathComponent): cosine to the unpruned weights vs prune ratio")
        try AtomicFile.write(Array(svg.utf8), to: path("pareto.svg"))
    }

    func summaryTable(_ a: CheckpointAnalysis) -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f %%", $0 * 100) } ?? "n/a" }
        return """
            parameters in scope   \(a.parametersInScope) (out of scope: \(a.parametersOutOfScope))
            optimal ratio         \(pct(a.optimal))  cosine \(String(format: "%.4f", a.cosineOptimal))
            safe ratio            \(pct(a.safe))\(a.cosineSafe.map { String(format: "  cosine %.4f", $0) } ?? "")
            K2                    \(a.k2.map { String(format: "%.4f", $0) } ?? "n/a (\(a.problem ?? ""))")
            """
    }
}

/// --include / --exclude, shared by analyse and prune.
struct ScopeOptions: ParsableArguments {
    @Option(help: "Analyse only tensors whose names match this glob (repeatable; default: *.weight and *.bias).") var include: [String] = []
    @Option(help: "Leave out tensors whose names match this glob (repeatable).") var exclude: [String] = []
    var scope: CheckpointScope { CheckpointScope(include: include, exclude: exclude) }
}

func csvField(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"\(s.replacingOccurrences(of: "\"", with: "\"\""))\"" : s }
