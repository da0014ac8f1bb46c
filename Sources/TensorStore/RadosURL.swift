import Foundation

/// `rados://POOL?conf=PATH&id=NAME[&keyring=PATH][&timeout=S][&chunk=BYTES][&inflight=N]`.
/// `timeout` (seconds, default 30) bounds connecting and every operation;
/// `chunk` lowers the largest piece stored as one RADOS object (the cluster's
/// limit applies anyway); `inflight` is how many operations batch calls keep
/// outstanding (default 16).
public struct RadosURL: Equatable {
    public var pool: String
    public var conf: String
    public var id: String
    public var keyring: String?
    public var timeout: Int = 30
    public var chunk: Int?
    public var inFlight: Int = 16

    public init(parsing url: String) throws {
        func bad(_ why: String) -> StoreError { .badURL(url, why) }
        guard url.hasPrefix("rados://") else { throw bad("expected rados://POOL?conf=PATH&id=NAME") }
        let rest = url.dropFirst("rados://".count)
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        pool = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        guard !pool.isEmpty, !pool.contains("/") else { throw bad("missing pool name (rados://POOL?...)") }
        var query: [String: String] = [:]
        if parts.count == 2 {
            for item in parts[1].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, !kv[0].isEmpty else { throw bad("query item '\(item)' is not NAME=VALUE") }
                query[String(kv[0])] = String(kv[1]).removingPercentEncoding ?? String(kv[1])
            }
        }
        let known: Set = ["conf", "id", "keyring", "timeout", "chunk", "inflight"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown parameter '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let conf = query["conf"], !conf.isEmpty else { throw bad("missing conf=PATH (the ceph.conf)") }
        guard let id = query["id"], !id.isEmpty else { throw bad("missing id=NAME (the client name, without 'client.')") }
        self.conf = conf; self.id = id; keyring = query["keyring"]
        func positive(_ name: String) throws -> Int? {
            guard let text = query[name] else { return nil }
            guard let v = Int(text), v > 0 else { throw bad("\(name)=\(text): expected a positive integer") }
            return v
        }
        if let t = try positive("timeout") { timeout = t }
        chunk = try positive("chunk")
        if let n = try positive("inflight") { inFlight = n }
    }
}
