import Foundation
import Synchronization

/// One thread kept to run half of a short job while the caller runs the other
/// half. It spins for 2 ms after each job before it sleeps, so a run of gets
/// does not pay a wake-up each: on this VM waking an idle core costs about as
/// much as reading a MiB, which is why GCD's pool (it sleeps at once) gained nothing.
final class SecondThread: @unchecked Sendable {
    static let shared = SecondThread()
    static let spinNanoseconds: UInt64 = 2_000_000

    private let claimed = Atomic<Bool>(false)
    private let posted = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var job: () -> Void = {}
    private let bell = NSCondition()
    private var sleeping = false

    private init() {
        let t = Thread { [unowned self] in self.loop() }
        t.name = "prunesweep.second"
        t.start()
    }

    /// Runs `mine` here and `theirs` on the second thread, returning when both
    /// are done; both run here, one after the other, if another caller has it.
    func run(_ mine: () -> Void, alongside theirs: () -> Void) {
        guard claimed.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            mine(); theirs(); return
        }
        withoutActuallyEscaping(theirs) { theirs in
            job = theirs
            posted.store(true, ordering: .releasing)
            bell.lock(); if sleeping { bell.signal() }; bell.unlock()
            mine()
            while !finished.load(ordering: .acquiring) {}
            finished.store(false, ordering: .relaxed)
            job = {}
        }
        claimed.store(false, ordering: .releasing)
    }

    private func loop() {
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while !posted.load(ordering: .acquiring) {
                spins += 1
                guard spins & 1023 == 0, DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds else { continue }
                bell.lock()
                sleeping = true
                while !posted.load(ordering: .acquiring) { bell.wait() }
                sleeping = false
                bell.unlock()
            }
            posted.store(false, ordering: .relaxed)
            job()
            finished.store(true, ordering: .releasing)
        }
    }
}
