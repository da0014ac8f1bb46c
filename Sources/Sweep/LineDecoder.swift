import Foundation
import NeuralNet

/// Decodes one journal line about four times faster than JSONDecoder (a report
/// reads journals of a million lines). It reads the line once into a list of
/// nodes and finds keys by comparing bytes, where JSONDecoder builds a
/// dictionary of Strings per object; it reads [String: Double] directly and
/// decodes the objects that repeat from line to line once. What it returns is what JSONDecoder
/// returns for the same bytes: it returns nil for lines that are not JSON, for
/// decoding errors, and for whatever it might read otherwise than JSONDecoder
/// (escaped strings, non-ASCII keys, integers written otherwise than as plain
/// digits, numbers that do not fit, Float, Foundation's Date, Data, URL and
/// Decimal), and then the caller asks JSONDecoder.
enum LineDecoder {
    struct Node {
        enum Kind { case object, array, string, number, `true`, `false`, null }
        var kind: Kind
        /// A string's bytes between its quotes, a number's text, a container's brackets and what they hold.
        var bytes: Range<Int>
        /// The node after this value and the values inside it.
        var next: Int
    }

    /// Values of the objects that repeat from line to line (a trial's parent,
    /// training settings), by their bytes: decoded once. One per thread.
    final class Memo {
        struct Key: Hashable {
            var type: ObjectIdentifier, bytes: [UInt8]
            func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }   // not byte by byte
        }
        var values: [Key: Any] = [:]
    }

    static func decode<T: Decodable>(_ type: T.Type, from line: UnsafeRawBufferPointer, memo: Memo) -> T? {
        var parser = Parser(line: line)
        var i = parser.skipSpace(0)
        guard parser.parse(&i, depth: 0), parser.skipSpace(i) == line.count else { return nil }
        let tape = Tape(line: line, nodes: parser.nodes, memo: memo)
        guard let value = try? tape.value(T.self, at: 0), !tape.unsure else { return nil }
        return value
    }
}

/// Reads a line into nodes, checking it is JSON.
private struct Parser {
    typealias Node = LineDecoder.Node
    let line: UnsafeRawBufferPointer
    var nodes: [Node] = []

    init(line: UnsafeRawBufferPointer) {
        self.line = line
        nodes.reserveCapacity(line.count / 8)
    }

