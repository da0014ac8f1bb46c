import Foundation
import Pruning
@testable import Sweep
import XCTest

/// The report's line decoder against JSONDecoder: where it reads a line it must
/// give JSONDecoder's record, elsewhere nil (then JSONDecoder reads the line).
final class LineDecoderTests: XCTestCase {
    let memo = LineDecoder.Memo()

    /// Lines as this version writes them: parents, teachers, trials (with a model teacher), IMP rounds, failures.
    func written() throws -> [ResultRecord] {
        let sweeps = ["name = \"t\"\n[axes]\nseeds = [0, 1]\nratios = [0.25, \"optimal\"]\nteachers = [\"none\", \"parent\", \"lenet5\"]\n",
                      "name = \"i\"\n[parent]\nepochs = 2\n[imp]\nrounds = 2\nrate = 0.3\n[axes]\nseeds = [0]\nmethods = [\"imp\", \"l1\"]\n"]
        let round = try JSONDecoder().decode(RoundMetrics.self, from: Data("""
            {"round":1,"variant":"imp","rewind":"init","sparsity":0.3,"pruned":30,"prunable":100,"accuracy":0.9,"loss":0.3,"train_loss":0.25,
             "cosine":0.8,"k2":2.5,"sparsity_per_tensor":{"fc1.weight":0.3,"fc1.bias":0},"barrier":0.01,"path_errors":[0.1,0.2,1e-3]}
            """.utf8))
        var records: [ResultRecord] = []
        let settings = SchedulerSimulation.Settings(ranks: 1, tasks: 1, taskSeconds: .constant(1))
        for text in sweeps {
            for (i, task) in TaskGraph(try SweepFile.parse(text, file: "s.toml")).tasks.enumerated() {
                var r = SchedulerSimulation.outcome(task, leader: i, settings)
                if task.kind == .round { r.metrics = .round(round) }
                if case .trial(var m)? = r.metrics, i % 2 == 0 {
                    m.teacher = m.parent
                    m.collapsed = ["fc3.bias"]
                    r.metrics = .trial(m)
                }
                if i % 5 == 4 { r.status = .failed; r.metrics = nil; r.error = "out of memory" }
                records.append(r)
            }
        }
        return records
    }

    func line(_ r: ResultRecord) throws -> String { String(decoding: try JournalLine(r).bytes, as: UTF8.self) }

    /// JSONDecoder's record, if the fast decoder reads the line; whether it did.
    @discardableResult
    func check(_ bytes: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let slow = try? JSONDecoder().decode(ResultRecord.self, from: Data(bytes))
        guard let fast = bytes.withUnsafeBytes({ LineDecoder.decode(ResultRecord.self, from: $0, memo: memo) }) else { return false }
        XCTAssertEqual(fast, slow, "\(what): \(String(decoding: bytes.prefix(120), as: UTF8.self))", file: file, line: line)
        return true
    }

    @discardableResult
    func check(_ text: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        check(Array(text.utf8), what, file: file, line: line)
    }

    func testWrittenLinesDecodeAsJSONDecoderDecodesThem() throws {
        for r in try written() {
            XCTAssertTrue(check(try line(r), "as written"), "the fast decoder reads what this version writes: \(r.label)")
            XCTAssertTrue(check(try line(r), "again, from the memo"))
        }
    }

