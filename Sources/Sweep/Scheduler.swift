/// Which tasks may run now. A task is ready when every task it needs is done;
/// when a needed task fails or is skipped, its dependents are skipped.
/// Pure bookkeeping: the coordinator on rank 0 drives it. Every call costs
/// O(log n) (a heap of ready tasks, counts kept as states change), so one
/// coordinator keeps up with a million tasks (see `bench scheduler --simulate-ranks`).
public final class Scheduler {
    public enum State: Equatable { case pending, running, done, failed, skipped }

    let graph: TaskGraph
    /// By graph index; nil for a task this scheduler does not run (another shard's).
    private var states: [State?]
    private var counts: [State: Int] = [:]
    /// Hand-out order: parents and teachers first (they unblock many trials),
    /// then trials in grid order. A task's place in that order, by graph index.
    private var place: [Int32]
    /// Needs not yet done, by graph index.
    private var waiting: [Int32]
    private var dependents: [[Int32]]
    /// Pending tasks whose needs are all done: a min-heap of places.
    private var ready = Heap<Int32>(by: <)
    private var byPlace: [Int32]

    public init(graph: TaskGraph, finished: [String: State] = [:], only: Set<String>? = nil) {
        self.graph = graph
        let n = graph.tasks.count
        states = Array(repeating: nil, count: n)
        waiting = Array(repeating: 0, count: n)
        dependents = Array(repeating: [], count: n)
        place = Array(repeating: 0, count: n)
        // a task that is wanted needs its dependencies too
        var wanted = graph.tasks.indices.filter { only?.contains(graph.tasks[$0].id) ?? true }
        var isWanted = Array(repeating: only == nil, count: n)
        for i in wanted { isWanted[i] = true }
        var k = only == nil ? wanted.count : 0   // all wanted already
        while k < wanted.count {
            for need in graph.tasks[wanted[k]].needs { if let j = graph.index[need], !isWanted[j] { isWanted[j] = true; wanted.append(j) } }
            k += 1
        }
        let chosen = graph.tasks.indices.filter { isWanted[$0] }
        byPlace = (chosen.filter { graph.tasks[$0].kind != .trial } + chosen.filter { graph.tasks[$0].kind == .trial }).map(Int32.init)
        for (p, i) in byPlace.enumerated() { place[Int(i)] = Int32(p) }
        for i in chosen {
            let s = finished[graph.tasks[i].id] ?? .pending
            states[i] = s
            counts[s, default: 0] += 1
        }
        for i in chosen {
            for need in graph.tasks[i].needs {
                guard let j = graph.index[need] else { continue }
                dependents[j].append(Int32(i))
                if states[j] != .done { waiting[i] += 1 }
            }
        }
        for i in byPlace where states[Int(i)] == .pending && waiting[Int(i)] == 0 { ready.push(place[Int(i)]) }
    }

    public func count(_ s: State) -> Int { counts[s] ?? 0 }
    public var total: Int { byPlace.count }
    public var isComplete: Bool { count(.pending) == 0 && count(.running) == 0 }
    /// Some task may be ready (`next` may still find the ones queued were skipped).
    public var hasReady: Bool { !ready.isEmpty }
    public func state(of id: String) -> State? { graph.index[id].flatMap { states[$0] } }

    /// A ready task, now marked running; nil when none is ready yet.
    public func next() -> SweepTask? {
        while let p = ready.pop() {
            let i = Int(byPlace[Int(p)])
            guard states[i] == .pending, waiting[i] == 0 else { continue }   // skipped or handed out since
            set(i, .running)
            return graph.tasks[i]
        }
        return nil
    }

    /// Records a finished task; returns the tasks skipped because of it.
    @discardableResult
    public func finish(_ id: String, _ outcome: State) -> [SweepTask] {
        guard let i = graph.index[id], states[i] != nil else { return [] }
        return finish(i, outcome)
    }

    private func finish(_ i: Int, _ outcome: State) -> [SweepTask] {
        let was = states[i]
        set(i, outcome)
        if outcome == .done {
            guard was != .done else { return [] }
            for d in dependents[i].map(Int.init) {
                waiting[d] -= 1
                if waiting[d] == 0, states[d] == .pending { ready.push(place[d]) }
            }
            return []
        }
        guard outcome == .failed || outcome == .skipped else { return [] }
        var skipped: [SweepTask] = []
        for d in dependents[i].map(Int.init) where states[d] == .pending {
            skipped.append(graph.tasks[d])
            skipped += finish(d, .skipped)
        }
        return skipped
    }

    /// A running task goes back to pending (its worker stopped before finishing it).
    public func requeue(_ id: String) {
        guard let i = graph.index[id], states[i] == .running else { return }
        set(i, .pending)
        if waiting[i] == 0 { ready.push(place[i]) }
    }

    private func set(_ i: Int, _ s: State) {
        if let old = states[i] { counts[old, default: 0] -= 1 }
        states[i] = s
        counts[s, default: 0] += 1
    }
}
