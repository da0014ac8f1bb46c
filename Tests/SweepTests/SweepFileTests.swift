import Datasets
import Foundation
import Distillation
import NeuralNet
import Pruning
@testable import Sweep
import XCTest

final class SweepFileTests: XCTestCase {
    let base = """
    name = "t"
    [parent]
    arch = "lenet5"
    epochs = 1
    [axes]
    seeds = [0, 1]
    ratios = [0.5, "optimal"]
    teachers = ["none", "parent"]

    """

    func expect(_ text: String, line: Int, _ fragment: String, file: StaticString = #filePath, l: UInt = #line) {
        XCTAssertThrowsError(try SweepFile.parse(text, file: "s.toml"), file: file, line: l) { e in
            XCTAssertTrue("\(e)".hasPrefix("s.toml:\(line):"), "'\(e)' should name line \(line)", file: file, line: l)
            XCTAssertTrue("\(e)".contains(fragment), "'\(e)' should mention '\(fragment)'", file: file, line: l)
        }
    }

    func testErrorsNameKeyAndLine() {
        expect(base + "[parent2]\n", line: 9, "'parent2': unknown key")
        expect("name = \"t\"\n[parent]\nepochs = \"two\"\n", line: 3, "'parent.epochs': expected an integer, found a string")
        expect("name = \"t\"\n[parent]\nlr = -1\n", line: 3, "'parent.lr': must be greater than 0")
        expect("name = \"t\"\n[kd]\nalpha = 1.5\n", line: 3, "'kd.alpha': must be in [0, 1]")
        expect("name = \"t\"\n[parent]\narch = \"resnet\"\n", line: 3, "unknown architecture 'resnet'")
        expect("name = \"t\"\n[parent]\nbogus = 1\n", line: 3, "'parent.bogus': unknown key")
        expect("name = \"t\"\n[axes]\nratios = [0.5, 1.5]\n", line: 3, "a ratio is a number in [0, 1]")
        expect("name = \"t\"\n[axes]\nteachers = [\"none\", \"bert\"]\n", line: 3, "a teacher is none, parent")
        expect("name = \"t\"\n[axes]\n\"finetune.epochs\" = [1, -1]\n", line: 3, "'finetune.epochs': must be at least 0")
        expect("name = \"t\"\n[axes]\n\"parent.nope\" = [1]\n", line: 3, "unknown axis")
        expect("name = \"t\"\n[axes]\nseeds = [1, 2]\nratios = [0.1]\nzip = [[\"seeds\", \"ratios\"]]\n", line: 5, "equal lengths")
        expect("name = \"t\"\n[run]\ngroup_size = 0\n", line: 3, "'run.group_size': must be at least 1")
        expect("name = \"t\"\nname = \"u\"\n", line: 2, "defined twice")
        expect("name = \"t\"\n[parent]\nepochs = 1 2\n", line: 3, "after the value")
        expect("[parent]\nepochs = 1\n", line: 1, "missing key 'name'")
    }

    func testGridExpansionAndZip() throws {
        let s = try SweepFile.parse(base, file: "s.toml")
        let g = TaskGraph(s)
        XCTAssertEqual(g.counts[.parent], 2)
        XCTAssertEqual(g.counts[.trial], 2 * 2 * 2)
        let z = try SweepFile.parse(base + "\"finetune.epochs\" = [1, 2]\nzip = [[\"ratios\", \"finetune.epochs\"]]\n", file: "s.toml")
        let trials = TaskGraph(z).tasks.filter { $0.kind == .trial }
        XCTAssertEqual(trials.count, 2 * 2 * 2)
        XCTAssertEqual(Set(trials.compactMap { t in
            if case .trial(let s) = t.spec { "\(s.ratio)/\(s.finetune.epochs)" } else { nil }
        }), ["0.5/1", "optimal/2"])
    }

