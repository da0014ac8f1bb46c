import CMPIShim
import Foundation

public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String {
        var buf = [CChar](repeating: 0, count: 512)
        ps_error_string(code, &buf, Int32(buf.count))
        return "MPI \(call) failed (\(code)): \(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))"
    }
}

@inline(__always) func check(_ call: String, _ code: Int32) throws {
    if code != 0 { throw MPIError(call: call, code: code) }
}

/// A group of processes. Under mpirun or `srun --mpi=pmix` it wraps an MPI
/// communicator; started any other way it is a one-process world, so the same
/// binary runs on a laptop without MPI_Init (which would try to spawn a runtime).
public final class Communicator: @unchecked Sendable {
    /// MPI handle, or nil for the one-process world.
    let handle: Int32?
    public let rank: Int
    public let size: Int

    init(handle: Int32?) throws {
        self.handle = handle
        if let h = handle {
            var r: Int32 = 0, s: Int32 = 0
            try check("Comm_rank", ps_comm_rank(h, &r))
            try check("Comm_size", ps_comm_size(h, &s))
            rank = Int(r); size = Int(s)
        } else {
            rank = 0; size = 1
        }
    }

    public var isMPI: Bool { handle != nil }

    public func barrier() throws {
        guard let h = handle else { return }
        try check("Barrier", ps_barrier(h))
    }

    /// In-place sum over all ranks.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let h = handle, size > 1, let base = buffer.baseAddress else { return }
        try check("Allreduce", ps_allreduce_sum_float(h, base, Int64(buffer.count)))
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard let h = handle, size > 1, let base = buffer.baseAddress else { return }
        try check("Allreduce", ps_allreduce_sum_double(h, base, Int64(buffer.count)))
    }

    public func allreduceSum(_ array: inout [Float]) throws {
        try array.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    public func allreduceSum(_ array: inout [Double]) throws {
        try array.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// Root's bytes end up on every rank (the length travels first).
    public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        guard let h = handle, size > 1 else { return bytes }
        var n = Int64(rank == root ? bytes.count : 0)
        try withUnsafeMutableBytes(of: &n) { try check("Bcast", ps_bcast_bytes(h, $0.baseAddress, 8, Int32(root))) }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        try out.withUnsafeMutableBytes { try check("Bcast", ps_bcast_bytes(h, $0.baseAddress, n, Int32(root))) }
        return out
    }

    /// Every rank's bytes, in rank order, on root; nil elsewhere.
    public func gather(_ bytes: [UInt8], root: Int = 0) throws -> [[UInt8]]? {
        guard let h = handle, size > 1 else { return [bytes] }
        var counts = [Int64](repeating: 0, count: rank == root ? size : 1)
        try check("Gather", ps_gather_int64(h, Int64(bytes.count), &counts, Int32(root)))
        let total = rank == root ? Int(counts.reduce(0, +)) : 0
        var flat = [UInt8](repeating: 0, count: max(total, 1))
        try bytes.withUnsafeBytes { src in
            try flat.withUnsafeMutableBytes { dst in
                try check("Gatherv", ps_gatherv_bytes(h, src.baseAddress, Int64(bytes.count), dst.baseAddress, counts, Int32(root)))
            }
        }
        guard rank == root else { return nil }
        var parts: [[UInt8]] = []
        var offset = 0
        for c in counts {
            parts.append(Array(flat[offset..<offset + Int(c)]))
            offset += Int(c)
        }
        return parts
    }

    public func send(_ bytes: [UInt8], to dest: Int, tag: Int) throws {
        guard let h = handle else { throw MPIError(call: "Send (one-process world)", code: -1) }
        try bytes.withUnsafeBytes { try check("Send", ps_send_bytes(h, $0.baseAddress, Int64(bytes.count), Int32(dest), Int32(tag))) }
    }

    public struct Envelope: Sendable { public let source: Int; public let tag: Int; public let count: Int }

    /// Blocks for a message from `source` (nil: any) with `tag` (nil: any) and returns it.
    public func receive(from source: Int? = nil, tag: Int? = nil) throws -> (Envelope, [UInt8]) {
        guard let h = handle else { throw MPIError(call: "Recv (one-process world)", code: -1) }
        var s: Int32 = 0, t: Int32 = 0, n: Int64 = 0
        try check("Probe", ps_probe(h, Int32(source ?? -1), Int32(tag ?? -1), &s, &t, &n))
        var buf = [UInt8](repeating: 0, count: Int(n))
        try buf.withUnsafeMutableBytes { try check("Recv", ps_recv_bytes(h, $0.baseAddress, n, s, t)) }
        return (Envelope(source: Int(s), tag: Int(t), count: Int(n)), buf)
    }

    /// The envelope of a waiting message, without receiving it.
    public func probe(from source: Int? = nil, tag: Int? = nil) throws -> Envelope? {
        guard let h = handle else { return nil }
        var flag: Int32 = 0, s: Int32 = 0, t: Int32 = 0, n: Int64 = 0
        try check("Iprobe", ps_iprobe(h, Int32(source ?? -1), Int32(tag ?? -1), &flag, &s, &t, &n))
        return flag != 0 ? Envelope(source: Int(s), tag: Int(t), count: Int(n)) : nil
    }

    /// Ranks with equal color form one new communicator, ordered by key.
    public func split(color: Int, key: Int) throws -> Communicator {
        guard let h = handle else { return self }
        var out: Int32 = -1
        try check("Comm_split", ps_comm_split(h, Int32(color), Int32(key), &out))
        return try Communicator(handle: out)
    }

    public func abort(code: Int32) -> Never {
        if let h = handle { _ = ps_abort(h, code) }
        exit(code)
    }
}

/// The process's world: MPI when a launcher started us, one process otherwise.
public enum World {
    nonisolated(unsafe) private static var shared: Communicator?

    /// True when mpirun or a PMIx launcher (srun --mpi=pmix) started this process.
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    public static func initialize() throws -> Communicator {
        if let c = shared { return c }
        let c: Communicator
        if launchedByMPI {
            var provided: Int32 = 0
            try check("Init_thread", ps_init(&provided))
            // every rank must finalize or mpirun reports an abnormal end
            atexit { World.finalize() }
            c = try Communicator(handle: 0)
        } else {
            c = try Communicator(handle: nil)
        }
        shared = c
        return c
    }

    public static var hostname: String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func finalize() {
        if shared?.isMPI == true { _ = ps_finalize() }
        shared = nil
    }
}
