import Foundation
import Safetensors
import TensorStore

/// A failure of the machine rather than of the input (a full disk, a store
/// that does not answer, a directory that cannot be made): exit 74, with the
/// operating system's own words.
public struct EnvironmentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }

    /// `what` failed with the current errno (a short write sets none: then ENOSPC, its only cause on a regular file).
    public static func errno(_ what: String, short: Bool = false) -> EnvironmentError {
        EnvironmentError("\(what): \(String(cString: strerror(short ? ENOSPC : Glibc.errno)))")
    }
}

extension ExitStatus {
    /// The status a run ends with when `error` stops it: input problems are 2,
    /// the machine's 74.
    public init(for error: Error) {
        switch error {
        case is EnvironmentError, is FileError, is RunLockHeld: self = .environment
        case let e as RankFailure: self = e.status
        case let e as StoreError:
            switch e {
            case .badKey, .badURL: self = .usage
            default: self = .environment
            }
        default: self = .usage
        }
    }
}

extension StoreError {
    /// The store did not answer (not connected, an operation timed out): a
    /// requeued run may find it back, so a task meeting this is given back, not failed.
    public var isTransient: Bool {
        switch self {
        case .unavailable: true
        case .io(_, let why): why.contains("timed out")
        default: false
        }
    }
}

/// Rank 0's failure as another rank reports it (with rank 0's exit status).
public struct RankFailure: Error, CustomStringConvertible {
    public let status: ExitStatus
    public let description: String
}
