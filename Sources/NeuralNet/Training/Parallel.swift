import Foundation

/// Runs body(i) for i in 0..<count on up to `Compute.threads` threads. Each
/// index must write its own memory: no reductions, so results do not depend
/// on the schedule.
@inline(__always)
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let workers = min(Compute.threads, count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    nonisolated(unsafe) let body = body   // the contract above: each index writes its own memory
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        for i in stride(from: w * count / workers, to: (w + 1) * count / workers, by: 1) { body(i) }
    }
}
