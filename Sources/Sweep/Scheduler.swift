/// Which tasks may run now. A task is ready when every task it needs is done;
/// when a needed task fails or is skipped, its dependents are skipped.
/// Pure bookkeeping: the coordinator on rank 0 drives it.
public final class Scheduler {
    public enum State: Equatable { case pending, running, done, failed, skipped }

    let graph: TaskGraph
    public private(set) var state: [String: State] = [:]
    /// Pending tasks in the order they are handed out: parents and teachers
    /// first (they unblock many trials), then trials in grid order.
    private var queue: [String]
    private var dependents: [String: [String]] = [:]

    public init(graph: TaskGraph, finished: [String: State] = [:], only: Set<String>? = nil) {
        self.graph = graph
        var wanted = graph.tasks.filter { only?.contains($0.id) ?? true }
        // a task that is wanted needs its dependencies too, and theirs (IMP rounds form chains)
        var ids = Set(wanted.map(\.id))
        var i = 0
        while i < wanted.count {
            for n in wanted[i].needs where ids.insert(n).inserted { if let d = graph[n] { wanted.append(d) } }
            i += 1
        }
        wanted.sort { (graph.index[$0.id] ?? 0) < (graph.index[$1.id] ?? 0) }
        queue = wanted.filter { $0.kind != .trial }.map(\.id) + wanted.filter { $0.kind == .trial }.map(\.id)
        for t in wanted {
            state[t.id] = finished[t.id] ?? .pending
            for n in t.needs { dependents[n, default: []].append(t.id) }
        }
        queue.removeAll { state[$0] != .pending }
    }

    public func count(_ s: State) -> Int { state.values.filter { $0 == s }.count }
    public var total: Int { state.count }
    public var isComplete: Bool { !state.values.contains { $0 == .pending || $0 == .running } }

    /// A ready task, now marked running; nil when none is ready yet.
    public func next() -> SweepTask? {
        guard let i = queue.firstIndex(where: { id in graph[id]?.needs.allSatisfy { state[$0] == .done } ?? false }) else { return nil }
        let id = queue.remove(at: i)
        state[id] = .running
        return graph[id]
    }

    /// Records a finished task; returns the tasks skipped because of it.
    @discardableResult
    public func finish(_ id: String, _ outcome: State) -> [SweepTask] {
        state[id] = outcome
        guard outcome == .failed || outcome == .skipped else { return [] }
        var skipped: [SweepTask] = []
        for d in dependents[id] ?? [] where state[d] == .pending {
            queue.removeAll { $0 == d }
            if let t = graph[d] { skipped.append(t) }
            skipped += finish(d, .skipped)
        }
        return skipped
    }

    /// A running task goes back to pending (its worker stopped before finishing it).
    public func requeue(_ id: String) {
        guard state[id] == .running else { return }
        state[id] = .pending
        queue.insert(id, at: 0)
    }
}