    func skipSpace(_ from: Int) -> Int {
        var i = from
        while i < line.count {
            switch line[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    /// Appends the nodes of the value at `i` (a container before what it holds) and moves `i` past it; false if not JSON, or not read here.
    mutating func parse(_ i: inout Int, depth: Int) -> Bool {
        guard i < line.count, depth < 64 else { return false }
        let index = nodes.count, first = line[i]
        nodes.append(Node(kind: .null, bytes: i ..< i, next: 0))
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let object = first == UInt8(ascii: "{"), close = object ? UInt8(ascii: "}") : UInt8(ascii: "]")
            nodes[index].kind = object ? .object : .array
            defer { nodes[index].bytes = nodes[index].bytes.lowerBound ..< i }
            i = skipSpace(i + 1)
            if i < line.count, line[i] == close {
                i += 1
                break
            }
            while true {
                if object {   // a key, then a colon
                    guard i < line.count, line[i] == UInt8(ascii: "\""), parseString(&i) == true else { return false }
                    i = skipSpace(i)
                    guard i < line.count, line[i] == UInt8(ascii: ":") else { return false }
                    i = skipSpace(i + 1)
                }
                guard parse(&i, depth: depth + 1) else { return false }
                i = skipSpace(i)
                guard i < line.count else { return false }
                if line[i] == close {
                    i += 1
                    break
                }
                guard line[i] == UInt8(ascii: ",") else { return false }
                i = skipSpace(i + 1)
            }
        case UInt8(ascii: "\""):
            nodes.removeLast()
            return parseString(&i) != nil
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let (word, kind): (StaticString, Node.Kind) = first == UInt8(ascii: "t") ? ("true", .true) : first == UInt8(ascii: "f") ? ("false", .false) : ("null", .null)
            guard i + word.utf8CodeUnitCount <= line.count, memcmp(line.baseAddress! + i, word.utf8Start, word.utf8CodeUnitCount) == 0 else { return false }
            nodes[index].kind = kind
            i += word.utf8CodeUnitCount
        default:   // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            func digits() -> Int {
                let from = i
                while i < line.count, (0x30...0x39).contains(line[i]) { i += 1 }
                return i - from
            }
            if line[i] == UInt8(ascii: "-") { i += 1 }
            let leadingZero = i < line.count && line[i] == 0x30, whole = digits()
            guard whole > 0, !leadingZero || whole == 1 else { return false }
            if i < line.count, line[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { return false }
            }
            if i < line.count, line[i] | 0x20 == UInt8(ascii: "e") {
                i += 1
                if i < line.count, line[i] == UInt8(ascii: "+") || line[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { return false }
            }
            nodes[index].kind = .number
            nodes[index].bytes = nodes[index].bytes.lowerBound ..< i
        }
        nodes[index].next = nodes.count
        return true
    }

    /// Appends the node of the string at `i` and moves `i` past it: whether it
    /// is ASCII; nil if it has escapes (not read here), control characters or is not UTF-8.
    private mutating func parseString(_ i: inout Int) -> Bool? {
        let start = i + 1
        var j = start, ascii = true
        while j < line.count, line[j] != UInt8(ascii: "\"") {
            guard line[j] >= 0x20, line[j] != UInt8(ascii: "\\") else { return nil }
            if line[j] >= 0x80 { ascii = false }
            j += 1
        }
        guard j < line.count else { return nil }
        let bytes = UnsafeRawBufferPointer(rebasing: line[start ..< j])
        guard ascii || String(validating: bytes, as: UTF8.self) != nil else { return nil }
        nodes.append(Node(kind: .string, bytes: start ..< j, next: nodes.count + 1))
        i = j + 1
        return ascii
    }
}

/// A line read, and what decoding it met.
private final class Tape {
    typealias Node = LineDecoder.Node
    let line: UnsafeRawBufferPointer
    let nodes: [Node]
    let memo: LineDecoder.Memo
    /// Set when decoding met something this decoder may read otherwise than JSONDecoder:
    /// the result stands for nothing, even if an `init(from:)` caught the error.
    var unsure = false
    /// strtod reads numbers in the process's locale: as JSONDecoder does (in the C locale) where the decimal point is '.'.
    static let pointIsDot = String(cString: localeconv().pointee.decimal_point) == "."

    init(line: UnsafeRawBufferPointer, nodes: [Node], memo: LineDecoder.Memo) { self.line = line; self.nodes = nodes; self.memo = memo }

    /// Types JSONDecoder reads its own way, types read directly, and types whose values repeat (compared as identifiers: casts cost).
    static let foundation: Set = [ObjectIdentifier(Date.self), ObjectIdentifier(Data.self), ObjectIdentifier(URL.self), ObjectIdentifier(Decimal.self)]
    static let doublesType = ObjectIdentifier([String: Double].self)
    static let repeating: Set = [ObjectIdentifier(TrainSpec.self), ObjectIdentifier(TrainingSettings.self)]

    func value<T: Decodable>(_ type: T.Type, at n: Int) throws -> T {
        let id = ObjectIdentifier(T.self)
        guard !Tape.foundation.contains(id) else { throw notRead() }
        if id == Tape.doublesType { return try doubles(at: n) as! T }
        guard Tape.repeating.contains(id), nodes[n].kind == .object else { return try T(from: NodeDecoder(tape: self, node: n)) }
        let key = LineDecoder.Memo.Key(type: id, bytes: Array(line[nodes[n].bytes]))
        if let v = memo.values[key] as? T { return v }
        let v = try T(from: NodeDecoder(tape: self, node: n))
        if !unsure {
            if memo.values.count >= 4096 { memo.values.removeAll() }   // bounded, whatever the journal
            memo.values[key] = v
        }
        return v
    }

    /// Read directly: the standard library's decoding of a dictionary costs more than the rest of a line.
    func doubles(at n: Int) throws -> [String: Double] {
        guard nodes[n].kind == .object else { throw mismatch([String: Double].self, at: n) }
        var out: [String: Double] = [:], k = n + 1
        while k < nodes[n].next {
            guard out.updateValue(try double(at: k + 1), forKey: try string(at: k)) == nil else { throw notRead() }   // a key twice
            k = nodes[k + 1].next
        }
        return out
    }

    /// An error for something JSONDecoder might read otherwise.
    func notRead() -> Error {
        unsure = true
        return DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not read by the line decoder"))
    }

    func mismatch(_ type: Any.Type, at n: Int) -> Error {
        DecodingError.typeMismatch(type, .init(codingPath: [], debugDescription: "found \(nodes[n].kind)"))
    }

    func string(at n: Int) throws -> String {
        guard nodes[n].kind == .string else { throw mismatch(String.self, at: n) }
        return String(decoding: UnsafeRawBufferPointer(rebasing: line[nodes[n].bytes]), as: UTF8.self)
    }

    func bool(at n: Int) throws -> Bool {
        switch nodes[n].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, at: n)
        }
    }

