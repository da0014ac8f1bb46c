import Foundation
import Logging
@testable import Sweep
import XCTest

/// The journal's group commit, the coordinator's "nothing counts before its
/// line is durable", the top-level scan resume reads lines with, and resume
/// against the full decoder.
final class JournalTests: XCTestCase {
    let sweep = "name = \"j\"\n[axes]\nseeds = [0, 1]\nratios = [0.25, 0.5, 0.75]\nteachers = [\"none\"]\n"
    var path = ""

    override func setUp() { path = NSTemporaryDirectory() + "journal-\(UUID().uuidString).jsonl" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    func graph() throws -> TaskGraph { TaskGraph(try SweepFile.parse(sweep, file: "j.toml")) }

    /// An fsync held until the test lets it go: lines queued meanwhile must share the next one.
    final class HeldSync: @unchecked Sendable {
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var calls = 0
        var held = true
        func sync(_ fd: Int32) -> Int32 {
            let first = lock.withLock { calls += 1; return calls == 1 }
            if first && held { entered.signal(); release.wait() }
            return fsync(fd)
        }
        var count: Int { lock.withLock { calls } }
    }

    func testOneFsyncCoversEveryLineQueuedDuringThePreviousOne() throws {
        let g = try graph(), held = HeldSync()
        let j = try Journal(path: path, sync: held.sync)
        try j.submit(try JournalLine(ResultRecord(g.tasks[0], status: .done)))
        held.entered.wait()   // the first fsync is running
        for t in g.tasks.dropFirst() { try j.submit(try JournalLine(ResultRecord(t, status: .done))) }
        XCTAssertEqual(j.written.lines, 0, "nothing is durable while its fsync runs")
        held.release.signal()
        try j.flush()
        XCTAssertEqual(j.written.lines, g.tasks.count)
        XCTAssertEqual(j.written.fsyncs, 2, "the lines queued during the first fsync share the second")
        XCTAssertEqual(Journal.read(path).records.map(\.task), g.tasks.map(\.id), "in the order they were queued")
    }

    func testNothingCountsBeforeItsLineIsDurable() throws {
        let g = try graph(), held = HeldSync()
        let c = Coordinator(scheduler: Scheduler(graph: g), journal: try Journal(path: path, sync: held.sync), leaders: [0, 1],
                            maxFailures: nil, logger: Logger(label: "test"))
        let parent = try XCTUnwrap(c.handle(WorkRequest(leader: 0)).task)
        _ = try XCTUnwrap(c.handle(WorkRequest(leader: 1)).task, "the other parent")
        let done = try JournalLine(ResultRecord(try XCTUnwrap(g[parent]), status: .done))
        let reply = try c.handle(WorkRequest(leader: 0, line: done))
        XCTAssertTrue(reply.wait, "its trials wait for the parent's line")
        held.entered.wait()
        XCTAssertEqual(c.scheduler.state(of: parent), .running, "not done while its fsync runs")
        XCTAssertEqual(c.counts["done"], 0)
        XCTAssertTrue(try c.handle(WorkRequest(leader: 0)).wait)
        held.release.signal()
        try c.drain()
        XCTAssertEqual(c.scheduler.state(of: parent), .done)
        XCTAssertEqual(try XCTUnwrap(g[try XCTUnwrap(c.handle(WorkRequest(leader: 0)).task)]).needs, [parent], "now its trials run")
    }

    func testAFailedFsyncReportsNothingAndStopsTheJournal() throws {
        let g = try graph()
        let j = try Journal(path: path, sync: { _ in errno = EIO; return -1 })
        let heard = HeldSync()   // counts calls: onDurable must never run
        j.onDurable = { _ in _ = heard.sync(-1) }
        try j.submit(try JournalLine(ResultRecord(g.tasks[0], status: .done)))
        XCTAssertThrowsError(try j.flush()) { XCTAssertTrue("\($0)".contains("fsync"), "\($0)") }
        XCTAssertThrowsError(try j.append(ResultRecord(g.tasks[1], status: .done)))
        XCTAssertEqual(heard.count, 0)
    }

    /// The scan reads only top-level fields: a nested "status" or "task", or
    /// one inside an error string, must not fool it.
    func testTopLevelScanAgreesWithTheDecoder() throws {
        let g = try graph()
        var r = ResultRecord(g.tasks[3], status: .failed, error: "\"status\":\"done\",\"task\":\"x\" {[")
        r.host = "node\\1"
        for record in [r, ResultRecord(g.tasks[0], status: .done), ResultRecord(g.tasks[1], status: .skipped)] {
            let line = try JournalLine(record)
            let checked = try JournalLine(checking: line.bytes)
            XCTAssertEqual(checked.task, record.task)
            XCTAssertEqual(checked.status, record.status)
            // the two ends suffice for a line without an error field, and agree with the full scan
            line.bytes.withUnsafeBytes { b in
                let full = JournalLine.scanned(b)
                XCTAssertEqual([full.task, full.status], [record.task, record.status.rawValue])
                XCTAssertEqual(full.format, 2)
                if let ends = JournalLine.sortedEnds(b) {
                    XCTAssertEqual([ends.task, ends.status], [full.task, full.status]); XCTAssertEqual(ends.format, 2)
                } else {
                    XCTAssertNotNil(record.error, "only a line with an error field needs the full scan")
                }
            }
        }
        let shifted = Array("{\"finished\":\"x\",\"format\":2,\"m\":{\"status\":\"done\",\"task\":\"a\"}}".utf8)
        XCTAssertNil(shifted.withUnsafeBytes { JournalLine.sortedEnds($0) }, "a nested task is not the line's")
        XCTAssertThrowsError(try JournalLine(checking: Array("{\"format\":1,\"task\":\"a\",\"status\":\"done\"}".utf8)))
        XCTAssertThrowsError(try JournalLine(checking: Array("{\"format\":2,\"spec\":{\"task\":\"a\",\"status\":\"done\"}}".utf8)))
        XCTAssertThrowsError(try JournalLine(checking: Array("{\"format\":2,\"task\":\"a\",\"status\":\"done\"}\n{".utf8)))
    }

    /// Resume's chunked scan gives the states and bad lines the full decoder
    /// gives, a retried task's later line winning, with a torn last line.
    func testResumeAgreesWithTheFullRead() throws {
        let g = try graph()
        let j = try Journal(path: path)
        for (i, t) in g.tasks.enumerated() { try j.append(ResultRecord(t, status: i % 3 == 0 ? .failed : .done)) }
        try j.append(ResultRecord(g.tasks[0], status: .done))   // retried
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile(); h.write(Data("not json\n\n{\"format\":2,\"task\":\"tri".utf8)); h.closeFile()
        let resume = try Journal.resume(path)
        let full = Journal.read(path)
        var states: [String: Scheduler.State] = [:]
        for r in full.records { states[r.task] = r.state }
        XCTAssertEqual(resume.outcomes, states)
        XCTAssertEqual(resume.outcomes[g.tasks[0].id], .done)
        XCTAssertEqual(resume.bad.map(\.line), full.bad.map(\.line))
        XCTAssertEqual(resume.bad.map(\.line), [g.tasks.count + 2, g.tasks.count + 4])
    }

    /// Over a million tasks the scheduler answers in O(log n): the simulated
    /// coordinator finishes a sweep with failures, every task accounted for once.
    func testSimulationAccountsForEveryTask() throws {
        var s = SchedulerSimulation.Settings(ranks: 7, tasks: 3000, taskSeconds: TaskSeconds("exp:2")!)
        s.failureRate = 0.01
        let r = try SchedulerSimulation.run(s, journalPath: path, logger: Logger(label: "test"))
        XCTAssertEqual(r.done + r.failed + r.skipped, r.tasks)
        XCTAssertGreaterThan(r.failed, 0)
        let resume = try Journal.resume(path)
        XCTAssertEqual(resume.lines, r.tasks, "one line per task")
        XCTAssertEqual(resume.outcomes.count, r.tasks)
        XCTAssertEqual(resume.outcomes.values.filter { $0 == .failed }.count, r.failed)
        XCTAssertLessThan(r.fsyncs, r.journalLines + 1)
        XCTAssertNil(TaskSeconds("uniform:3:1"))
        XCTAssertEqual(TaskSeconds("10")?.mean, 10)
    }
}
