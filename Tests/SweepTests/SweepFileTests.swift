import Foundation
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
        XCTAssertEqual(Set(trials.map { "\($0.parameters["ratio"]!)/\($0.parameters["finetune.epochs"]!)" }), ["0.5/1", "optimal/2"])
    }

    func testTaskIdentityIsItsParameters() throws {
        let a = TaskGraph(try SweepFile.parse(base, file: "a.toml"))
        // another file with the axes in another order and an extra seed gives the same ids for shared tasks
        let b = TaskGraph(try SweepFile.parse(base.replacingOccurrences(of: "seeds = [0, 1]", with: "seeds = [1, 0, 2]"), file: "b.toml"))
        XCTAssertTrue(Set(a.tasks.map(\.id)).isSubset(of: Set(b.tasks.map(\.id))))
        let t = a.tasks.first { $0.kind == .trial }!
        XCTAssertEqual(SweepTask(kind: .trial, parameters: t.parameters, needs: t.needs).id, t.id)
        var changed = t.parameters
        changed["finetune.lr"] = "0.02"
        XCTAssertNotEqual(SweepTask(kind: .trial, parameters: changed).id, t.id)
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
        let r = ResultRecord(task: "trial-1", kind: .trial, status: "done", label: "x", parameters: ["a": "b"], metrics: ["m": 0.25])
        try Journal(path: path).append(r)
        let h = FileHandle(forWritingAtPath: path)!
        h.seekToEndOfFile(); h.write(Data("{\"task\":\"tri".utf8)); h.closeFile()
        XCTAssertEqual(Journal.read(path).bad.map(\.line), [2])
        let j = try Journal(path: path)
        var r2 = r; r2.task = "trial-2"
        try j.append(r2)
        let back = Journal.read(path)
        XCTAssertEqual(back.records, [r, r2])
        XCTAssertTrue(back.bad.isEmpty)
    }
}