    func testVariedLines() throws {
        let records = try written()
        let trial = try XCTUnwrap(records.first { $0.kind == .trial && $0.status == .done })
        let plain = try line(trial)
        func with(_ r: (inout ResultRecord) -> Void) throws -> String {
            var x = trial
            r(&x)
            return try line(x)
        }
        func insert(_ field: String) -> String { "{" + field + "," + plain.dropFirst() }

        XCTAssertTrue(check(try with { $0.label = "étude 温度 🌡 seed=1" }, "unicode"))
        XCTAssertTrue(check(insert("\"label\":\"first wins\""), "a repeated key"))
        XCTAssertTrue(check(insert("\"extra\":{\"a\":[1,-2.5e-3,{\"b\":null}],\"c\":true,\"d\":\"\"}"), "an unknown key"))
        XCTAssertTrue(check(insert(" \"error\" : null "), "null for an optional, spaces"))
        XCTAssertTrue(check(plain.replacingOccurrences(of: ",\"", with: ",\n\t\"") + " \r\n", "whitespace"))
        XCTAssertTrue(check(plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":0"), "zero"))
        XCTAssertTrue(check(plain.replacingOccurrences(of: "\"seconds\":", with: "\"seconds\":5e-324,\"x\":"), "a subnormal"))
        let sparsity = try XCTUnwrap(trial.trial?.sparsity)
        XCTAssertTrue(check(plain.replacingOccurrences(of: "\"sparsity\":\(sparsity)", with: "\"sparsity\":1E+0"), "an exponent"))
        let reordered = try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(plain.utf8)), options: .withoutEscapingSlashes)
        XCTAssertTrue(check(Array(reordered), "keys in another order"))

        // JSONDecoder's: escapes, numbers it reads its own way, repeated keys of a dictionary
        check(try with { $0.label = "a \"quoted\" label\nwith \\ and é" }, "escapes")
        check(try with { $0.status = .failed; $0.metrics = nil; $0.error = "Fatal error: \"x\"\tat /path/to/file.swift:3" }, "an escaped error")
        check(plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":\(trial.rank).0"), "an integer as 1.0")
        check(plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":-0"), "-0")
        check(plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":99999999999999999999"), "an integer too large")
        check(plain.replacingOccurrences(of: "\"seconds\":", with: "\"seconds\":1e400,\"x\":"), "a Double too large")
        check(plain.replacingOccurrences(of: "\"seconds\":", with: "\"seconds\":1e-400,\"x\":"), "a Double too small")
        check(plain.replacingOccurrences(of: "\"sparsity_per_tensor\":{", with: "\"sparsity_per_tensor\":{\"fc1.weight\":0.5,"), "a repeated dictionary key")
        check(plain.replacingOccurrences(of: "\"host\"", with: "\"h\\u006fst\""), "an escaped key")
        check(plain.replacingOccurrences(of: "\"host\"", with: "\"hóst\""), "a non-ASCII key")

        // not records
        for (text, what) in [(String(plain.dropLast(40)), "a torn line"), (plain + "x", "trailing bytes"), ("{}", "an empty object"),
                             ("[]", "an array"), ("null", "null"), ("", "nothing"), ("not json", "text"),
                             (plain.replacingOccurrences(of: "\"format\":2", with: "\"format\":1"), "another format"),
                             (plain.replacingOccurrences(of: ",\"host\":\"\(trial.host)\"", with: ""), "a missing field"),
                             (plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":\"3\""), "a string for a number"),
                             (plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":01"), "a leading zero"),
                             (plain.replacingOccurrences(of: "\"rank\":\(trial.rank)", with: "\"rank\":1."), "a bare point"),
                             (plain.replacingOccurrences(of: "\"host\":\"", with: "\"host\":\"\t"), "a control character"),
                             (plain.replacingOccurrences(of: "\"status\":\"done\"", with: "\"status\":\"finished\""), "an unknown status")] {
            XCTAssertFalse(check(text, what), "\(what): not a record")
            XCTAssertNil(try? JSONDecoder().decode(ResultRecord.self, from: Data(text.utf8)), "\(what): JSONDecoder agrees")
        }
        var invalid = Array(try with { $0.label = "é" }.utf8)
        invalid[invalid.firstIndex(of: 0xC3)!] = 0xFF
        check(invalid, "not UTF-8")
    }

    /// The report's journal read: the records and unreadable lines JSONDecoder finds, line by line.
    func testJournalReadAgreesWithJSONDecoder() throws {
        let path = NSTemporaryDirectory() + "lines-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var lines = try written().map(line)
        lines.insert("not a record", at: 3)
        lines.insert("", at: 5)
        lines[7] = lines[7].replacingOccurrences(of: "\"label\":\"", with: "\"label\":\"\\\"escaped\\\" ")
        let torn = String(lines[1].prefix(100))
        try Data((lines.joined(separator: "\n") + "\n" + torn).utf8).write(to: URL(fileURLWithPath: path))
        var want: [ResultRecord] = [], wantBad: [Int] = []
        for (i, l) in (lines + [torn]).enumerated() where !l.isEmpty {
            if let r = try? JSONDecoder().decode(ResultRecord.self, from: Data(l.utf8)) { want.append(r) } else { wantBad.append(i + 1) }
        }
        let (records, bad) = Journal.read(path)
        XCTAssertEqual(records, want)
        XCTAssertEqual(bad.map(\.line), wantBad)
        XCTAssertEqual(wantBad, [4, lines.count + 1], "the line that is not a record, and the torn last line")
    }
}
