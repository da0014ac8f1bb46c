/// The subset of TOML a sweep file needs: [tables] and [a.b] headers,
/// `key = value` with bare, quoted or dotted keys, strings, integers, floats,
/// booleans, and (multi-line) arrays; `#` comments. Every value remembers its
/// line, so errors can name the key and the line. The parser recurses into
/// arrays and dotted keys, so both have a depth limit (a hostile file must not
/// overflow the stack).
public indirect enum TOMLValue: Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([TOMLNode])
    case table(TOMLTable)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

public struct TOMLNode: Equatable {
    public let value: TOMLValue
    public let line: Int
}

public struct TOMLTable: Equatable {
    public var entries: [(key: String, node: TOMLNode)] = []
    public subscript(key: String) -> TOMLNode? { entries.first { $0.key == key }?.node }
    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && zip(a.entries, b.entries).allSatisfy { $0.node == $1.node }
    }
}

public struct TOMLError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

public enum TOML {
    /// Deepest array nesting and longest dotted key accepted (a sweep file needs 2 and 3).
    public static let maxDepth = 16
    public static func parse(_ text: String, file: String) throws -> TOMLTable {
        var parser = Parser(chars: Array(text.unicodeScalars), file: file)
        return try parser.document()
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        let file: String
        var i = 0
        var line = 1
        var depth = 0

        init(chars: [Unicode.Scalar], file: String) { self.chars = chars; self.file = file }

        func fail(_ m: String, at l: Int? = nil) -> TOMLError { TOMLError(file: file, line: l ?? line, message: m) }
        var peek: Unicode.Scalar? { i < chars.count ? chars[i] : nil }
        mutating func advance() { if chars[i] == "\n" { line += 1 }; i += 1 }

        mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { advance() } }
        mutating func skipComment() { if peek == "#" { while let c = peek, c != "\n" { advance() } } }
        /// Spaces, comments and newlines (inside arrays).
        mutating func skipBlank() {
            while true {
                skipSpaces(); skipComment()
                guard let c = peek, c == "\n" || c == "\r" else { return }
                advance()
            }
        }
        mutating func endOfLine() throws {
            skipSpaces(); skipComment()
            if peek == "\r" { advance() }
            guard peek == nil || peek == "\n" else { throw fail("unexpected '\(peek!)' after the value") }
            if peek != nil { advance() }
        }

        mutating func document() throws -> TOMLTable {
            var root = TOMLTable()
            var current: [String] = []
            var defined: Set<[String]> = []
            while true {
                skipBlank()
                guard let c = peek else { return root }
                if c == "[" {
                    let at = line
                    advance()
                    let path = try keyPath(until: "]")
                    advance()
                    try endOfLine()
                    guard defined.insert(path).inserted else { throw fail("table [\(path.joined(separator: "."))] is defined twice", at: at) }
                    try insert(&root, path: path, node: TOMLNode(value: .table(TOMLTable()), line: at), merge: true)
                    current = path
                } else {
                    let at = line
                    let path = try keyPath(until: "=")
                    advance(); skipSpaces()
                    let v = try value()
                    try endOfLine()
                    try insert(&root, path: current + path, node: TOMLNode(value: v, line: at), merge: false)
                }
            }
        }

        mutating func keyPath(until end: Unicode.Scalar) throws -> [String] {
            var parts: [String] = []
            while true {
                skipSpaces()
                guard let c = peek else { throw fail("unexpected end of file in a key") }
                if c == "\"" { parts.append(try basicString()) } else {
                    var k = ""
                    while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" { k.unicodeScalars.append(c); advance() }
                    guard !k.isEmpty else { throw fail("expected a key, found '\(c)'") }
                    parts.append(k)
                }
                skipSpaces()
                if peek == "." {
                    guard parts.count < TOML.maxDepth else { throw fail("key '\(parts.prefix(3).joined(separator: ".")).…' has more than \(TOML.maxDepth) parts") }
                    advance(); continue
                }
                guard peek == end else { throw fail("expected '\(end)' after key '\(parts.joined(separator: "."))'") }
                return parts
            }
        }

        mutating func insert(_ table: inout TOMLTable, path: [String], node: TOMLNode, merge: Bool) throws {
            let key = path[0]
            let idx = table.entries.firstIndex { $0.key == key }
            if path.count == 1 {
                if let idx {
                    guard merge, case .table = table.entries[idx].node.value else {
                        throw fail("key '\(key)' is defined twice (first on line \(table.entries[idx].node.line))", at: node.line)
                    }
                    return
                }
                table.entries.append((key, node)); return
            }
            var sub = TOMLTable(), subLine = node.line
            if let idx {
                guard case .table(let t) = table.entries[idx].node.value else {
                    throw fail("key '\(key)' is not a table (line \(table.entries[idx].node.line))", at: node.line)
                }
                sub = t; subLine = table.entries[idx].node.line
            }
            try insert(&sub, path: Array(path.dropFirst()), node: node, merge: merge)
            let n = TOMLNode(value: .table(sub), line: subLine)
            if let idx { table.entries[idx].node = n } else { table.entries.append((key, n)) }
        }

        mutating func value() throws -> TOMLValue {
            guard let c = peek else { throw fail("expected a value") }
            switch c {
            case "\"": return .string(try basicString())
            case "'":
                advance()
                var s = ""
                while let c = peek, c != "'" { guard c != "\n" else { throw fail("unterminated string") }; s.unicodeScalars.append(c); advance() }
                guard peek == "'" else { throw fail("unterminated string") }
                advance()
                return .string(s)
            case "[":
                guard depth < TOML.maxDepth else { throw fail("arrays nested more than \(TOML.maxDepth) deep") }
                depth += 1
                defer { depth -= 1 }
                advance()
                var items: [TOMLNode] = []
                while true {
                    skipBlank()
                    if peek == "]" { advance(); return .array(items) }
                    let at = line
                    items.append(TOMLNode(value: try value(), line: at))
                    skipBlank()
                    if peek == "," { advance(); continue }
                    guard peek == "]" else { throw fail("expected ',' or ']' in an array") }
                }
            default:
                var word = ""
                while let c = peek, !" \t\r\n,]#".unicodeScalars.contains(c) { word.unicodeScalars.append(c); advance() }
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                let digits = word.replacingOccurrences(of: "_", with: "")
                if let n = Int(digits) { return .integer(n) }
                if let d = Double(digits), digits.contains(where: { "0123456789".contains($0) }) { return .float(d) }
                throw fail(word.isEmpty ? "expected a value" : "'\(word)' is not a value (strings need quotes)")
            }
        }

        mutating func basicString() throws -> String {
            advance()
            var s = ""
            while let c = peek, c != "\"" {
                guard c != "\n" else { throw fail("unterminated string") }
                advance()
                if c == "\\" {
                    guard let e = peek else { break }
                    advance()
                    switch e {
                    case "n": s += "\n"
                    case "t": s += "\t"
                    case "\"": s += "\""
                    case "\\": s += "\\"
                    default: throw fail("unsupported escape '\\\(e)'")
                    }
                } else { s.unicodeScalars.append(c) }
            }
            guard peek == "\"" else { throw fail("unterminated string") }
            advance()
            return s
        }
    }
}
