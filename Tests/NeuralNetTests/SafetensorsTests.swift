import Foundation
import NeuralNet
import Safetensors
import XCTest

final class SafetensorsTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testLayoutFollowsTheSpec() throws {
        let st = Safetensors(tensors: [NamedTensor(name: "a", shape: [2], floats: [1, 2]),
                                       NamedTensor(name: "b", shape: [1, 1], int32s: [7])], metadata: ["k": "v"])
        let bytes = st.encode()
        let n = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(bytes.count, 8 + n + 12)
        let header = String(decoding: bytes[8..<8 + n], as: UTF8.self)
        XCTAssertTrue(header.contains("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), header)
        XCTAssertTrue(header.contains("\"b\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[8,12]}"), header)
        XCTAssertEqual(try Safetensors.decode(bytes, source: "x"), st)
    }

    func testEveryViolationIsNamed() throws {
        let good = Safetensors(tensors: [NamedTensor(name: "w", shape: [2], floats: [1, 2])]).encode()
        func header(_ json: String, data: Int) -> [UInt8] {
            var h = Array(json.utf8); while h.count % 8 != 0 { h.append(0x20) }
            var out: [UInt8] = []
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
            return out + h + [UInt8](repeating: 0, count: data)
        }
        let cases: [([UInt8], String)] = [
            (Array(good.prefix(5)), "shorter than the 8-byte header length"),
            ([255, 0, 0, 0, 0, 0, 0, 0] + good.dropFirst(8), "exceeds the file"),
            (Array(good.dropLast(3)), "truncated"),
            (good + [0, 0, 0, 0], "trailing bytes"),
            (header("{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: 4), "unknown dtype 'F33'"),
            (header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: 4), "needs 8"),
            (header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", data: 12), "hole"),
            (header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: 8), "overlaps"),
            (header("{\"w\":[1,2]", data: 0), "not valid JSON"),
            (header("{\"__metadata__\":{\"a\":1}}", data: 0), "__metadata__"),
        ]
        for (bytes, expected) in cases {
            XCTAssertThrowsError(try Safetensors.decode(bytes, source: "f.safetensors")) { e in
                XCTAssertTrue("\(e)".contains(expected) && "\(e)".contains("f.safetensors"), "'\(e)' should say '\(expected)'")
            }
        }
    }

    func testModelRoundTripWithMasks() throws {
        let m = Model(.lenet5, seed: 2)
        m.parameters[4].setMask((0..<m.parameters[4].count).map { Float($0 % 3 == 0 ? 0 : 1) })
        let path = dir + "/m.safetensors"
        try m.save(to: path)
        let back = try Model.load(path: path)
        XCTAssertEqual(back.architecture, .lenet5)
        XCTAssertEqual(back.store.flatValues, m.store.flatValues)
        XCTAssertEqual(back.parameters[4].mask, m.parameters[4].mask)
        XCTAssertNil(back.parameters[0].mask)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.safetensors"], "no temporary file left")
    }

    /// Python's safetensors package reads our file with PyTorch's names and
    /// layouts, and we read a file it wrote.
    func testPythonInterop() throws {
        guard python("import safetensors, numpy") == 0 else { throw XCTSkip("python3 with safetensors and numpy is needed (make test installs it)") }
        let m = Model(.mlp([5]), inputSide: 4, classes: 3, seed: 1)
        let ours = dir + "/ours.safetensors", theirs = dir + "/theirs.safetensors"
        try m.save(to: ours)
        let w = m.parameters[0].values
        let script = """
        import numpy as np
        from safetensors.numpy import load_file, save_file
        from safetensors import safe_open
        t = load_file('\(ours)')
        assert sorted(t) == ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight'], sorted(t)
        assert t['fc1.weight'].shape == (5, 16) and t['fc1.weight'].dtype == np.float32
        assert abs(float(t['fc1.weight'][1, 2]) - \(w[1 * 16 + 2])) < 1e-7
        with safe_open('\(ours)', 'np') as f: assert f.metadata()['architecture'] == 'mlp:5'
        t['fc1.weight'] = t['fc1.weight'] * 2
        save_file(t, '\(theirs)', metadata={'architecture': 'mlp:5', 'classes': '3', 'input_side': '4'})
        """
        XCTAssertEqual(python(script), 0)
        let back = try Model.load(path: theirs)
        XCTAssertEqual(back.parameters[0].values, w.map { $0 * 2 })
        XCTAssertEqual(back.parameters[3].values, m.parameters[3].values)
    }

    func python(_ code: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code]
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// A model file's metadata is checked before a model is allocated from it (issue 18).
final class ModelMetadataTests: XCTestCase {
    func file(_ key: String, _ value: String) -> Safetensors {
        var f = Model(.mlp([4]), seed: 1).safetensors()
        f.metadata[key] = value
        return f
    }

    func testBadNumbersAreErrorsNamingTheKey() {
        for (key, value) in [("classes", "-1"), ("classes", "1"), ("input_side", "9223372036854775807"), ("input_side", "abc"), ("input_side", "0")] {
            XCTAssertThrowsError(try Model(file(key, value), source: "m")) { e in
                XCTAssertTrue("\(e)".contains("'\(key)' is '\(value)'"), "\(e)")
            }
        }
    }

    func testAModelLargerThanItsFileIsALie() {
        XCTAssertThrowsError(try Model(file("architecture", "mlp:65536"), source: "m")) { e in
            XCTAssertTrue("\(e)".contains("parameters; the file holds"), "\(e)")
        }
        XCTAssertEqual(Architecture.mlp([4]).parameterCount(inputSide: 28, classes: 10), 785 * 4 + 5 * 10)
        XCTAssertEqual(Architecture.lenet5.parameterCount(inputSide: 28, classes: 10), Model(.lenet5).parameters.reduce(0) { $0 + $1.count })
    }
}
