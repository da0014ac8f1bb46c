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
        var legacyLines: [LegacyJournal.Line] = [], legacyNumbers: [Int] = []
        let decoder = JSONDecoder()
        try lines(path) { buffer, lines in
            for (number, bytes) in lines {
                let line = UnsafeRawBufferPointer(rebasing: buffer[bytes])
                out.lines += 1
                let f = JournalLine.topLevel(line)
                if f.format == ResultRecord.currentFormat, let task = f.task, let status = f.status.flatMap(TaskStatus.init(rawValue:)) {
                    out.outcomes[task] = ResultRecord.state(status)
                    continue
                }
                switch ParsedLine(Data(line), decoder) {
                case .current(let r): out.outcomes[r.task] = r.state
                case .legacy(let l): legacyLines.append(l); legacyNumbers.append(number)
                case .bad(let problem): out.bad.append((number, problem))
                }
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
