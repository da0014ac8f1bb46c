/// A JSON value of a safetensors header.
indirect enum JSON: Equatable {
    case object([String: JSON])
    case array([JSON])
    case string(String)
    case integer(Int)
    case number(Double)   // any number that is not an integer that fits Int
    case bool(Bool)
    case null
}

public struct JSONSyntaxError: Error, Equatable {
    public let offset: Int
    public let expected: String
}

/// A strict RFC 8259 parser for headers (UTF-8, no duplicate keys, nesting at
/// most 64 deep). Every get parses one, and Foundation's JSONSerialization took
/// most of a small object's get.
struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0

    /// The value `bytes` hold, with only whitespace around it.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONSyntaxError) -> JSON {
        try bytes.withUnsafeBufferPointer { buf throws(JSONSyntaxError) -> JSON in
            var p = JSONParser(bytes: buf)
            let v = try p.value()
            p.skipSpace()
            guard p.i == buf.count else { throw p.error("the end of the header") }
            return v
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ expected: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, expected: expected) }

    private var next: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while let c = next, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(JSONSyntaxError) {
        guard next == c else { throw error("'\(Character(Unicode.Scalar(c)))'") }
        i += 1
    }

    private mutating func value() throws(JSONSyntaxError) -> JSON {
        skipSpace()
        switch next {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { throw error("nesting at most 64 deep") }
            return try next == UInt8(ascii: "{") ? object() : array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case let c? where c == UInt8(ascii: "-") || (0x30...0x39).contains(c): return try number()
        default: throw error("a JSON value")
        }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSON {
        i += 1
        var members: [String: JSON] = [:]
        skipSpace()
        if next == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            let at = i
            guard next == UInt8(ascii: "\"") else { throw error("a string key") }
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            guard members.updateValue(try value(), forKey: key) == nil else {
                throw JSONSyntaxError(offset: at, expected: "no second key '\(key)'")
            }
            skipSpace()
            if next == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            return .object(members)
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> JSON {
        i += 1
        var items: [JSON] = []
        skipSpace()
        if next == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value())
            skipSpace()
            if next == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "]"))
            return .array(items)
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard i + w.count <= bytes.count, zip(w, bytes[i..<i + w.count]).allSatisfy({ $0 == $1 }) else { throw error("'\(word)'") }
        i += w.count
    }

    private mutating func number() throws(JSONSyntaxError) -> JSON {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while let c = p.next, (0x30...0x39).contains(c) { p.i += 1 }
            return p.i - s
        }
        if next == UInt8(ascii: "-") { i += 1 }
        let first = next
        let n = digits(&self)
        guard n > 0 else { throw error("a digit") }
        guard first != UInt8(ascii: "0") || n == 1 else { throw JSONSyntaxError(offset: start, expected: "no leading zero") }
        var integral = true
        if next == UInt8(ascii: ".") {
            i += 1; integral = false
            guard digits(&self) > 0 else { throw error("a digit after '.'") }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            i += 1; integral = false
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw error("a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let v = Int(text) { return .integer(v) }
        return .number(Double(text) ?? .infinity)
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        let start = i
        i += 1
        var out = [UInt8]()
        var runStart = i
        while true {
            guard let c = next else { throw error("'\"' closing the string") }
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw error("an escape instead of a control character") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out += bytes[runStart..<i]
            i += 1
            guard let e = next else { throw error("an escape") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {   // a high surrogate: its low half must follow
                    guard next == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else { throw error("a low surrogate") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("a low surrogate") }
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("a Unicode scalar, not a lone surrogate") }
                out += Array(String(Character(u)).utf8)
            default: throw JSONSyntaxError(offset: i - 1, expected: "a valid escape")
            }
            runStart = i
        }
        let text: String?
        if out.isEmpty { text = String(validating: bytes[runStart..<i], as: UTF8.self) } else {
            out += bytes[runStart..<i]
            text = String(validating: out, as: UTF8.self)
        }
        guard let text else { throw JSONSyntaxError(offset: start, expected: "a string of UTF-8 text") }
        i += 1
        return text
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = next, let d = Character(Unicode.Scalar(c)).hexDigitValue else { throw error("4 hex digits") }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }
}
