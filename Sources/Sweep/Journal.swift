import Foundation

/// What a finished task measured.
public enum TaskMetrics: Equatable, Sendable {
    case train(TrainMetrics)
    case trial(TrialMetrics)
}

/// One line of results.jsonl: a finished task, as rank 0 recorded it.
public struct ResultRecord: Equatable, Sendable {
    /// The journal format this version writes; 0.1.0 wrote format 1 (string maps, see LegacyJournal).
    public static let currentFormat = 2
    public var format = ResultRecord.currentFormat
    public var task: String
    public var spec: TaskSpec
    public var status: TaskStatus
    public var label: String
    public var metrics: TaskMetrics?
    public var error: String?
    public var seconds: Double = 0
    public var rank: Int = 0
    public var host: String = ""
    public var finished: String = ""

    public init(_ task: SweepTask, status: TaskStatus, metrics: TaskMetrics? = nil, error: String? = nil) {
        self.task = task.id; spec = task.spec; label = task.label
        self.status = status; self.metrics = metrics; self.error = error
    }

    public var kind: TaskKind { spec.kind }
    public var trial: TrialMetrics? { if case .trial(let m) = metrics { m } else { nil } }
    public var train: TrainMetrics? { if case .train(let m) = metrics { m } else { nil } }

    public var state: Scheduler.State {
        switch status {
        case .done: .done
        case .failed: .failed
        case .skipped: .skipped
        }
    }
}

extension ResultRecord: Codable {
    enum CodingKeys: String, CodingKey { case format, task, kind, status, label, spec, metrics, error, seconds, rank, host, finished }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(Int.self, forKey: .format)
        guard format == ResultRecord.currentFormat else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: c, debugDescription: "journal format \(format); this version reads \(ResultRecord.currentFormat) (and 0.1.0's lines)")
        }
        let kind = try c.decode(TaskKind.self, forKey: .kind)
        spec = try TaskSpec.decode(kind: kind, from: c, key: .spec)
        task = try c.decode(String.self, forKey: .task)
        status = try c.decode(TaskStatus.self, forKey: .status)
        label = try c.decode(String.self, forKey: .label)
        switch kind {
        case .trial: metrics = try c.decodeIfPresent(TrialMetrics.self, forKey: .metrics).map(TaskMetrics.trial)
        case .parent, .teacher: metrics = try c.decodeIfPresent(TrainMetrics.self, forKey: .metrics).map(TaskMetrics.train)
        }
        error = try c.decodeIfPresent(String.self, forKey: .error)
        seconds = try c.decode(Double.self, forKey: .seconds)
        rank = try c.decode(Int.self, forKey: .rank)
        host = try c.decode(String.self, forKey: .host)
        finished = try c.decode(String.self, forKey: .finished)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(task, forKey: .task)
        try c.encode(kind, forKey: .kind)
        try spec.encode(into: &c, key: .spec)
        try c.encode(status, forKey: .status)
        try c.encode(label, forKey: .label)
        switch metrics {
        case .train(let m): try c.encode(m, forKey: .metrics)
        case .trial(let m): try c.encode(m, forKey: .metrics)
        case nil: break
        }
        try c.encodeIfPresent(error, forKey: .error)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(rank, forKey: .rank)
        try c.encode(host, forKey: .host)
        try c.encode(finished, forKey: .finished)
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
        guard fd >= 0 else { throw EnvironmentError.errno("\(path): cannot open the journal") }
    }

    deinit { close(fd) }

    public func append(_ r: ResultRecord) throws {
        var line = try encoder.encode(r)
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw EnvironmentError.errno("\(path): cannot append to the journal", short: written >= 0) }
        guard fsync(fd) == 0 else { throw EnvironmentError.errno("\(path): cannot append to the journal") }
    }

    static func cutTornTail(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") else { return }
        let keep = (data.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        guard truncate(path, off_t(keep)) == 0 else { throw EnvironmentError.errno("\(path): cannot cut a torn last line") }
    }

    /// The records of a journal; lines that do not parse are returned with their
    /// line numbers (a torn last line among them), not fatal. Lines 0.1.0 wrote
    /// (journal format 1) are converted (see LegacyJournal). Lines are decoded
    /// on every core: a report reads journals of 100,000 lines.
    public static func read(_ path: String) -> (records: [ResultRecord], bad: [(line: Int, problem: String)]) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], []) }
        let lines = nonEmptyLines(data)
        var parsed = [ParsedLine](repeating: .bad(""), count: lines.count)
        parsed.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out   // each worker writes its own indices
            let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, lines.count / 512))
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let decoder = JSONDecoder()
                for i in stride(from: w * lines.count / workers, to: (w + 1) * lines.count / workers, by: 1) {
                    out[i] = ParsedLine(data[lines[i].bytes], decoder)
                }
            }
        }
        var bad: [(Int, String)] = []
        let legacy = LegacyJournal(parsed.compactMap { if case .legacy(let l) = $0 { l } else { nil } })
        var records: [ResultRecord] = []
        records.reserveCapacity(parsed.count)
        for (line, p) in zip(lines, parsed) {
            switch p {
            case .current(let r): records.append(r)
            case .legacy(let old):
                do { records.append(try legacy.convert(old)) } catch { bad.append((line.number, "\(error)")) }
            case .bad(let problem): bad.append((line.number, problem))
            }
        }
        return (records, bad.sorted { $0.0 < $1.0 })
    }

    enum ParsedLine {
        case current(ResultRecord), legacy(LegacyJournal.Line), bad(String)

        init(_ line: Data, _ decoder: JSONDecoder) {
            if let r = try? decoder.decode(ResultRecord.self, from: line) {
                self = .current(r)
            } else if let old = try? decoder.decode(LegacyJournal.Line.self, from: line) {
                self = .legacy(old)
            } else {
                self = .bad("not a result record: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
        }
    }

    /// The non-empty lines, numbered from 1, as byte ranges of `data` (memchr:
    /// Data.split costs as much as decoding on a large journal).
    static func nonEmptyLines(_ data: Data) -> [(number: Int, bytes: Range<Int>)] {
        let newline = Int32(UInt8(ascii: "\n"))
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [(number: Int, bytes: Range<Int>)] in
            var out: [(number: Int, bytes: Range<Int>)] = []
            guard let base = raw.baseAddress else { return out }
            var start = 0, number = 1
            while start < raw.count {
                var end = raw.count
                if let hit = memchr(base + start, newline, raw.count - start) { end = base.distance(to: UnsafeRawPointer(hit)) }
                if end > start { out.append((number, data.startIndex + start ..< data.startIndex + end)) }
                start = end + 1
                number += 1
            }
            return out
        }
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
