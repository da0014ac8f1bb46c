import ArgumentParser
import NeuralNet

@main
struct Prunesweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproducible sweeps of pruning and knowledge-distillation experiments.",
        version: toolVersion,
        subcommands: [Train.self, Eval.self, Prune.self, Imp.self, Lmc.self, Analyse.self, Distill.self, Compare.self, Run.self, Plan.self, Report.self, Store.self, Bench.self])

    static func main() {
        Compute.keepFreedMemory()
        main(nil)
    }
}

let toolVersion = "0.1.0"