    func testIMPTableAndRounds() throws {
        let imp = "name = \"t\"\n[parent]\nepochs = 2\n[imp]\nrounds = 3\nrate = 0.3\n[axes]\nseeds = [0, 1]\nmethods = [\"imp\", \"imp-reinit\", \"imp-random\", \"l1\"]\n\"imp.rewind\" = [\"init\", \"epoch:1\"]\n"
        let g = TaskGraph(try SweepFile.parse(imp, file: "s.toml"))
        // per seed and rewind: round 0, 3 IMP rounds, 3 of each control; l1 trials, one a seed (the rewind is no setting of theirs)
        XCTAssertEqual(g.counts[.round], 2 * 2 * (1 + 3 * 3))
        XCTAssertEqual(g.counts[.trial], 2)
        for t in g.tasks where t.kind == .round {
            let r = try XCTUnwrap(t.round)
            XCTAssertEqual(r.imp.rate, 0.3)
            XCTAssertEqual(r.dense.training.epochs, 2)
            // every task a round needs is in the graph, before it
            for n in t.needs { XCTAssertLessThan(try XCTUnwrap(g.index[n]), try XCTUnwrap(g.index[t.id])) }
            switch (r.variant, r.round) {
            case (_, 0): XCTAssertEqual(t.needs, [])
            case (.imp, 1), (.random, _): XCTAssertEqual(t.needs, [SweepTask(.round(r.denseRound)).id])
            case (.imp, let k): XCTAssertEqual(t.needs, [SweepTask(.round(r.at(round: k - 1, .imp))).id, SweepTask(.round(r.denseRound)).id])
            case (.reinit, let k): XCTAssertEqual(t.needs, [SweepTask(.round(r.at(round: k, .imp))).id, SweepTask(.round(r.denseRound)).id])
            }
        }
        // shards split whole chains; each shard's scheduler takes every round its chains need
        let shards = (0..<3).map { g.shard($0, of: 3) }
        XCTAssertEqual(shards.reduce(Set<String>()) { $0.union($1) }, Set(g.tasks.filter { $0.kind != .parent }.map(\.id)))
        for a in 0..<3 { for b in a + 1..<3 { XCTAssertTrue(shards[a].isDisjoint(with: shards[b])) } }
        let last = try XCTUnwrap(g.tasks.last { $0.round?.variant == .reinit })
        let s = Scheduler(graph: g, only: [last.id])
        XCTAssertEqual(s.total, 1 + 3 + 1, "round 0, the IMP chain to round 3, the control")
        // two free ranks get the first rounds of two seeds at once: a chain is not one piece
        let two = TaskGraph(try SweepFile.parse("name = \"t\"\n[axes]\nseeds = [0, 1]\nmethods = [\"imp\"]\n", file: "s.toml"))
        let sched = Scheduler(graph: two)
        let firsts = [sched.next(), sched.next()].compactMap { $0?.round }
        XCTAssertEqual(firsts.map(\.round), [0, 0])
        XCTAssertNil(sched.next(), "round 1 waits for round 0")
        for f in firsts { sched.finish(SweepTask(.round(f)).id, .done) }
        let seconds = [sched.next(), sched.next()].compactMap { $0?.round }
        XCTAssertEqual(seconds.map(\.round), [1, 1])
        XCTAssertEqual(Set(seconds.map(\.seed)), [0, 1])
        // more rounds keep the ids of the earlier ones
        let more = TaskGraph(try SweepFile.parse(imp.replacingOccurrences(of: "rounds = 3", with: "rounds = 5"), file: "s.toml"))
        XCTAssertTrue(Set(g.tasks.map(\.id)).isSubset(of: Set(more.tasks.map(\.id))))
        let epochs = try SweepFile.parse("name = \"t\"\n[parent]\nepochs = 2\n[imp]\nepochs = 4\n", file: "s.toml")
        XCTAssertEqual(epochs.impTraining.epochs, 4)

        expect("name = \"t\"\n[imp]\nrate = 1.0\n", line: 3, "'imp.rate': must be in (0, 1)")
        expect("name = \"t\"\n[imp]\nrewind = \"epoch\"\n", line: 3, "expected init, epoch:K or iter:N")
        expect("name = \"t\"\n[parent]\nepochs = 2\n[imp]\nrewind = \"epoch:3\"\n", line: 5, "past the dense training of 2 epochs")
        expect("name = \"t\"\n[imp]\nrounds = 0\n", line: 3, "'imp.rounds': must be at least 1")
        expect("name = \"t\"\n[imp]\nstability = 1\n", line: 3, "expected true or false")
        expect("name = \"t\"\n[imp]\nlayers = []\n", line: 3, "at least one layer")
        expect("name = \"t\"\n[imp]\nturbo = 1\n", line: 3, "'imp.turbo': unknown key")
        expect("name = \"t\"\n[axes]\nmethods = [\"imp-bogus\"]\n", line: 3, "imp-reinit")
    }

