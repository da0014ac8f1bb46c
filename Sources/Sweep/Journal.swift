import Pruning
import Foundation

/// What a finished task measured.
public enum TaskMetrics: Equatable, Sendable {
    case train(TrainMetrics)
    case trial(TrialMetrics)
    case round(RoundMetrics)
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
    public var round: RoundMetrics? { if case .round(let m) = metrics { m } else { nil } }

    public var state: Scheduler.State { ResultRecord.state(status) }

    static func state(_ status: TaskStatus) -> Scheduler.State {
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
        case .round: metrics = try c.decodeIfPresent(RoundMetrics.self, forKey: .metrics).map(TaskMetrics.round)
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
        case .round(let m): try c.encode(m, forKey: .metrics)
        case nil: break
        }
        try c.encodeIfPresent(error, forKey: .error)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(rank, forKey: .rank)
        try c.encode(host, forKey: .host)
        try c.encode(finished, forKey: .finished)
    }
}

/// results.jsonl: one line per finished task, appended and fsync'd with group
/// commit: lines that arrive while an fsync runs wait for the next one, which
/// covers them all (a writer thread encodes, writes and syncs; the coordinator
/// only queues). A line is reported durable (`onDurable`, or `append`
/// returning) only after the fsync that covers it. A crash loses at most lines
/// not yet reported and leaves at most a torn last line, cut off on the next open.
public final class Journal: @unchecked Sendable {   // the writer's state is behind its lock
    public let path: String
    private let writer: JournalWriter

