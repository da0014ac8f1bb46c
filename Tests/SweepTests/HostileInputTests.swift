import Foundation
import NeuralNet
@testable import Sweep
import XCTest

/// The sweep-file inputs that crashed, hung or passed `plan` and failed `run`
/// before issue 18 (and what the fuzzer found since): each an error naming the line.
final class HostileInputTests: XCTestCase {
    /// `machine`: also the checks against this machine (`plan`; rank 0 of `run`).
    func rejects(_ text: String, _ fragment: String, machine: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try { let s = try SweepFile.parse(text, file: "h.toml"); if machine { try s.checkMachine() } }(), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(fragment), "'\(e)' should mention '\(fragment)'", file: file, line: line)
        }
    }

    func testDeepArraysAreAnErrorNotAStackOverflow() {
        rejects("name = \"x\"\na = " + String(repeating: "[", count: 50_000) + "\n", "h.toml:2: arrays nested more than 16 deep")
        // 16 deep is still read (and then refused as an unknown key)
        rejects("name = \"x\"\na = " + String(repeating: "[", count: 16) + String(repeating: "]", count: 16) + "\n", "'a': unknown key")
    }

    func testLongDottedKeysFailAtOnce() {
        let start = Date()
        rejects("name = \"x\"\na" + String(repeating: ".b", count: 40_000) + " = 1\n", "has more than 16 parts")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testValuesRunCannotUseAreRefusedByPlan() {
        let base = "name = \"x\"\n"
        rejects(base + "[parent]\narch = \"mlp:9223372036854775807\"\n", "'parent.arch': unknown architecture")
        rejects(base + "[parent]\nbatch = 9223372036854775807\n", "'parent.batch': must be at most")
        rejects(base + "[kd]\ntemperature = 1e308\n", "'kd.temperature': must be at most 1000")
        rejects(base + "[run]\nthreads = 100000\n", "h.toml:3: 'run.threads': 100000 threads, more than 4 per core", machine: true)
        rejects(base + "[data]\ntrain_subset = 10\n[parent]\nbatch = 64\n", "'parent.batch': batch 64 is larger than the 10 training images")
        rejects(base + "[parent]\narch = \"mlp:65536,65536,65536,65536\"\n", "MiB, more than the", machine: true)
        // every rank parses alike: the machine's checks are apart
        XCTAssertNoThrow(try SweepFile.parse(base + "[run]\nthreads = 100000\n", file: "h.toml"))
    }

    func testNameIsOnePathComponent() {
        for name in ["..", ".", ".hidden", "a/b", "", String(repeating: "a", count: 129)] {
            rejects("name = \"\(name)\"\n", "'name': must be 1 to 128 letters")
        }
        XCTAssertNoThrow(try SweepFile.parse("name = \"ok.v2_a-b\"\n", file: "h.toml"))
    }

    func testMemoryEstimateSaturates() {
        XCTAssertEqual(SweepFile.memoryEstimate(.mlp([1 << 16, 1 << 16]), batch: Int.max / 2, threads: 4), Int.max)
        // LeNet5 at batch 64, one thread: parameters (61,706 x 4 bytes x 4 copies x 2) plus activations
        let lenet = SweepFile.memoryEstimate(.lenet5, batch: 64, threads: 1)
        XCTAssertGreaterThan(lenet, 61_706 * 4 * 4 * 2)
        XCTAssertLessThan(lenet, 16 << 20)
    }
}
