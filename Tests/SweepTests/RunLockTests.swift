import Foundation
@testable import Sweep
import XCTest

final class RunLockTests: XCTestCase {
    var path: String!

    override func setUpWithError() throws {
        let dir = NSTemporaryDirectory() + "runlock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = dir + "/run.lock"
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }

    func write(_ h: RunLock.Holder) throws { try JSONEncoder().encode(h).write(to: URL(fileURLWithPath: path)) }

    func testSecondLockIsRefusedNamingTheHolder() throws {
        let first = try RunLock(path: path)
        XCTAssertThrowsError(try RunLock(path: path)) { e in
            XCTAssertTrue("\(e)".contains("host \(RunLock.hostname), pid \(getpid()), started "), "\(e)")
        }
        first.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertNoThrow(try RunLock(path: path).release())
    }

    func testLockOfADeadProcessIsTakenOver() throws {
        // a child that has exited: its pid names no process
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = RunLock.Holder(host: RunLock.hostname, pid: p.processIdentifier, started: "then", processStart: 1)
        try write(dead)
        let lock = try RunLock(path: path)
        XCTAssertEqual(lock.tookOver, dead)
        XCTAssertEqual(RunLock.read(path), lock.holder)
    }

    func testReusedPidIsStale() throws {
        // our own pid, but a start time that is not ours: the pid was reused
        try write(RunLock.Holder(host: RunLock.hostname, pid: getpid(), started: "then", processStart: 1))
        XCTAssertNotNil(try RunLock(path: path).tookOver)
    }

    func testAnotherHostsLockHoldsUntilItsLeaseRunsOut() throws {
        let other = RunLock.Holder(host: "elsewhere", pid: 1, started: "then", processStart: 1)
        try write(other)
        XCTAssertThrowsError(try RunLock(path: path)) { XCTAssertTrue($0 is RunLockHeld) }
        let old = Date().addingTimeInterval(-(RunLock.lease + 5))
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        XCTAssertEqual(try RunLock(path: path).tookOver, other)
    }
}
