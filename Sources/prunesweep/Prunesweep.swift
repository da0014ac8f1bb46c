import ArgumentParser

@main
struct Prunesweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproducible sweeps of pruning and knowledge-distillation experiments.",
        version: toolVersion,
        subcommands: [Train.self, Eval.self, Run.self, Plan.self])
}

let toolVersion = "0.1.0"
