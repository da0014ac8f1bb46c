import Foundation

/// One journal line as bytes, with the three fields rank 0 needs read out of
/// it: the leader that ran the task encodes the line (so rank 0 never encodes
/// specs or metrics), rank 0 checks it and appends it as it came.
public struct JournalLine: Sendable {
    public let bytes: [UInt8]
    public let task: String
    public let status: TaskStatus

    public init(_ r: ResultRecord) throws {
        bytes = try JournalLine.encoder.encode(r).bytes
        task = r.task; status = r.status
    }

    /// A line from elsewhere: one JSON object of the current format with a task and a status.
    public init(checking bytes: [UInt8]) throws {
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}"), !bytes.contains(UInt8(ascii: "\n")) else {
            throw SweepError("a journal line must be one JSON object on one line: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
        }
        let f = bytes.withUnsafeBytes { JournalLine.topLevel($0) }
        guard f.format == ResultRecord.currentFormat, let task = f.task, let status = f.status.flatMap(TaskStatus.init(rawValue:)) else {
            throw SweepError("not a journal line of format \(ResultRecord.currentFormat) with a task and a status: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
        }
        self.bytes = bytes; self.task = task; self.status = status
    }

    public var state: Scheduler.State { ResultRecord.state(status) }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// The fields as this version writes them (keys sorted, so the line starts
    /// `{"finished":"...","format":N,` and ends `,"status":"S","task":"ID"}`),
    /// read from the line's two ends only; nil when the line is not in that
    /// shape (an error field, escapes, another writer): then `topLevel` scans it all.
    /// Sound: a value that is a plain string right before the closing brace,
    /// and its neighbour separated by a bare comma, are top-level fields.
    static func sortedEnds(_ b: UnsafeRawBufferPointer) -> (format: Int?, task: String?, status: String?)? {
        let n = b.count, quote = UInt8(ascii: "\"")
        func plain(_ c: UInt8) -> Bool { (97...122).contains(c) || (48...57).contains(c) || c == 45 }   // a-z 0-9 -
        func has(_ s: StaticString, at i: Int) -> Bool {
            i >= 0 && i + s.utf8CodeUnitCount <= n && memcmp(b.baseAddress! + i, s.utf8Start, s.utf8CodeUnitCount) == 0
        }
        // a plain string value ending just before `end` (at its closing quote): its first byte
        func valueStart(closingQuote end: Int) -> Int? {
            guard end > 0, b[end] == quote else { return nil }
            var i = end - 1
            while i >= 0, plain(b[i]) { i -= 1 }
            return i >= 0 && b[i] == quote && i < end - 1 ? i + 1 : nil
        }
        guard n > 40, b[n - 1] == UInt8(ascii: "}"), let taskStart = valueStart(closingQuote: n - 2),
              has(",\"task\":", at: taskStart - 9), let statusStart = valueStart(closingQuote: taskStart - 10),
              has(",\"status\":", at: statusStart - 11), has("{\"finished\":\"", at: 0) else { return nil }
        var i = 13
        while i < n, b[i] != quote, b[i] != UInt8(ascii: "\\") { i += 1 }
        guard has("\",\"format\":", at: i) else { return nil }
        i += 11
        var format = 0, digits = 0
        while i < n, (48...57).contains(b[i]) { format = format * 10 + Int(b[i] - 48); i += 1; digits += 1 }
        guard digits > 0, i < n, b[i] == UInt8(ascii: ",") else { return nil }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: b[r]), as: UTF8.self) }
        return (format, text(taskStart ..< n - 2), text(statusStart ..< taskStart - 10))
    }

    /// The top-level "format", "task" and "status" of one JSON object, found
    /// without decoding the rest (nested objects and strings are skipped; a
    /// string with escapes in one of these fields is not read: ids and statuses have none).
    static func topLevel(_ b: UnsafeRawBufferPointer) -> (format: Int?, task: String?, status: String?) {
        sortedEnds(b) ?? scanned(b)
    }

    static func scanned(_ b: UnsafeRawBufferPointer) -> (format: Int?, task: String?, status: String?) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var format: Int?, task: String?, status: String?
        var i = 0, depth = 0
        var key: Range<Int>?   // the last string read at depth 1 in key position
        var expectKey = false
        func stringEnd(_ from: Int) -> (end: Int, escaped: Bool) {   // from: just past the opening quote
            var j = from, escaped = false
            while j < b.count {
                if b[j] == backslash { escaped = true; j += 2; continue }
                if b[j] == quote { return (j, escaped) }
                j += 1
            }
            return (b.count, escaped)
        }
        func equals(_ r: Range<Int>, _ s: StaticString) -> Bool {
            r.count == s.utf8CodeUnitCount && memcmp(b.baseAddress! + r.lowerBound, s.utf8Start, r.count) == 0
        }
        while i < b.count {
            let c = b[i]
            switch c {
            case quote:
                let (end, escaped) = stringEnd(i + 1)
                if depth == 1 && expectKey {
                    key = i + 1 ..< end
                } else if depth == 1, let k = key, !escaped {
                    let value = String(decoding: UnsafeRawBufferPointer(rebasing: b[i + 1 ..< end]), as: UTF8.self)
                    if equals(k, "task") { task = value } else if equals(k, "status") { status = value }
                    key = nil
                }
                i = end + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectKey = depth == 1 && c == UInt8(ascii: "{")
                if depth == 2 { key = nil }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true; key = nil }
            case UInt8(ascii: ":"):
                if depth == 1 { expectKey = false }
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                if depth == 1, let k = key, equals(k, "format") {
                    var v = 0, j = i
                    while j < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[j]) { v = v * 10 + Int(b[j] - 48); j += 1 }
                    if j > i, j == b.count || b[j] == UInt8(ascii: ",") || b[j] == UInt8(ascii: "}") { format = v }
                    key = nil
                    i = j
                    continue
                }
            default: break
            }
            i += 1
        }
        return (format, task, status)
    }
}
