import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A rank whose launcher (mpirun, orted, slurmstepd) died is an orphan: the
/// run is over for it, and it must not write another journal line. Its parent
/// changes when the launcher dies (it is adopted by init or a subreaper), so
/// a thread polls getppid() every 10 ms, and the coordinator checks it before
/// each result it journals; an orphan kills itself at once.
enum Orphan {
    nonisolated(unsafe) private static var parent: pid_t = 0

    /// Watches when an MPI launcher started this process (PMIx or Open MPI's
    /// environment): a lone process may outlive its shell (nohup) and go on.
    static func watchIfLaunched() {
        let env = ProcessInfo.processInfo.environment
        guard env["PMIX_RANK"] != nil || env["OMPI_COMM_WORLD_RANK"] != nil else { return }
        parent = getppid()
        // adopted by init already: the launcher died between its fork and our exec
        // (a launcher that is itself PID 1, as in some containers, is not supported)
        if parent == 1 { kill(getpid(), SIGKILL) }
        Thread.detachNewThread {
            while true { usleep(10_000); check() }
        }
    }

    static func check() {
        guard parent != 0, getppid() != parent else { return }
        kill(getpid(), SIGKILL)
    }
}