    /// `sync` makes the written lines durable (fsync; a test may slow it down).
    public init(path: String, sync: @escaping @Sendable (Int32) -> Int32 = { fsync($0) }) throws {
        self.path = path
        try Journal.cutTornTail(path)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvironmentError.errno("\(path): cannot open the journal") }
        writer = JournalWriter(path: path, fd: fd, sync: sync)
    }

    deinit { writer.close() }

    /// Called on the writer thread with each group of lines just made durable, in journal order.
    public var onDurable: (@Sendable ([JournalLine]) -> Void)? {
        get { writer.withLock { writer.onDurable } }
        set { writer.withLock { writer.onDurable = newValue } }
    }

    /// Queues a line; `onDurable` hears of it once it is on disk. Throws if an earlier write failed.
    public func submit(_ line: JournalLine) throws { _ = try writer.enqueue(line) }

    /// Appends a record and returns once its line is on disk.
    public func append(_ r: ResultRecord) throws { try writer.wait(until: try writer.enqueue(try JournalLine(r))) }

    /// Returns once every line queued is on disk (lines `onDurable` queued meanwhile too).
    public func flush() throws { try writer.waitForAll() }

    /// Lines and bytes written, fsyncs run and the writer's busy seconds since this journal was opened.
    public var written: (lines: Int, bytes: Int, fsyncs: Int, seconds: Double) {
        writer.withLock { (writer.durable, writer.bytes, writer.fsyncs, Double(writer.busyNanoseconds) * 1e-9) }
    }

    /// Cuts a torn last line (reads only the file's tail, however long the journal).
    static func cutTornTail(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var end = lseek(fd, 0, SEEK_END)
        var byte: UInt8 = 0
        guard end > 0, pread(fd, &byte, 1, end - 1) == 1, byte != UInt8(ascii: "\n") else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var keep: off_t = 0
        search: while end > 0 {
            let start = max(0, end - off_t(chunk.count))
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(end - start), start) }
            guard n == Int(end - start) else { throw EnvironmentError.errno("\(path): cannot read the journal's tail") }
            for i in stride(from: n - 1, through: 0, by: -1) where chunk[i] == UInt8(ascii: "\n") {
                keep = start + off_t(i) + 1
                break search
            }
            end = start
        }
        guard truncate(path, keep) == 0 else { throw EnvironmentError.errno("\(path): cannot cut a torn last line") }
    }

    /// The records of a journal; lines that do not parse are returned with their
    /// line numbers (a torn last line among them), not fatal.
    public static func read(_ path: String) -> (records: [ResultRecord], bad: [(line: Int, problem: String)]) {
        var records: [ResultRecord] = []
        let bad = read(path) { records.append($0) }
        return (records, bad)
    }

    /// Hands the records of a journal to `take` in order, reading the file a
    /// chunk at a time (memory does not grow with the file) and decoding each
    /// chunk's lines on every core: a report reads journals of 10^6 lines.
    /// Returns the lines that do not parse with their line numbers (a torn last
    /// line among them). Lines 0.1.0 wrote (journal format 1) are converted
    /// (see LegacyJournal) once all are read: records after the first such line wait for them.
    @discardableResult
    public static func read(_ path: String, _ take: (ResultRecord) -> Void) -> [(line: Int, problem: String)] {
        var held: [(line: Int, parsed: ParsedLine)] = []
        let memos = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in LineDecoder.Memo() }
        try? lines(path) { buffer, lines in
            var parsed = [ParsedLine](repeating: .bad(""), count: lines.count)
            parsed.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out, buffer = buffer, memos = memos   // each worker writes its own indices and memo; the chunk is read only
                let workers = max(1, min(memos.count, lines.count / 512))
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    let decoder = JSONDecoder()
                    for i in stride(from: w * lines.count / workers, to: (w + 1) * lines.count / workers, by: 1) {
                        let line = UnsafeRawBufferPointer(rebasing: buffer[lines[i].bytes])
                        out[i] = LineDecoder.decode(ResultRecord.self, from: line, memo: memos[w]).map(ParsedLine.current) ?? ParsedLine(Data(line), decoder)
                    }
                }
            }
            for (line, p) in zip(lines, parsed) {
                if held.isEmpty, case .current(let r) = p { take(r) } else { held.append((line.number, p)) }
            }
        }
        var bad: [(line: Int, problem: String)] = []
        let legacy = LegacyJournal(held.compactMap { if case .legacy(let l) = $0.parsed { l } else { nil } })
        for (line, p) in held {
            switch p {
            case .current(let r): take(r)
            case .legacy(let old):
                do { take(try legacy.convert(old)) } catch { bad.append((line, "\(error)")) }
            case .bad(let problem): bad.append((line, problem))
            }
        }
        return bad.sorted { $0.line < $1.line }
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

    /// Reads a file 4 MiB at a time and hands over each chunk with its non-empty
    /// lines, numbered from 1 (the last one even without its newline: a torn
    /// line). A missing file has no lines; one that cannot be read throws.
    static func lines(_ path: String, _ body: (UnsafeRawBufferPointer, [(number: Int, bytes: Range<Int>)]) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw SweepError("\(path): cannot read the journal: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var kept = 0, number = 1   // kept: bytes of an unfinished line at the buffer's start
        var atEnd = false
        while !atEnd {
            if kept == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }   // a line longer than the buffer
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + kept, $0.count - kept) }
            guard n >= 0 else { throw SweepError("\(path): cannot read the journal: \(String(cString: strerror(errno)))") }
            atEnd = n == 0
            let end = kept + n
            try buffer.withUnsafeMutableBytes { raw in
                var lines: [(number: Int, bytes: Range<Int>)] = [], start = 0
                while start < end {
                    var stop = end
                    if let hit = memchr(raw.baseAddress! + start, Int32(UInt8(ascii: "\n")), end - start) {
                        stop = UnsafeRawPointer(raw.baseAddress!).distance(to: UnsafeRawPointer(hit))
                    } else if !atEnd { break }   // the rest of this line comes with the next read; at the end, a torn last line
                    if stop > start { lines.append((number, start ..< stop)) }
                    number += 1
                    start = stop + 1
                }
                try body(UnsafeRawBufferPointer(raw), lines)
                start = min(start, end)
                kept = end - start
                if kept > 0, start > 0 { memmove(raw.baseAddress!, raw.baseAddress! + start, kept) }
            }
        }
    }
}

public struct SweepError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
