import ArgumentParser
import Cluster
import Foundation
import Logging
import NeuralNet
import Safetensors
import Sweep

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput figures (the scripts under bench/ run these beside their references).",
        subcommands: [TrainBench.self, StepBench.self, AllreduceBench.self, SchedulerBench.self, JournalBench.self])
}

/// The model, batch (global, under mpirun) and timing of a training benchmark.
struct ModelBenchOptions: ParsableArguments {
    @Option(help: "lenet5, resnet20, resnet18, vgg11_bn, vgg16_bn or mlp:W1,W2,...") var arch: Architecture = .lenet5
    @Option(help: "Batch size (global: split over the ranks under mpirun).") var batch: Int = 256
    @Option(help: "Images per timed pass.") var images: Int = 15360
    @Option(help: "Timed passes (the median is reported).") var repeats: Int = 3

    /// One epoch at a constant rate: the step the benchmarks time.
    var settings: TrainingSettings { TrainingSettings(epochs: 1, lr: 0.01, batch: batch, schedule: .constant) }

    func validate() throws {
        guard batch >= 1, images >= batch, repeats >= 1 else {
            throw ValidationError("--batch and --repeats must be at least 1, and --images at least --batch")
        }
    }
}

/// Training images/s on Fashion-MNIST (the median of timed epochs over a
/// fixed slice), with the fraction of the measured sgemm roofline reached.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Training throughput of one model.")
    @OptionGroup var options: ModelBenchOptions
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let (arch, batch, images, repeats) = (options.arch, options.batch, options.images, options.repeats)
        let data = try dataOptions.load(.train).subset(images)
        let model = Model(arch, for: data, seed: 0)
        let settings = options.settings
        try train(model, on: data.subset(batch * 4), settings: settings, seed: 0)   // warm-up
        var rates: [Double] = []
        for r in 0..<repeats {
            rates += try train(model, on: data, settings: settings, seed: 0, firstEpoch: r).map(\.imagesPerSecond)
        }
        let rate = median(rates)
        let flops = model.flopsPerImage.training
        let roof = measureSGEMM()
        print(String(format: "%@ batch %d threads %d: %.0f images/s  %.2f MFLOP/image  %.1f GFLOP/s  sgemm %.1f GFLOP/s  roofline %.1f %%  peak RSS %.0f MB",
                     arch.description, batch, dataOptions.threads, rate, flops / 1e6, flops * rate / 1e9, roof, 100 * flops * rate / 1e9 / roof,
                     peakResidentMB()))
    }
}

/// This process's peak resident memory so far.
func peakResidentMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Data-parallel training step over the world (run under mpirun -np N): step
/// time from the training loop with a `DataParallel` group, and the allreduce of
/// the model's gradient buffer timed alone, as a fraction of that step.
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "step", abstract: "Data-parallel step time and its allreduce share.")
    @OptionGroup var options: ModelBenchOptions
    @Option(name: .customLong("allreduce-repeats"), help: "Timed allreduces of the gradient buffer.") var allreduceRepeats: Int = 300
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        guard allreduceRepeats >= 1 else { throw ValidationError("--allreduce-repeats must be at least 1") }
    }

    func run() throws {
        let (arch, batch, images, repeats) = (options.arch, options.batch, options.images, options.repeats)
        let world = try World.initialize()
        let data = try dataOptions.load(.train).subset(images)
        let model = Model(arch, for: data, seed: 0)
        let settings = options.settings
        var reduceSeconds = 0.0   // inside the step: includes waiting for the slower rank
        let group = DataParallel(rank: world.rank, size: world.size, reduce: { grads in
            let t = Date()
            try world.allreduceSum(grads)
            reduceSeconds += Date().timeIntervalSince(t)
        }, reduceStatistics: { try world.allreduceSum($0) })
        try train(model, on: data.subset(batch * 4), settings: settings, seed: 0, group: group)
        let steps = Double((data.count + batch - 1) / batch)
        var stepTimes: [Double] = [], inStep: [Double] = []
        for r in 0..<repeats {
            try world.barrier()
            reduceSeconds = 0
            let s = try train(model, on: data, settings: settings, seed: 0, firstEpoch: r, group: group)
            stepTimes += s.map { $0.seconds / steps }
            inStep.append(reduceSeconds / steps)
        }
        var grads = [Float](repeating: 0, count: model.store.count)
        let alone = try timeAllreduce(world, &grads, repeats: allreduceRepeats)
        let step = median(stepTimes), reduce = median(inStep)
        guard world.rank == 0 else { return }
        print(String(format: "%@ batch %d ranks %d threads %d: step %.2f ms (%.0f images/s)  allreduce of %d floats %.3f ms = %.1f %% of the step  (in-step reduce incl. waiting %.3f ms = %.1f %%)",
                     arch.description, batch, world.size, dataOptions.threads, step * 1e3, Double(batch) / step,
                     grads.count, alone * 1e3, 100 * alone / step, reduce * 1e3, 100 * reduce / step))
    }
}

