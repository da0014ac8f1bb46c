import Foundation
import Safetensors

/// manifest.json: what ran, from which sweep file and tool, where and when.
/// Each start or resume appends a run; written to a temporary name and renamed.
final class Manifest: @unchecked Sendable {   // the main thread and the watchdog write it, under `lock`
    let path: String
    private let lock = NSLock()
    private var document: [String: Any]

    init(path: String, sweep: SweepFile, sweepText: String, toolVersion: String) {
        self.path = path
        let old = (FileManager.default.contents(atPath: path)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        document = old ?? [:]
        document["name"] = sweep.name
        document["sweep_file"] = sweep.path
        document["sweep_hash"] = sweep.hash
        document["sweep"] = sweepText
        document["tool_version"] = toolVersion
        document["journal_format"] = ResultRecord.currentFormat
        document["git_revision"] = Manifest.gitRevision() ?? "unknown"
    }

    private var runs: [[String: Any]] {
        get { document["runs"] as? [[String: Any]] ?? [] }
        set { document["runs"] = newValue }
    }

    func start(ranks: Int, groupSize: Int, hosts: [String], store: String) throws {
        try lock.withLock {
            runs.append(["start": Manifest.now(), "ranks": ranks, "group_size": groupSize, "hosts": hosts, "store": store])
            try write()
        }
    }

    /// The end of the run, however it ended (`error`: what stopped it early).
    func finish(status: ExitStatus, counts: [String: Int], error: String? = nil) throws {
        try lock.withLock {
            guard var last = runs.last else { return }
            last["end"] = Manifest.now()
            if let error { last["error"] = error }
            last["status"] = "\(status)"
            last["exit_code"] = Int(status.rawValue)
            last["tasks"] = counts
            runs[runs.count - 1] = last
            try write()
        }
    }

    private func write() throws {
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write([UInt8](data) + [10], to: path)
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    /// The commit of the tool's source tree, found by walking up from the
    /// executable to a .git directory (read directly: no fork in an MPI process).
    static func gitRevision() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<8 {
            let git = dir.appendingPathComponent(".git").path
            if let head = try? String(contentsOfFile: git + "/HEAD", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
                guard head.hasPrefix("ref: ") else { return head }
                let ref = String(head.dropFirst(5))
                if let sha = try? String(contentsOfFile: "\(git)/\(ref)", encoding: .utf8) { return sha.trimmingCharacters(in: .whitespacesAndNewlines) }
                let packed = (try? String(contentsOfFile: git + "/packed-refs", encoding: .utf8)) ?? ""
                return packed.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map { String($0.prefix(40)) }
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
