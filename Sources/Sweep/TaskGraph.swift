/// The grid expanded: every point of the axes (crossed, or walked together
/// where zipped) becomes a trial; parents and teachers are shared tasks that
/// trials wait for.
public struct TaskGraph {
    public private(set) var tasks: [SweepTask] = []
    public private(set) var index: [String: Int] = [:]

    public init(_ sweep: SweepFile) {
        var shared: [TaskSpec: String] = [:]   // parents and teachers by spec: an id costs an encoding
        func sharedID(_ spec: TaskSpec) -> String {
            if let id = shared[spec] { return id }
            let t = SweepTask(spec)
            shared[spec] = t.id
            add(t)
            return t.id
        }
        for p in sweep.points() {
            let s = p.sweep
            let parent = TrainSpec(arch: s.arch, training: s.parent, data: s.data, seed: p.seed, checkpoint: s.checkpoint)
            let distils = p.teacher != .none || s.student == .scratch
            let trial = TrialSpec(parent: parent, ratio: p.ratio, method: p.method, teacher: p.teacher, student: s.student,
                                  finetune: s.finetune, kd: distils ? s.kd : nil, threads: s.threads)
            let needs = [sharedID(.parent(parent))] + (trial.teacherSpec.map { [sharedID(.teacher($0))] } ?? [])
            add(SweepTask(.trial(trial), needs: needs))
        }
    }

    private mutating func add(_ t: SweepTask) {
        guard index[t.id] == nil else { return }
        index[t.id] = tasks.count
        tasks.append(t)
    }

    public subscript(id: String) -> SweepTask? { index[id].map { tasks[$0] } }

    public var counts: [TaskKind: Int] { Dictionary(grouping: tasks, by: \.kind).mapValues(\.count) }
}