/// `Communicator.allreduceSum` on a [Float] buffer, the loop of bench/allreduce.c.
struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allreduce", abstract: "In-place float allreduce bandwidth (run under mpirun).")
    @Option(help: "Buffer size in MiB.") var mib: Double = 4
    @Option(help: "Buffer size in floats (instead of --mib).") var floats: Int?
    @Option(help: "Timed allreduces (the median is reported).") var repeats: Int = 50

    func validate() throws {
        guard mib > 0, (floats ?? 1) >= 1, repeats >= 1 else { throw ValidationError("--mib, --floats and --repeats must be positive") }
    }

    func run() throws {
        let world = try World.initialize()
        guard world.size >= 2 else { throw ValidationError("one process has nothing to reduce: run under mpirun -np N with N >= 2") }
        let count = floats ?? Int(mib * 1_048_576) / 4
        // check the sum first: every rank contributes rank + 1
        var buffer = [Float](repeating: Float(world.rank + 1), count: count)
        try world.allreduceSum(&buffer)
        let expected = Float(world.size * (world.size + 1) / 2)
        guard buffer.allSatisfy({ $0 == expected }) else { throw ValidationError("allreduce gave a wrong sum on rank \(world.rank)") }
        buffer = [Float](repeating: 0, count: count)
        let t = try timeAllreduce(world, &buffer, repeats: repeats)
        guard world.rank == 0 else { return }
        let bytes = Double(count * 4)
        print(String(format: "swift allreduceSum %.2f MiB (%d floats) x %d on %d ranks: median %.3f ms  %.2f GB/s",
                     bytes / 1_048_576, count, repeats, world.size, t * 1e3, bytes / t / 1e9))
    }
}

/// Median seconds of one in-place allreduce, each started together after a barrier.
func timeAllreduce(_ world: Communicator, _ buffer: inout [Float], repeats: Int) throws -> Double {
    for _ in 0..<3 { try world.allreduceSum(&buffer) }   // warm-up: connections, pinned pages
    var times: [Double] = []
    for _ in 0..<repeats {
        try world.barrier()
        let t = Date()
        try world.allreduceSum(&buffer)
        times.append(Date().timeIntervalSince(t))
    }
    return median(times)
}