    func testTaskIdentityIsItsParameters() throws {
        let a = TaskGraph(try SweepFile.parse(base, file: "a.toml"))
        // another file with the axes in another order and an extra seed gives the same ids for shared tasks
        let b = TaskGraph(try SweepFile.parse(base.replacingOccurrences(of: "seeds = [0, 1]", with: "seeds = [1, 0, 2]"), file: "b.toml"))
        XCTAssertTrue(Set(a.tasks.map(\.id)).isSubset(of: Set(b.tasks.map(\.id))))
        let t = try XCTUnwrap(a.tasks.first { $0.kind == .trial })
        guard case .trial(var spec) = t.spec else { return XCTFail("not a trial") }
        XCTAssertEqual(SweepTask(.trial(spec)).id, t.id)
        XCTAssertEqual(t.needs, [SweepTask(.parent(spec.parent)).id])
        // the id is the spec's canonical JSON: decoding what the journal holds gives the same task
        let back = try JSONDecoder().decode(SweepTask.self, from: JSONEncoder().encode(t))
        XCTAssertEqual(back, t)
        spec.finetune.lr = 0.02
        XCTAssertNotEqual(SweepTask(.trial(spec)).id, t.id)
        spec.finetune.lr = 0.01
        spec.parent.training.schedule = .constant
        XCTAssertNotEqual(SweepTask(.trial(spec)).id, t.id, "a trial of another parent is another trial")
    }

    /// The graph assembles trial ids from cached field encodings (`TrialIDs`):
    /// every one must equal the id of the spec encoded whole, over every kind
    /// of field value (kd present or not, model teachers, odd ratios, axes of
    /// settings, a scratch student, coarse labels).
    func testGraphTrialIDsAreTheSpecsIDs() throws {
        let grids = [
            base + "methods = [\"l1\", \"random\", \"layerwise\"]\n\"finetune.lr\" = [0.01, 3e-4]\n",
            "name = \"u\"\n[data]\ndir = \"/data/c/i\\\\x\"\nlabels = \"coarse\"\ntrain_subset = 700\n[parent]\narch = \"resnet20\"\nnesterov = true\naugment = \"crop-flip\"\n"
                + "[finetune]\nstudent = \"scratch\"\n[kd]\ntemperature = 2.5\n[axes]\nseeds = [3]\n"
                + "ratios = [0, 1, 0.1, 0.333333333333, 1e-7, \"safe\"]\nteachers = [\"none\", \"uniform\", \"gaussian\", \"lenet5\", \"mlp:30,10\"]\n",
        ]
        for text in grids {
            let trials = TaskGraph(try SweepFile.parse(text, file: "s.toml")).tasks.filter { $0.kind == .trial }
            XCTAssertGreaterThan(trials.count, 20)
            for t in trials { XCTAssertEqual(t.id, t.spec.id, "\(t.label)") }
        }
    }