    /// As JSONDecoder reads it: by strtod; what overflows, or underflows to 0, is refused.
    func double(at n: Int) throws -> Double {
        guard nodes[n].kind == .number else { throw mismatch(Double.self, at: n) }
        guard Tape.pointIsDot else { throw notRead() }
        let text = line[nodes[n].bytes]
        let v = withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { chars in   // NUL-terminated
            for (k, c) in text.enumerated() { chars[k] = CChar(bitPattern: c) }
            chars[text.count] = 0
            return strtod(chars.baseAddress!, nil)
        }
        guard v.isFinite, v != 0 || text.prefix(while: { $0 | 0x20 != UInt8(ascii: "e") }).allSatisfy({ !(0x31...0x39).contains($0) }) else {
            throw notRead()
        }
        return v
    }

    /// Plain digits only (JSONDecoder also reads 1.0 or 1e3 as integers: those are left to it).
    func integer<T: FixedWidthInteger>(_ type: T.Type, at n: Int) throws -> T {
        guard nodes[n].kind == .number else { throw mismatch(T.self, at: n) }
        var text = line[nodes[n].bytes]
        let negative = text.first == UInt8(ascii: "-")
        if negative { text = text.dropFirst() }
        var v: T = 0
        for c in text {
            guard (0x30...0x39).contains(c) else { throw notRead() }
            let (times, o1) = v.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(T(c - 0x30)) : times.addingReportingOverflow(T(c - 0x30))
            guard !o1, !o2 else { throw notRead() }
            v = sum
        }
        guard !negative || v != 0 else { throw notRead() }
        return v
    }

    /// The value node of `key` in an object, nil if absent (the first, when a key repeats, as JSONDecoder).
    func member(_ key: String, of object: Int) -> Int? {
        var key = key
        return key.withUTF8 { want in
            var k = object + 1
            while k < nodes[object].next {
                let have = nodes[k].bytes
                if have.count == want.count, want.isEmpty || memcmp(line.baseAddress! + have.lowerBound, want.baseAddress!, want.count) == 0 { return k + 1 }
                k = nodes[k + 1].next
            }
            return nil
        }
    }
}

private struct NodeDecoder: Decoder {
    let tape: Tape, node: Int
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.nodes[node].kind == .object else { throw tape.mismatch([String: Any].self, at: node) }
        return KeyedDecodingContainer(ObjectContainer(tape: tape, object: node))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard tape.nodes[node].kind == .array else { throw tape.mismatch([Any].self, at: node) }
        return ArrayContainer(tape: tape, array: node)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { ValueContainer(tape: tape, node: node) }
}

