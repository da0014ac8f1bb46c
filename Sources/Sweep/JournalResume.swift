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
        // room for a line per KiB (LeNet5's lines are 1.7 KiB): no rehashing of a million tasks as they come
        out.outcomes.reserveCapacity(((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1024)
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

extension TaskGraph {
    /// The sweep's graph and, given a path, the journal read for resume on
    /// another thread meanwhile: at 10^6 tasks each takes seconds.
    public static func build(_ sweep: SweepFile, readingJournal path: String?) throws -> (TaskGraph, Journal.Resume?) {
        guard let path else { return (TaskGraph(sweep), nil) }
        nonisolated(unsafe) var read: Result<Journal.Resume, Error>?   // written by the thread before it signals
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { read = Result { try Journal.resume(path) }; done.signal() }
        let graph = TaskGraph(sweep)
        done.wait()
        return (graph, try read!.get())
    }
}
