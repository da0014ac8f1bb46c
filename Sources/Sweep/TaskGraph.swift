import Pruning
/// The grid expanded: every point of the axes (crossed, or walked together
/// where zipped) becomes a trial; parents and teachers are shared tasks that
/// trials wait for.
public struct TaskGraph {
    public private(set) var tasks: [SweepTask] = []
    public private(set) var index: [String: Int] = [:]

    public init(_ sweep: SweepFile) {
        let room = min(sweep.pointCount, 1 << 23) / 8 * 9   // trials and a few parents: no regrowth of a huge array
        tasks.reserveCapacity(room)
        index.reserveCapacity(room)
        var teachers: [TrainSpec: String] = [:]
        var trialIDs = TrialIDs()
        sweep.forEachPoint { p in
            let s = p.sweep
            if let variant = p.imp {
                addRounds(p, variant)
                return
            }
            let parent = TrainSpec(arch: s.arch, training: s.parent, data: s.data, seed: p.seed, checkpoint: s.checkpoint)
            let distils = p.teacher != .none || s.student == .scratch
            let trial = TrialSpec(parent: parent, ratio: p.ratio, method: p.method, teacher: p.teacher, student: s.student,
                                  finetune: s.finetune, kd: distils ? s.kd : nil, threads: s.threads)
            let ids = trialIDs.ids(trial)
            if ids.newParent { add(SweepTask(.parent(parent), id: ids.parent, needs: [])) }
            var needs = [ids.parent]
            if let t = trial.teacherSpec {
                if teachers[t] == nil {
                    let task = SweepTask(.teacher(t))
                    teachers[t] = task.id
                    add(task)
                }
                needs.append(teachers[t]!)
            }
            add(SweepTask(.trial(trial), id: ids.trial, needs: needs))
        }
    }

    /// Every round of an IMP point (round 0, the IMP chain its control needs,
    /// the control's rounds), each after the rounds it needs.
    private mutating func addRounds(_ p: GridPoint, _ variant: IMPVariant) {
        let s = p.sweep
        let dense = TrainSpec(arch: s.arch, training: s.impTraining, data: s.data, seed: p.seed, checkpoint: s.checkpoint)
        let distils = p.teacher != .none
        let first = RoundSpec(dense: dense, imp: s.imp, variant: variant, round: 1, teacher: p.teacher, kd: distils ? s.kd : nil, threads: s.threads)
        if let t = first.teacherSpec { add(.teacher(t)) }
        add(.round(first.denseRound))
        for k in 1...s.impRounds {
            if variant == .reinit { add(.round(first.at(round: k, .imp))) }
            add(.round(first.at(round: k, variant)))
        }
    }

    private mutating func add(_ spec: TaskSpec) { add(SweepTask(spec)) }

    private mutating func add(_ t: SweepTask) {
        guard index[t.id] == nil else { return }
        index[t.id] = tasks.count
        tasks.append(t)
    }

    public subscript(id: String) -> SweepTask? { index[id].map { tasks[$0] } }

    /// The tasks shard `i` of `n` runs (the scheduler adds what they need):
    /// every n-th trial, and every n-th IMP chain whole (the rounds of one dense
    /// net), so no two shards train the same rounds.
    public func shard(_ i: Int, of n: Int) -> Set<String> {
        var units: [String] = [], seen = Set<String>(), unitOf: [String: String] = [:]
        for t in tasks {
            let unit: String
            switch t.spec {
            case .trial: unit = t.id
            case .round(let r): unit = SweepTask(.round(r.denseRound)).id
            case .parent, .teacher: continue
            }
            if seen.insert(unit).inserted { units.append(unit) }
            unitOf[t.id] = unit
        }
        let mine = Set(units.enumerated().filter { $0.offset % n == i }.map(\.element))
        return Set(unitOf.filter { mine.contains($0.value) }.keys)
    }

    public var counts: [TaskKind: Int] { Dictionary(grouping: tasks, by: \.kind).mapValues(\.count) }
}