/// The sweep engine's own cost: a sweep of one parent and `tasks - 1` trials
/// run by `Engine.run` with an executor that does nothing, so the wall time is
/// scheduling, messaging and the journal's fsync'd line per task. With
/// `--simulate-ranks N`, the coordinator alone, facing N simulated leaders in
/// virtual time (`SchedulerSimulation`).
struct SchedulerBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Sweep-engine overhead per task (no-op tasks; run under mpirun for ranks), or the coordinator against N simulated ranks.")
    @Option(help: "Tasks in the sweep (one parent plus trials; simulated: seeds of one parent and up to 999 trials).") var tasks: Int = 1000
    @Option(help: "A fresh results directory (default: a temporary one, removed afterwards).") var results: String?
    @Option(name: .customLong("simulate-ranks"), help: "Simulate this many group leaders in one process instead of running the engine.") var simulateRanks: Int?
    @Option(name: .customLong("task-seconds"), help: "Simulated task time: 0, MEAN (exponential), const:S, exp:MEAN, uniform:A:B or lognormal:MEAN:SIGMA.") var taskSeconds: String = "0"
    @Option(name: .customLong("failure-rate"), help: "Simulated: fraction of tasks that fail.") var failureRate: Double = 0.001
    @Option(name: .customLong("straggler-rate"), help: "Simulated: fraction of tasks that take 10 times as long.") var stragglerRate: Double = 0.01
    @Option(help: "Simulated: the seed of task times, failures and stragglers.") var seed: UInt64 = 1

    func validate() throws {
        guard tasks >= 2 else { throw ValidationError("--tasks must be at least 2 (one parent and a trial)") }
        if let n = simulateRanks, n < 1 { throw ValidationError("--simulate-ranks must be at least 1") }
        guard TaskSeconds(taskSeconds) != nil else {
            throw ValidationError("--task-seconds '\(taskSeconds)': expected 0, a mean, const:S, exp:MEAN, uniform:A:B or lognormal:MEAN:SIGMA (seconds >= 0)")
        }
        guard (0...1).contains(failureRate), (0...1).contains(stragglerRate), failureRate + stragglerRate <= 1 else {
            throw ValidationError("--failure-rate and --straggler-rate must be fractions in [0, 1] that add up to at most 1")
        }
        if let r = results, FileManager.default.fileExists(atPath: "\(r)/\(Self.sweepName)/results.jsonl") {
            throw ValidationError("--results \(r) already holds a \(Self.sweepName) journal; the run would resume it. Pass a fresh directory")
        }
    }

    static let sweepName = "scheduler-bench"

    func run() throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        if let ranks = simulateRanks { return try simulate(ranks: ranks) }
        let world = try World.initialize()
        // rank 0 picks the directory and writes the sweep; the engine sends its text to the others
        var dir = ""
        if world.rank == 0 {
            dir = try results ?? makeTemporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let trials = tasks - 1
            let ratios = (0..<trials).map { String(format: "%.6f", Double($0) / Double(trials)) }.joined(separator: ", ")
            let text = "name = \"\(Self.sweepName)\"\n[axes]\nseeds = [0]\nratios = [\(ratios)]\nteachers = [\"none\"]\nmethods = [\"l1\"]\n"
            try AtomicFile.write(Array(text.utf8), to: "\(dir)/sweep.toml")
        }
        dir = String(decoding: try world.broadcast(Array(dir.utf8)), as: UTF8.self)
        var o = RunOptions(sweepPath: "\(dir)/sweep.toml")
        o.resultsDir = dir
        o.toolVersion = toolVersion

        try world.barrier()
        let start = Date()
        let status = try Engine.run(o) { _ in nil }
        let seconds = Date().timeIntervalSince(start)
        guard world.rank == 0 else { return }
        let journal = (try? String(contentsOfFile: "\(dir)/\(Self.sweepName)/results.jsonl", encoding: .utf8)) ?? ""
        let lines = journal.split(separator: "\n").count
        if results == nil { try? FileManager.default.removeItem(atPath: dir) }
        guard status == .success, lines == tasks else {
            throw ValidationError("the sweep ended with \(status) and \(lines) journal lines, expected \(tasks)")
        }
        print(String(format: "scheduler: %d tasks on %d ranks (%d journal lines): wall %.3f s  %.3f ms/task",
                     tasks, world.size, lines, seconds, seconds * 1e3 / Double(tasks)))
    }

    func simulate(ranks: Int) throws {
        let dir = try results ?? makeTemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if results == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let journal = "\(dir)/simulated.jsonl"
        try? FileManager.default.removeItem(atPath: journal)
        var settings = SchedulerSimulation.Settings(ranks: ranks, tasks: tasks, taskSeconds: TaskSeconds(taskSeconds)!)
        settings.failureRate = failureRate; settings.stragglerRate = stragglerRate; settings.seed = seed
        let r = try SchedulerSimulation.run(settings, journalPath: journal, logger: Logger(label: "prunesweep"))
        guard r.done + r.failed + r.skipped == r.tasks, r.journalLines == r.tasks else {
            throw ValidationError("the simulation ended with \(r.done) done, \(r.failed) failed, \(r.skipped) skipped and \(r.journalLines) journal lines of \(r.tasks) tasks")
        }
        print(String(format: "simulated: %d ranks, %d tasks (task time %@, failures %.3f, stragglers %.3f x10): %.0f hand-outs/s  coordinator busy %.1f %%  worker idle %.1f %%  makespan %.1f s (virtual)",
                     ranks, r.tasks, settings.taskSeconds.description, failureRate, stragglerRate, r.handOutsPerSecond, 100 * r.busyFraction, 100 * r.idleFraction, r.makespan))
        print(String(format: "  %d done, %d failed, %d skipped; %d requests; journal %d lines, %.1f MB, %d fsyncs (%.1f lines per fsync), writer busy %.1f s (%.0f lines/s); graph %.1f s, wall %.1f s",
                     r.done, r.failed, r.skipped, r.requests, r.journalLines, Double(r.journalBytes) / 1e6, r.fsyncs,
                     Double(r.journalLines) / Double(max(r.fsyncs, 1)), r.journalSeconds, Double(r.journalLines) / max(r.journalSeconds, 1e-9),
                     r.graphSeconds, r.wallSeconds))
    }

    func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "prunesweep-scheduler.XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw ValidationError("cannot create a temporary directory") }
        return String(cString: p)
    }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
