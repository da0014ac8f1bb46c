import Foundation
import Safetensors
@testable import TensorStore
import XCTest

/// A small object of random floats (and an int tensor), deterministic in `seed`.
func sampleObject(seed: UInt64, floats: Int = 1000) -> Safetensors {
    var state = seed &* 0x9E3779B97F4A7C15 | 1
    let values = (0..<floats).map { _ -> Float in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(Int64(bitPattern: state % 2001) - 1000) / 1000
    }
    return Safetensors(tensors: [
        NamedTensor(name: "fc.weight", shape: [floats], floats: values),
        NamedTensor(name: "labels", shape: [2, 2], int32s: [1, 2, 3, Int32(seed % 1000)]),
    ], metadata: ["architecture": "mlp:10"])
}

let testProvenance = Provenance(task: "parent arch=mlp seed=1", sweepHash: "abc123", toolVersion: "0.1.0")

func temporaryDirectory(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "tensorstore-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Runs a program, returning its exit status and output.
@discardableResult
func run(_ program: String, _ args: [String], env: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// python3 with the safetensors package, or a failure saying how to get it.
func python(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = try run("/usr/bin/env", ["python3", "-c", script])
    if r.output.contains("No module named 'safetensors'") {
        XCTFail("python safetensors missing: pip install -q safetensors", file: file, line: line)
    }
    XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
    return r.output
}

func assertStoreError(_ expected: (StoreError) -> Bool, _ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do { try body(); XCTFail("expected \(what), got success", file: file, line: line) } catch let e as StoreError {
        XCTAssertTrue(expected(e), "expected \(what), got \(e)", file: file, line: line)
    } catch { XCTFail("expected StoreError \(what), got \(error)", file: file, line: line) }
}

extension StoreError {
    var isMissing: Bool { if case .missing = self { return true }; return false }
    func isCorrupt(_ containing: String = "") -> Bool {
        if case .corrupt(_, let why) = self { return containing.isEmpty || why.contains(containing) }
        return false
    }
}
