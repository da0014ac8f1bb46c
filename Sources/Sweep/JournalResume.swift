import Foundation

extension Journal {
    /// What resume needs from a journal: the latest state of each task, lines
    /// of 0.1.0 converted, and the lines that do not parse.
    public struct Resume {
        public var outcomes: [String: Scheduler.State] = [:]
        /// Lines of journal format 1, converted (resume checks their tasks against the sweep).
        public var legacy: [ResultRecord] = []
        public var bad: [(line: Int, problem: String)] = []
        public var lines = 0
    }

    /// Reads a journal for resume in 4 MiB chunks (memory grows with the tasks,
    /// not with the file), reading only each line's top-level format, task and
    /// status; other lines (0.1.0's, unparsable ones) are decoded in full. A
    /// later line of a task wins; a 0.1.0 line counts only for a task no current line names.
    public static func resume(_ path: String) throws -> Resume {
        var out = Resume()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return out }
            throw SweepError("\(path): cannot read the journal: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var legacyLines: [LegacyJournal.Line] = [], legacyNumbers: [Int] = []
        let decoder = JSONDecoder()
        func take(_ line: UnsafeRawBufferPointer, _ number: Int) {
            guard line.count > 0 else { return }
            out.lines += 1
            let f = JournalLine.topLevel(line)
            if f.format == ResultRecord.currentFormat, let task = f.task, let status = f.status.flatMap(TaskStatus.init(rawValue:)) {
                out.outcomes[task] = ResultRecord.state(status)
                return
            }
            switch ParsedLine(Data(line), decoder) {
            case .current(let r): out.outcomes[r.task] = r.state
            case .legacy(let l): legacyLines.append(l); legacyNumbers.append(number)
            case .bad(let problem): out.bad.append((number, problem))
            }
        }
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var kept = 0, number = 1   // kept: bytes of an unfinished line at the buffer's start
        var atEnd = false
        while !atEnd {
            if kept == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }   // a line longer than the buffer
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + kept, $0.count - kept) }
            guard n >= 0 else { throw SweepError("\(path): cannot read the journal: \(String(cString: strerror(errno)))") }
            atEnd = n == 0
            let end = kept + n
            buffer.withUnsafeMutableBytes { raw in
                var start = 0
                while start < end, let hit = memchr(raw.baseAddress! + start, Int32(UInt8(ascii: "\n")), end - start) {
                    let stop = UnsafeRawPointer(raw.baseAddress!).distance(to: UnsafeRawPointer(hit))
                    take(UnsafeRawBufferPointer(rebasing: raw[start ..< stop]), number)
                    number += 1
                    start = stop + 1
                }
                if atEnd {   // a torn last line
                    take(UnsafeRawBufferPointer(rebasing: raw[start ..< end]), number)
                    start = end
                }
                kept = end - start
                if kept > 0, start > 0 { memmove(raw.baseAddress!, raw.baseAddress! + start, kept) }
            }
        }
        let legacy = LegacyJournal(legacyLines)
        for (l, number) in zip(legacyLines, legacyNumbers) {
            do {
                let r = try legacy.convert(l)
                out.legacy.append(r)
                if out.outcomes[r.task] == nil { out.outcomes[r.task] = r.state }
            } catch { out.bad.append((number, "\(error)")) }
        }
        out.bad.sort { $0.line < $1.line }
        return out
    }
}
