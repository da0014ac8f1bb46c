import Distillation
import Foundation
import Logging
import SeededRandom

/// How long a simulated task takes: `0`, `const:S`, `exp:MEAN` (a bare number
/// is an exponential mean), `uniform:A:B` or `lognormal:MEAN:SIGMA`.
public enum TaskSeconds: Sendable, CustomStringConvertible {
    case constant(Double), exponential(mean: Double), uniform(Double, Double), lognormal(mean: Double, sigma: Double)

    public init?(_ text: String) {
        let parts = text.split(separator: ":").map(String.init)
        let xs = parts.dropFirst().compactMap(Double.init)
        guard xs.count == parts.count - 1, xs.allSatisfy({ $0 >= 0 && $0.isFinite }) else { return nil }
        switch (parts.first, xs.count) {
        case ("const", 1): self = .constant(xs[0])
        case ("exp", 1): self = .exponential(mean: xs[0])
        case ("uniform", 2) where xs[0] <= xs[1]: self = .uniform(xs[0], xs[1])
        case ("lognormal", 2): self = .lognormal(mean: xs[0], sigma: xs[1])
        case (let p?, 0): guard let m = Double(p), m >= 0, m.isFinite else { return nil }; self = m == 0 ? .constant(0) : .exponential(mean: m)
        default: return nil
        }
    }

    public var mean: Double {
        switch self {
        case .constant(let s): s
        case .exponential(let m), .lognormal(let m, _): m
        case .uniform(let a, let b): (a + b) / 2
        }
    }

    public var description: String {
        switch self {
        case .constant(let s): "const:\(s)"
        case .exponential(let m): "exp:\(m)"
        case .uniform(let a, let b): "uniform:\(a):\(b)"
        case .lognormal(let m, let s): "lognormal:\(m):\(s)"
        }
    }

    func draw(_ r: inout RandomStream) -> Double {
        let u = Double(r.next() >> 11) * 0x1p-53
        switch self {
        case .constant(let s): return s
        case .exponential(let m): return -m * log(1 - u)
        case .uniform(let a, let b): return a + (b - a) * u
        case .lognormal(let m, let s):   // mean m: mu = ln m - s^2/2
            let z = Double(r.normal())
            return exp(log(max(m, 1e-300)) - s * s / 2 + s * z)
        }
    }
}

/// What `SchedulerSimulation.run` measured.
public struct SimulationReport: Sendable {
    public var ranks = 0, tasks = 0, handOuts = 0, done = 0, failed = 0, skipped = 0, requests = 0
    /// Virtual seconds from the first request to the last leader's stop.
    public var makespan = 0.0
    /// Coordinator seconds (measured): requests decoded, handled and answered, durable lines counted.
    public var coordinatorBusy = 0.0
    /// Leader seconds spent between asking for work and getting a task.
    public var workerIdle = 0.0
    public var journalLines = 0, journalBytes = 0, fsyncs = 0
    /// Real seconds the journal's writer thread spent encoding, writing and syncing.
    public var journalSeconds = 0.0
    public var wallSeconds = 0.0, graphSeconds = 0.0

    public var handOutsPerSecond: Double { Double(handOuts) / max(makespan, 1e-12) }
    public var busyFraction: Double { coordinatorBusy / max(makespan, 1e-12) }
    public var idleFraction: Double { workerIdle / max(Double(ranks) * makespan, 1e-12) }
}

