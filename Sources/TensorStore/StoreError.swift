/// Every failure a store reports names the key (or URL) and what went wrong.
/// `.missing` and `.corrupt` are cache misses: the sweep recomputes the tensor.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case missing(String)                 // key
    case corrupt(String, String)         // key, reason (bad checksum, truncated, not safetensors, part missing)
    case badKey(String, String)          // key, what a key must look like
    case badURL(String, String)          // url, reason
    case unavailable(String, String)     // url, reason: cannot connect, timed out connecting
    case io(String, String)              // key, reason: the backend failed (permissions, timeout, full)

    public var isCacheMiss: Bool {
        switch self { case .missing, .corrupt: true; default: false }
    }

    public var description: String {
        switch self {
        case .missing(let k): "\(k): no such object"
        case .corrupt(let k, let why): "\(k): corrupt object: \(why)"
        case .badKey(let k, let why): "invalid key '\(k)': \(why)"
        case .badURL(let u, let why): "invalid store URL '\(u)': \(why)"
        case .unavailable(let u, let why): "store \(u) unavailable: \(why)"
        case .io(let k, let why): "\(k): \(why)"
        }
    }
}
