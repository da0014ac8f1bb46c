import Foundation
import XCTest

/// Runs `python3 -c script` and returns stdout, for reference values from
/// numpy/scipy. Skips the test when python3 or scipy is missing.
public func python(_ script: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import numpy, scipy, scipy.stats\n" + script]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    do { try p.run() } catch { throw XCTSkip("python3 not available: \(error)") }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        if errText.contains("No module named") { throw XCTSkip("numpy/scipy not installed: \(errText)") }
        struct PythonFailed: Error { let text: String }
        throw PythonFailed(text: errText)
    }
    return String(decoding: data, as: UTF8.self)
}

/// Parses python's whitespace-separated numbers.
public func numbers(_ text: String) -> [Double] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).map { Double($0) ?? .nan }
}

public func pyList(_ x: [Double]) -> String { "[" + x.map { String($0) }.joined(separator: ",") + "]" }

public func assertClose(_ a: Double, _ b: Double, rel: Double = 1e-9, abs absTol: Double = 1e-12, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(abs(a - b) <= max(absTol, rel * max(abs(a), abs(b))), "\(a) != \(b) \(message)", file: file, line: line)
}