/// The real `Scheduler`, `Coordinator` and `Journal` driven by `ranks`
/// simulated group leaders in one process, in virtual time. Each request is
/// what a leader sends over MPI (a `WorkRequest` as JSON, with the previous
/// task's `ResultRecord`); the coordinator decodes it, handles it and encodes
/// the reply as the MPI listener does, and that measured time is the request's
/// service time: the coordinator serves one request at a time, so a request
/// arriving while it is busy queues. Task times are drawn from the task's own
/// id (so they do not depend on `ranks`); some fail, some straggle. The journal
/// is real: lines are group-committed on its writer thread in real time, and
/// the time the coordinator spends counting durable lines is added to its busy
/// time. A leader with nothing to do is parked, as over MPI, and answered once
/// a task is ready; lines queued before are then durable (an fsync takes a
/// few ms here: see the fsync figures).
public enum SchedulerSimulation {
    public struct Settings: Sendable {
        public var ranks: Int
        public var tasks: Int
        public var taskSeconds: TaskSeconds
        public var failureRate = 0.001
        public var stragglerRate = 0.01
        public var stragglerFactor = 10.0
        public var seed: UInt64 = 1
        public init(ranks: Int, tasks: Int, taskSeconds: TaskSeconds) { self.ranks = ranks; self.tasks = tasks; self.taskSeconds = taskSeconds }
    }

    /// A sweep of about `tasks` tasks: seeds of one parent and up to 999 trials each.
    public static func sweepText(tasks: Int) -> String {
        let seeds = max(1, (tasks + 999) / 1000)
        let trials = max(1, tasks / seeds - 1)
        let ratios = (0..<trials).map { String(format: "%.6f", Double($0) / Double(trials)) }.joined(separator: ",")
        return "name = \"scheduler-sim\"\n[axes]\nseeds = [\((0..<seeds).map(String.init).joined(separator: ","))]\nratios = [\(ratios)]\nteachers = [\"none\"]\nmethods = [\"l1\"]\n"
    }

