import Foundation

/// Sums BatchNorm's per-channel statistics over every shard of one batch, so a
/// batch split over threads and over the ranks of a data-parallel group is
/// normalised as one (PyTorch's SyncBatchNorm): first the threads of this
/// process, in shard order (the result does not depend on timing), then the
/// group's ranks. Every shard's thread calls `sum` for every BatchNorm, in the
/// same order; the shards run on threads of their own (`runConcurrently`).
final class BatchSync: @unchecked Sendable {
    let shards: Int
    private let groupSum: ((UnsafeMutableBufferPointer<Double>) throws -> Void)?
    private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    private let slots: UnsafeMutablePointer<[Double]>
    private var total: [Double] = []
    /// The group's first failure; the step's results are void then.
    private(set) var error: Error?

    init(shards: Int, groupSum: ((UnsafeMutableBufferPointer<Double>) throws -> Void)?) {
        self.shards = shards; self.groupSum = groupSum
        pthread_barrier_init(barrier, nil, UInt32(shards))
        slots = .allocate(capacity: shards)
        slots.initialize(repeating: [], count: shards)
    }

    deinit {
        pthread_barrier_destroy(barrier); barrier.deallocate()
        slots.deinitialize(count: shards); slots.deallocate()
    }

    /// The sum over all shards of every shard's `partial` (same length everywhere).
    func sum(_ partial: [Double], shard: Int) -> [Double] {
        if shards == 1 && groupSum == nil { return partial }
        slots[shard] = partial
        pthread_barrier_wait(barrier)
        if shard == 0 {
            total = slots[0]
            for s in 1..<shards { for i in total.indices { total[i] += slots[s][i] } }
            if let groupSum, error == nil {
                do { try total.withUnsafeMutableBufferPointer { try groupSum($0) } } catch { self.error = error }
            }
        }
        pthread_barrier_wait(barrier)   // every shard reads `total` before the next call's shard 0 writes it
        return total
    }
}

/// body(0) on this thread and body(1..<n) on threads of their own, all at once
/// (a barrier inside body needs every shard running, which a pool does not promise).
func runConcurrently(_ n: Int, _ body: @escaping (Int) -> Void) {
    if n == 1 { body(0); return }
    nonisolated(unsafe) let body = body   // every thread is done with it before return
    let done = DispatchSemaphore(value: 0)
    for t in 1..<n {
        let thread = Thread { body(t); done.signal() }
        thread.stackSize = 8 << 20
        thread.start()
    }
    body(0)
    for _ in 1..<n { done.wait() }
}
