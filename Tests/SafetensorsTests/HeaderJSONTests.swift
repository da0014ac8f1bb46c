import Foundation
@testable import Safetensors
import XCTest

/// The header parser against Foundation's JSONSerialization (the parser it
/// replaced) on valid texts, and its error positions on invalid ones.
final class HeaderJSONTests: XCTestCase {
    func testAgreesWithJSONSerialization() throws {
        let texts = [
            #"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I64","shape":[],"data_offsets":[24,32]}}"#,
            #" {"__metadata__":{"k":"v \"q\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 é 日本"},"x":[]} "#,
            #"[-0, 0, 12, -3, 1.5, -2.5e3, 1E+2, 9223372036854775807, 9223372036854775808, true, false, null, {}, [[]]]"#,
            #""plain""#,
        ]
        for t in texts {
            let ours = try JSONParser.parse(ArraySlice(t.utf8))
            let theirs = try JSONSerialization.jsonObject(with: Data(t.utf8), options: .fragmentsAllowed)
            XCTAssertTrue(same(ours, theirs), "\(t): \(ours) vs \(theirs)")
        }
        XCTAssertEqual(try JSONParser.parse(ArraySlice("[7, 7.0, 1e2]".utf8)), .array([.integer(7), .number(7), .number(100)]))
    }

    func same(_ a: JSON, _ b: Any) -> Bool {
        switch a {
        case .object(let o):
            guard let d = b as? [String: Any], d.count == o.count else { return false }
            return o.allSatisfy { k, v in d[k].map { same(v, $0) } ?? false }
        case .array(let xs):
            guard let ys = b as? [Any], ys.count == xs.count else { return false }
            return zip(xs, ys).allSatisfy { same($0, $1) }
        case .string(let s): return (b as? String) == s
        case .integer(let n): return (b as? NSNumber)?.doubleValue == Double(n)
        case .number(let x): return (b as? NSNumber)?.doubleValue == x
        case .bool(let v): return (b as? Bool) == v
        case .null: return b is NSNull
        }
    }

    func testErrorsSayWhereAndWhat() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let cases: [([UInt8], Int, String)] = [
            (Array(#"{"a":1,}"#.utf8), 7, "string key"),
            (Array(#"{"a" 1}"#.utf8), 5, "':'"),
            (Array("[01]".utf8), 1, "leading zero"),
            (Array("[1 2]".utf8), 3, "']'"),
            (Array("[1.]".utf8), 3, "digit after '.'"),
            (Array("tru".utf8), 0, "'true'"),
            (Array(#""abc"#.utf8), 4, "closing"),
            (Array("\"a\u{01}\"".utf8), 2, "control character"),
            (Array(#""\ud800x""#.utf8), 7, "low surrogate"),
            (Array(#""\q""#.utf8), 2, "valid escape"),
            (Array(#"{"a":1,"a":2}"#.utf8), 7, "second key 'a'"),
            ([0x5B, 0x22, 0xFF, 0x22, 0x5D], 1, "UTF-8"),
            (Array("{} x".utf8), 3, "end of the header"),
            (Array(deep.utf8), 64, "64 deep"),
        ]
        for (text, offset, expected) in cases {
            XCTAssertThrowsError(try JSONParser.parse(text[...]), String(decoding: text, as: UTF8.self)) { e in
                guard let e = e as? JSONSyntaxError else { return XCTFail("\(e)") }
                XCTAssertEqual(e.offset, offset, "\(String(decoding: text, as: UTF8.self)): \(e)")
                XCTAssertTrue(e.expected.contains(expected), "'\(e.expected)' should say '\(expected)'")
            }
        }
    }

    /// A shape whose element count overflows Int is an error, not a trap.
    func testHugeShapeIsAnError() {
        var json = Array(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file += $0 }
        file += json + [0, 0, 0, 0]
        XCTAssertThrowsError(try Safetensors.decode(file, source: "big.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("more than Int.max"), "\(e)")
        }
    }
}
