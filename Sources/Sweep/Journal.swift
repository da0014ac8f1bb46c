import Foundation

/// One line of results.jsonl: a finished task, as rank 0 recorded it.
public struct ResultRecord: Codable, Equatable {
    public var task: String
    public var kind: TaskKind
    public var status: String          // done | failed | skipped
    public var label: String
    public var parameters: [String: String]
    public var metrics: [String: Double] = [:]
    public var info: [String: String] = [:]
    public var error: String?
    public var seconds: Double = 0
    public var rank: Int = 0
    public var host: String = ""
    public var finished: String = ""

    public var state: Scheduler.State {
        switch status {
        case "done": .done
        case "failed": .failed
        default: .skipped
        }
    }
}

/// results.jsonl: appended one line per finished task and fsync'd, so a crash
/// loses at most the line being written; resume reads it back. A torn last
/// line (a crash mid-write) is cut off before appending.
public final class Journal {
    public let path: String
    private let fd: Int32
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public init(path: String) throws {
        self.path = path
        try Journal.cutTornTail(path)
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SweepError("\(path): cannot open the journal: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    public func append(_ r: ResultRecord) throws {
        var line = try encoder.encode(r)
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw SweepError("\(path): cannot append to the journal: \(String(cString: strerror(errno)))")
        }
    }

    static func cutTornTail(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") else { return }
        let keep = (data.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        guard truncate(path, off_t(keep)) == 0 else { throw SweepError("\(path): cannot cut a torn last line") }
    }

    /// The records of a journal; lines that do not parse are returned with their
    /// line numbers (a torn last line among them), not fatal.
    public static func read(_ path: String) -> (records: [ResultRecord], bad: [(line: Int, problem: String)]) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], []) }
        let decoder = JSONDecoder()
        var records: [ResultRecord] = [], bad: [(Int, String)] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do { records.append(try decoder.decode(ResultRecord.self, from: Data(line))) } catch {
                bad.append((i + 1, "not a result record: \(String(decoding: line.prefix(80), as: UTF8.self))"))
            }
        }
        return (records, bad)
    }

    /// The latest outcome per task (a retried task's later line wins).
    public static func outcomes(_ records: [ResultRecord]) -> [String: Scheduler.State] {
        var out: [String: Scheduler.State] = [:]
        for r in records { out[r.task] = r.state }
        return out
    }
}

public struct SweepError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
