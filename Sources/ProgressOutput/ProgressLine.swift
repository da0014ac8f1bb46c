import Foundation

/// done/total, rate and ETA: a live line on a terminal, periodic plain lines in
/// a batch log (where carriage returns would make a mess).
public final class ProgressLine {
    let label: String
    let total: Int
    let unit: String
    let start = Date()
    var lastPrint = Date.distantPast
    let interactive: Bool
    let interval: TimeInterval

    public init(_ label: String, total: Int, unit: String = "steps", interval: TimeInterval? = nil) {
        self.label = label; self.total = total; self.unit = unit
        interactive = isatty(STDERR_FILENO) != 0
        self.interval = interval ?? (interactive ? 0.2 : 30)
    }

    /// Call as work completes; prints when the interval has passed.
    public func update(_ done: Int, extra: String = "") {
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= interval || done == total else { return }
        lastPrint = now
        let line = "\(label) \(done)/\(total) \(ProgressLine.rateAndETA(done: done, total: total, seconds: now.timeIntervalSince(start), unit: unit))\(extra.isEmpty ? "" : " " + extra)"
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done == total ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    public static func rateAndETA(done: Int, total: Int, seconds: Double, unit: String) -> String {
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : .infinity
        return String(format: "%.1f %@/s ETA %@", rate, unit, formatDuration(eta))
    }
}

public func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "--" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
