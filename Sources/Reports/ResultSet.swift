import Foundation
import Pruning
import Sweep

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A results line that did not parse: reported with its place, then skipped.
public struct BadLine: Equatable {
    public var file: String
    public var line: Int
    public var problem: String
}

/// The results of one or more sweep directories, merged: every `results*.jsonl`
/// (one journal, or the shard journals of a job array) of every directory.
/// A task's last line wins (a `--retry-failed` rerun supersedes the old line).
/// Reading while a sweep still writes is fine: a torn last line is a bad line.
public struct ResultSet {
    public var directories: [String]
    /// The latest record per task, in order of first appearance.
    public var records: [ResultRecord]
    public var badLines: [BadLine]
    /// Tasks of the sweeps' graphs (from manifest.json) with no line in any journal.
    public var missing: [SweepTask]
    /// Sweep names and things the reader could not establish (e.g. no manifest).
    public var sweepNames: [String]
    public var notes: [String]
    /// Results of `prunesweep analyse` given among the directories.
    public var checkpoints: [CheckpointSummary] = []

    public init(records: [ResultRecord], badLines: [BadLine] = [], missing: [SweepTask] = [],
                directories: [String] = [], sweepNames: [String] = [], notes: [String] = []) {
        var latest = LatestRecords()
        for r in records { latest.add(r) }
        self.records = latest.records; self.badLines = badLines; self.missing = missing
        self.directories = directories; self.sweepNames = sweepNames; self.notes = notes
    }

    /// The journal files of a results directory: results.jsonl and results.shard-I-of-N.jsonl, sorted.
    public static func journals(in dir: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else { throw ReportError("\(dir): no such directory") }
        guard isDir.boolValue else { throw ReportError("\(dir): not a directory (expected a sweep's results directory RESULTS/<name>/)") }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix("results") && $0.hasSuffix(".jsonl") }.sorted().map { "\(dir)/\($0)" }
    }

    public static func load(_ dirs: [String]) throws -> ResultSet {
        guard !dirs.isEmpty else { throw ReportError("no results directory given") }
        var latest = LatestRecords(), bad: [BadLine] = [], notes: [String] = [], names: [String] = []
        var graphTasks: [SweepTask] = [], seen = Set<String>(), checkpoints: [CheckpointSummary] = []
        for dir in dirs {
            let files = try journals(in: dir)
            if files.isEmpty, let c = try checkpointSummary(dir) {
                checkpoints.append(c)
                continue
            }
            var count = 0
            for f in files {
                bad += Journal.read(f) { latest.add($0); count += 1 }.map { BadLine(file: f, line: $0.line, problem: $0.problem) }
            }
            guard count > 0 else {
                throw ReportError(files.isEmpty
                    ? "\(dir): no results (no results.jsonl or results.shard-*.jsonl; is this a sweep's results directory RESULTS/<name>/?)"
                    : "\(dir): no results (\(files.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")) hold no readable result line)")
            }
            switch manifestGraph(dir) {
            case .success(let (name, tasks)):
                names.append(name)
                for t in tasks where seen.insert(t.id).inserted { graphTasks.append(t) }
            case .failure(let e):
                names.append((dir as NSString).lastPathComponent)
                notes.append("\(e.description); missing tasks of this directory are not listed")
            }
        }
        var set = ResultSet(records: [], badLines: bad, directories: dirs, sweepNames: names, notes: notes)
        set.records = latest.records
        set.checkpoints = checkpoints
        let have = Set(set.records.map(\.task))
        set.missing = graphTasks.filter { !have.contains($0.id) }
        return set
    }

    /// The summary.json of an analyse output directory, if `dir` is one.
    static func checkpointSummary(_ dir: String) throws -> CheckpointSummary? {
        let path = "\(dir)/summary.json"
        guard FileManager.default.fileExists(atPath: "\(dir)/tensors.csv"), let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(CheckpointSummary.self, from: data) } catch {
            throw ReportError("\(path): not the summary of prunesweep analyse: \(error)")
        }
    }

    /// The sweep's task graph, rebuilt from the sweep file text the manifest holds.
    static func manifestGraph(_ dir: String) -> Result<(String, [SweepTask]), ReportError> {
        let path = "\(dir)/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(ReportError("\(path): not found")) }
        guard let doc = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let text = doc["sweep"] as? String else {
            return .failure(ReportError("\(path): not a manifest (expected a JSON object with the sweep file text under \"sweep\")"))
        }
        do {
            // a manifest without a journal format was written by 0.1.0, which read sweep files its own way
            let sweep = try SweepFile.parse(text, file: path, legacy: doc["journal_format"] == nil)
            return .success((sweep.name, TaskGraph(sweep).tasks))
        } catch { return .failure(ReportError("\(path): its sweep text does not parse: \(error)")) }
    }

    public var problems: [ResultRecord] { records.filter { $0.status != .done } }
}

/// The latest record per task (a task's last line wins), in order of first appearance.
struct LatestRecords {
    private(set) var records: [ResultRecord] = []
    private var index: [String: Int] = [:]

    mutating func add(_ r: ResultRecord) {
        if let i = index[r.task] { records[i] = r } else { index[r.task] = records.count; records.append(r) }
    }
}