    /// [data] labels: parsed and checked; the default encodes as before it
    /// existed (ids of existing sweeps stay), coarse is another task.
    func testDataLabels() throws {
        expect("name = \"t\"\n[data]\nlabels = \"medium\"\n", line: 3, "'data.labels': must be \"fine\"")
        expect("name = \"t\"\n[data]\nlabels = 1\n", line: 3, "'data.labels': expected a string")
        expect("name = \"t\"\n[axes]\n\"data.labels\" = [\"fine\", \"coarse\"]\n", line: 3, "unknown axis")
        let fine = TaskGraph(try SweepFile.parse(base, file: "s.toml"))
        XCTAssertEqual(TaskGraph(try SweepFile.parse(base + "[data]\nlabels = \"fine\"\n", file: "s.toml")).tasks.map(\.id), fine.tasks.map(\.id))
        let coarseFile = try SweepFile.parse(base + "[data]\nlabels = \"coarse\"\n", file: "s.toml")
        XCTAssertEqual(coarseFile.data.labels, .coarse)
        XCTAssertTrue(Set(TaskGraph(coarseFile).tasks.map(\.id)).isDisjoint(with: fine.tasks.map(\.id)))

        let json = { (d: DataSpec) in String(decoding: try TaskSpec.canonicalEncoder.encode(d), as: UTF8.self) }
        XCTAssertEqual(try json(DataSpec(dir: "/d", trainSubset: 5)), #"{"dir":"/d","train_subset":5}"#)
        XCTAssertEqual(try json(DataSpec(dir: "/d", labels: .coarse)), #"{"dir":"/d","labels":"coarse"}"#)
        let old = try JSONDecoder().decode(DataSpec.self, from: Data(#"{"dir":"/d","test_subset":3}"#.utf8))
        XCTAssertEqual(old, DataSpec(dir: "/d", testSubset: 3, labels: .fine))
        XCTAssertEqual(try JSONDecoder().decode(DataSpec.self, from: Data(#"{"dir":"/d","labels":"coarse"}"#.utf8)).labels, .coarse)
        XCTAssertThrowsError(try JSONDecoder().decode(DataSpec.self, from: Data(#"{"dir":"/d","labels":"tiny"}"#.utf8)))
    }

    func testSchedulerOrdersAndSkips() throws {
        let g = TaskGraph(try SweepFile.parse(base, file: "s.toml"))
        let s = Scheduler(graph: g)
        let first = s.next()!, second = s.next()!
        XCTAssertEqual([first.kind, second.kind], [.parent, .parent])
        XCTAssertNil(s.next(), "trials wait for their parent")
        s.finish(first.id, .done)
        let trial = s.next()!
        XCTAssertEqual(trial.needs, [first.id])
        let skipped = s.finish(second.id, .failed)
        XCTAssertEqual(skipped.count, 4)
        XCTAssertTrue(skipped.allSatisfy { $0.needs.contains(second.id) })
        s.requeue(trial.id)
        XCTAssertEqual(s.next()?.id, trial.id)
        var n = 1
        while let t = s.next() { s.finish(t.id, .done); n += 1 }
        s.finish(trial.id, .done)
        XCTAssertEqual(n, 4)
        XCTAssertTrue(s.isComplete)
        // resume: finished tasks are not handed out again
        let resumed = Scheduler(graph: g, finished: [first.id: .done, trial.id: .done])
        var ids: [String] = []
        while let t = resumed.next() { ids.append(t.id); resumed.finish(t.id, .done) }
        XCTAssertFalse(ids.contains(first.id) || ids.contains(trial.id))
        XCTAssertEqual(ids.count, g.tasks.count - 2)
    }

    func testJournalCutsATornLine() throws {
        let path = NSTemporaryDirectory() + "journal-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = TaskGraph(try SweepFile.parse(base, file: "s.toml"))
        let r = ResultRecord(g.tasks[0], status: .done, metrics: .train(TrainMetrics(accuracy: 0.25, loss: 1.5, k2: 3)))
        try Journal(path: path).append(r)
        let h = FileHandle(forWritingAtPath: path)!
        h.seekToEndOfFile(); h.write(Data("{\"task\":\"tri".utf8)); h.closeFile()
        XCTAssertEqual(Journal.read(path).bad.map(\.line), [2])
        let j = try Journal(path: path)
        var r2 = ResultRecord(g.tasks[2], status: .failed, error: "loss diverged")
        r2.rank = 3
        try j.append(r2)
        let back = Journal.read(path)
        XCTAssertEqual(back.records, [r, r2])
        XCTAssertTrue(back.bad.isEmpty)
    }

    /// The schedule keys of [parent] and [finetune] reach the specs, are checked
    /// together (milestones belong to "step") and change the task ids.
    func testScheduleSettings() throws {
        let s = try SweepFile.parse(base + "\"finetune.schedule\" = [\"constant\", \"cosine\"]\n", file: "s.toml")
        let trials = TaskGraph(s).tasks.compactMap { t -> TrialSpec? in if case .trial(let x) = t.spec { x } else { nil } }
        XCTAssertEqual(Set(trials.map(\.finetune.schedule)), [.constant, .cosine] as Set<ScheduleKind>, "axis over schedules")
        XCTAssertTrue(trials.allSatisfy { $0.parent.training.schedule == .cosine }, "cosine by default, as prunesweep train")
        expect("name = \"t\"\n[parent]\nschedule = \"step\"\n", line: 3, "'parent.milestones': schedule \"step\" needs milestones")
        expect("name = \"t\"\n[axes]\n\"parent.schedule\" = [\"cosine\", \"step\"]\n", line: 3, "needs milestones")
        expect("name = \"t\"\n[parent]\nschedule = \"cosine\"\nmilestones = [2]\n", line: 4, "apply only to schedule \"step\"")
        expect("name = \"t\"\n[finetune]\nschedule = \"linear\"\n", line: 3, "unknown schedule 'linear'")
        expect("name = \"t\"\n[parent]\nschedule = \"step\"\nmilestones = [3, 2]\n", line: 4, "must be increasing")
        let step = try SweepFile.parse("name = \"t\"\n[parent]\nschedule = \"step\"\nmilestones = [1, 3]\ngamma = 0.5\nwarmup_epochs = 1\n", file: "s.toml")
        XCTAssertEqual(step.parent, TrainingSettings(epochs: 2, lr: 0.05, schedule: .step, milestones: [1, 3], gamma: 0.5, warmupEpochs: 1))
    }

    /// A journal prunesweep 0.1.0 wrote (committed fixture: the tiny sweep)
    /// loads as typed records, and with 0.1.0's constant rate its tasks are
    /// exactly this version's tasks of the same sweep.
    func testJournalOfVersion010Loads() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/journal-v1").path
        let (records, bad) = Journal.read(dir + "/results.jsonl")
        XCTAssertTrue(bad.isEmpty, "\(bad)")
        XCTAssertEqual(records.count, 14)
        XCTAssertTrue(records.allSatisfy { $0.format == 1 && $0.status == .done })
        let trial = try XCTUnwrap(records.first { $0.kind == .trial })
        guard case .trial(let spec) = trial.spec, let m = trial.trial else { return XCTFail("not a trial") }
        XCTAssertEqual(spec.ratio, .fixed(0.5)); XCTAssertEqual(spec.method, .l1); XCTAssertEqual(spec.teacher, TeacherKind.none)
        XCTAssertEqual(spec.parent.training.schedule, .constant)
        XCTAssertEqual(m.accuracyAfter, 0.502); XCTAssertEqual(m.sparsityPerTensor["conv2.bias"], 0.3125)
        XCTAssertEqual(m.parent.agreement, 0.193)
        XCTAssertEqual(records.filter { $0.kind == .parent }.compactMap { $0.train?.optimalRatio }, [0.79, 0.8])

        let tiny = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../sweep/tiny.toml").path, encoding: .utf8)
        let old = TaskGraph(try SweepFile.parse(tiny, file: "tiny.toml", legacy: true))
        XCTAssertEqual(Set(old.tasks.map(\.id)), Set(records.map(\.task)), "0.1.0's tasks, by their new ids")
        let constant = tiny.replacingOccurrences(of: "[parent]\n", with: "[parent]\nschedule = \"constant\"\n")
            .replacingOccurrences(of: "[finetune]\n", with: "[finetune]\nschedule = \"constant\"\n")
        XCTAssertEqual(Set(TaskGraph(try SweepFile.parse(constant, file: "tiny.toml")).tasks.map(\.id)), Set(records.map(\.task)))
        XCTAssertTrue(Set(TaskGraph(try SweepFile.parse(tiny, file: "tiny.toml")).tasks.map(\.id)).isDisjoint(with: records.map(\.task)),
                      "this version's default schedule trains other parents")
    }
}