    public static func run(_ s: Settings, journalPath: String, logger: Logger) throws -> SimulationReport {
        let wall = Date()
        let graph = TaskGraph(try SweepFile.parse(bytes: Array(sweepText(tasks: s.tasks).utf8), path: "simulated.toml"))
        var report = SimulationReport()
        report.graphSeconds = Date().timeIntervalSince(wall)
        report.ranks = s.ranks
        let journal = try Journal(path: journalPath)
        let coordinator = Coordinator(scheduler: Scheduler(graph: graph), journal: journal, leaders: Array(0..<s.ranks), maxFailures: nil, logger: logger)
        report.tasks = coordinator.scheduler.total
        let busyBefore = coordinator.durableSeconds

        // leaders by the virtual time they next ask; each carries its last result
        var asks = Heap<(Double, Int)>(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) })
        for w in 0..<s.ranks { asks.push((0, w)) }
        var result = [JournalLine?](repeating: nil, count: s.ranks)
        var since = [Double](repeating: 0, count: s.ranks)   // when it started waiting for work
        var coordinatorFree = 0.0, durableSeen = busyBefore
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        var parked = 0
        // A reply reaches leader w at virtual time `at`: it stops, or runs its task and asks again when done.
        func deliver(_ answer: Data, to w: Int, at: Double) throws {
            let reply = try decoder.decode(WorkReply.self, from: answer)
            report.workerIdle += at - since[w]
            if reply.stop != nil { report.makespan = max(report.makespan, at); return }
            guard let task = reply.task.flatMap({ graph[$0] }) else { throw SweepError("simulation: leader \(w) got neither a task nor stop") }
            report.handOuts += 1
            let record = outcome(task, leader: w, s)
            result[w] = try JournalLine(record)
            let seconds = record.seconds
            since[w] = at + seconds
            asks.push((at + seconds, w))
        }
        // The coordinator's time on durable lines since last looked at is time it was busy.
        func countDurable() {
            let d = coordinator.durableSeconds
            coordinatorFree += d - durableSeen; report.coordinatorBusy += d - durableSeen; durableSeen = d
        }
        // Parked leaders that now have a task or must stop: the listener answers them (encoding the reply).
        func wakeParked() throws {
            guard parked > 0 else { return }
            try journal.flush()   // an fsync takes a few ms here: durable before the next request, virtually
            countDurable()
            let clock = DispatchTime.now().uptimeNanoseconds
            let woken = try coordinator.wake().map { ($0.leader, try encoder.encode($0.reply)) }
            let service = Double(DispatchTime.now().uptimeNanoseconds - clock) * 1e-9
            report.coordinatorBusy += service
            coordinatorFree += service
            parked -= woken.count
            for (w, answer) in woken { try deliver(answer, to: w, at: coordinatorFree) }
        }
        while true {
            try wakeParked()
            guard let (t, w) = asks.pop() else {
                guard parked == 0 else { throw SweepError("simulation: \(parked) leaders parked with nothing left to run") }
                break
            }
            let request = try WorkRequest(leader: w, line: result[w]).message()
            result[w] = nil
            countDurable()
            let start = max(t, coordinatorFree)
            let clock = DispatchTime.now().uptimeNanoseconds
            let answer = try coordinator.handleParking(try WorkRequest(message: request)).map { try encoder.encode($0) }
            let service = Double(DispatchTime.now().uptimeNanoseconds - clock) * 1e-9
            report.coordinatorBusy += service
            report.requests += 1
            coordinatorFree = start + service
            if let answer { try deliver(answer, to: w, at: coordinatorFree) } else { parked += 1 }
        }
        try coordinator.drain()
        report.done = coordinator.scheduler.count(.done)
        report.failed = coordinator.scheduler.count(.failed)
        report.skipped = coordinator.scheduler.count(.skipped)
        let written = journal.written
        (report.journalLines, report.journalBytes, report.fsyncs, report.journalSeconds) = (written.lines, written.bytes, written.fsyncs, written.seconds)
        report.wallSeconds = Date().timeIntervalSince(wall)
        return report
    }

    /// What running `task` gave: its time from the task's own stream, sometimes a failure or a straggler.
    static func outcome(_ task: SweepTask, leader: Int, _ s: Settings) -> ResultRecord {
        var random = RandomStream("scheduler-sim", s.seed, task.id)
        var seconds = s.taskSeconds.draw(&random)
        let u = Double(random.next() >> 11) * 0x1p-53
        var record = ResultRecord(task, status: .done, metrics: metrics(task, &random))
        if u < s.failureRate {
            record.status = .failed; record.metrics = nil; record.error = "simulated failure"
            seconds *= Double(random.next() >> 11) * 0x1p-53
        } else if u < s.failureRate + s.stragglerRate {
            seconds *= s.stragglerFactor
        }
        record.seconds = seconds
        record.rank = leader
        record.host = "sim\(leader / 128)"
        record.finished = "2026-01-01T00:00:00Z"
        return record
    }

    /// Metrics of the size a real task journals (a LeNet5's tensors), values drawn from the task.
    static func metrics(_ task: SweepTask, _ r: inout RandomStream) -> TaskMetrics {
        func x() -> Double { Double(r.next() >> 11) * 0x1p-53 }
        let tensors = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
        guard case .trial(let spec) = task.spec else {
            return .train(TrainMetrics(accuracy: x(), loss: x(), trainLoss: x(), optimalRatio: x(), safeRatio: x(), k2: 2 + x(),
                                       kurtosisPerTensor: Dictionary(uniqueKeysWithValues: tensors.map { ($0, 3 + x()) })))
        }
        let f = FunctionalMetrics(examples: 10000, accuracyA: x(), accuracyB: x(), agreement: x(), jensenShannon: x(), activationDistance: x(),
                                  linearCKA: x(), normalizedBures: x(), errorCopy: x(), rightAgreement: x(), wrongByA: 1000)
        var ratio = x()
        if case .fixed(let v) = spec.ratio { ratio = v }
        return .trial(TrialMetrics(ratio: ratio, cosine: x(), accuracyBefore: x(), lossBefore: x(), accuracyAfter: x(), lossAfter: x(),
                                   trainLoss: x(), sparsity: x(), sparsityPerTensor: Dictionary(uniqueKeysWithValues: tensors.map { ($0, x()) }),
                                   collapsed: [], k2: 2 + x(), optimalRatio: x(), safeRatio: x(), parent: f, teacher: nil))
    }
}