private struct ObjectContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let tape: Tape, object: Int
    var codingPath: [CodingKey] { [] }

    var allKeys: [Key] {
        var keys: [Key] = [], k = object + 1
        while k < tape.nodes[object].next {
            if let key = Key(stringValue: (try? tape.string(at: k)) ?? "") { keys.append(key) }
            k = tape.nodes[k + 1].next
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { tape.member(key.stringValue, of: object) != nil }

    private func node(_ key: Key) throws -> Int {
        guard let n = tape.member(key.stringValue, of: object) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: [], debugDescription: "no such key"))
        }
        return n
    }

    private func value(_ key: Key, _ type: Any.Type) throws -> Int {
        let n = try node(key)
        guard tape.nodes[n].kind != .null else { throw DecodingError.valueNotFound(type, .init(codingPath: [], debugDescription: "null")) }
        return n
    }

    func decodeNil(forKey key: Key) throws -> Bool { tape.nodes[try node(key)].kind == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try tape.bool(at: value(key, type)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try tape.string(at: value(key, type)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try tape.double(at: value(key, type)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw tape.notRead() }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try tape.integer(type, at: value(key, type)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try tape.integer(type, at: value(key, type)) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try tape.value(type, at: node(key)) }
    // one look-up where the default looks three times
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let n = tape.member(key.stringValue, of: object), tape.nodes[n].kind != .null else { return nil }
        return try tape.double(at: n)
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let n = tape.member(key.stringValue, of: object), tape.nodes[n].kind != .null else { return nil }
        return try tape.value(type, at: n)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try NodeDecoder(tape: tape, node: node(key)).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try NodeDecoder(tape: tape, node: node(key)).unkeyedContainer() }
    func superDecoder() throws -> Decoder { throw tape.notRead() }
    func superDecoder(forKey key: Key) throws -> Decoder { throw tape.notRead() }
}

private struct ArrayContainer: UnkeyedDecodingContainer {
    let tape: Tape, array: Int
    var next: Int
    var currentIndex = 0

    init(tape: Tape, array: Int) { self.tape = tape; self.array = array; next = array + 1 }

    var codingPath: [CodingKey] { [] }
    var isAtEnd: Bool { next >= tape.nodes[array].next }
    var count: Int? {
        var n = 0, k = array + 1
        while k < tape.nodes[array].next { n += 1; k = tape.nodes[k].next }
        return n
    }

    /// Reads the next element and moves past it (only once read, as JSONDecoder).
    private mutating func next<T>(_ type: Any.Type, null: Bool = false, _ read: (Tape, Int) throws -> T) throws -> T {
        guard !isAtEnd else { throw DecodingError.valueNotFound(type, .init(codingPath: [], debugDescription: "at the end of the array")) }
        guard null || tape.nodes[next].kind != .null else { throw DecodingError.valueNotFound(type, .init(codingPath: [], debugDescription: "null")) }
        let value = try read(tape, next)
        next = tape.nodes[next].next
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: [], debugDescription: "at the end of the array")) }
        guard tape.nodes[next].kind == .null else { return false }
        return try next(Any?.self, null: true) { _, _ in true }
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try $0.bool(at: $1) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try $0.string(at: $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try $0.double(at: $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { throw tape.notRead() }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) { try $0.integer(type, at: $1) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type, null: true) { try $0.value(type, at: $1) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(type, null: true) { try NodeDecoder(tape: $0, node: $1).container(keyedBy: type) }
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        try next([Any].self, null: true) { try NodeDecoder(tape: $0, node: $1).unkeyedContainer() }
    }
    mutating func superDecoder() throws -> Decoder { throw tape.notRead() }
}

private struct ValueContainer: SingleValueDecodingContainer {
    let tape: Tape, node: Int
    var codingPath: [CodingKey] { [] }

    private func value(_ type: Any.Type) throws -> Int {
        guard tape.nodes[node].kind != .null else { throw DecodingError.valueNotFound(type, .init(codingPath: [], debugDescription: "null")) }
        return node
    }

    func decodeNil() -> Bool { tape.nodes[node].kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try tape.bool(at: value(type)) }
    func decode(_ type: String.Type) throws -> String { try tape.string(at: value(type)) }
    func decode(_ type: Double.Type) throws -> Double { try tape.double(at: value(type)) }
    func decode(_ type: Float.Type) throws -> Float { throw tape.notRead() }
    func decode(_ type: Int.Type) throws -> Int { try tape.integer(type, at: value(type)) }
    func decode(_ type: Int8.Type) throws -> Int8 { try tape.integer(type, at: value(type)) }
    func decode(_ type: Int16.Type) throws -> Int16 { try tape.integer(type, at: value(type)) }
    func decode(_ type: Int32.Type) throws -> Int32 { try tape.integer(type, at: value(type)) }
    func decode(_ type: Int64.Type) throws -> Int64 { try tape.integer(type, at: value(type)) }
    func decode(_ type: UInt.Type) throws -> UInt { try tape.integer(type, at: value(type)) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try tape.integer(type, at: value(type)) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try tape.integer(type, at: value(type)) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try tape.integer(type, at: value(type)) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try tape.integer(type, at: value(type)) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try tape.value(type, at: node) }
}
