/// A prune ratio as a sweep file or the command line names it: a fraction in
/// [0, 1], or one the parent's analysis resolves (`optimal`, `safe`). In JSON
/// a number or the string "optimal" / "safe".
public enum Ratio: Hashable, Sendable, Codable, CustomStringConvertible {
    case fixed(Double)
    case optimal
    case safe

    public init(parsing text: String) throws {
        switch text {
        case "optimal": self = .optimal
        case "safe": self = .safe
        default:
            guard let r = Double(text) else { throw PruningError("a ratio is a number in [0, 1], \"optimal\" or \"safe\", found '\(text)'") }
            try self.init(fraction: r)
        }
    }

    public init(fraction r: Double) throws {
        guard (0...1).contains(r) else { throw PruningError("a ratio is a number in [0, 1], \"optimal\" or \"safe\", found \(r)") }
        self = .fixed(r)
    }

    public var description: String {
        switch self {
        case .fixed(let r): "\(r)"
        case .optimal: "optimal"
        case .safe: "safe"
        }
    }

    /// Fixed ratios by value, then safe, then optimal (safe <= optimal by construction).
    public var sortKey: Double {
        switch self {
        case .fixed(let r): r
        case .safe: 2
        case .optimal: 3
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        do {
            if let r = try? c.decode(Double.self) { try self.init(fraction: r) } else { try self.init(parsing: try c.decode(String.self)) }
        } catch let e as PruningError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: e.description)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .fixed(let r): try c.encode(r)
        default: try c.encode(description)
        }
    }
}

extension Ratio {
    /// The fraction this ratio stands for, given an analysis's optimal and safe
    /// ratios (no safe ratio: `problem` says why).
    func resolve(optimal: Double, safe: Double?, problem: String?) throws -> Double {
        switch self {
        case .fixed(let r): return r
        case .optimal: return optimal
        case .safe:
            guard let safe else { throw PruningError("no safe ratio: \(problem ?? "K2 is undefined")") }
            return safe
        }
    }
}
