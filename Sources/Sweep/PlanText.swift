import Datasets
import Foundation
import NeuralNet
import ProgressOutput

/// `prunesweep plan`: task counts, the first tasks, and the work in image passes
/// with a time estimate from this machine's measured LeNet5 / MLP throughput.
public func planText(_ s: SweepFile, show: Int) -> String {
    let g = TaskGraph(s)
    var lines = ["sweep \(s.name) (\(s.path), hash \(s.hash.prefix(12)))"]
    lines.append("axes: " + s.axes.map { "\($0.name) [\($0.values.map(\.description).joined(separator: ", "))]" }.joined(separator: "; "))
    if !s.zips.isEmpty { lines.append("zipped: " + s.zips.map { $0.joined(separator: "+") }.joined(separator: "; ")) }
    for k in TaskKind.allCases { lines.append("\(k.rawValue) tasks: \(g.counts[k] ?? 0)") }
    lines.append("total tasks: \(g.tasks.count); group size \(s.groupSize); \(s.threads) BLAS thread(s) per rank")
    var seconds = 0.0, passes = 0.0
    var counts: [String: Int] = [:]   // a CIFAR directory's from its file sizes; else MNIST's 60,000
    func trainCount(_ dir: String) -> Int {
        if let n = counts[dir] { return n }
        let n = ImageData.trainCount(directory: dir) ?? 60_000
        counts[dir] = n
        return n
    }
    for t in g.tasks {
        let (arch, training, data): (Architecture, TrainingSettings, DataSpec)
        switch t.spec {
        case .parent(let p), .teacher(let p): (arch, training, data) = (p.arch, p.training, p.data)
        case .trial(let p): (arch, training, data) = (p.parent.arch, p.finetune, p.parent.data)
        case .round(let r): (arch, training, data) = (r.dense.arch, r.dense.training, r.dense.data)
        }
        let n = Double(data.trainSubset ?? trainCount(data.dir))
        let rate = arch == .lenet5 ? 10_000.0 : 50_000.0   // training images/s on one core here
        passes += n * Double(training.epochs) * (t.round?.measuresStability == true ? 2 : 1)
        seconds += n * Double(training.epochs) * (t.round?.measuresStability == true ? 2 : 1) / rate + (t.kind == .trial ? 2 : 1)   // plus evaluation and metrics
    }
    lines.append(String(format: "work: %.2g training image passes; about %@ on 1 rank, %@ on 2", passes, formatDuration(seconds), formatDuration(seconds / 2)))
    lines.append("first tasks:")
    for t in g.tasks.prefix(show) { lines.append("  \(t.id)  \(t.label)" + (t.needs.isEmpty ? "" : "  needs \(t.needs.joined(separator: ", "))")) }
    return lines.joined(separator: "\n")
}
