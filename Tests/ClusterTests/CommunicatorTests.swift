import Cluster
import XCTest

/// Pass for any number of ranks (mpi4py style): expected values come from rank
/// and size. Without mpirun they run as a one-process world.
final class CommunicatorTests: XCTestCase {
    static let world = try! World.initialize()
    var world: Communicator { Self.world }

    func testAllreduceSum() throws {
        let (r, n) = (world.rank, world.size)
        var f = (0..<1000).map { Float(r + 1) * Float($0) }
        var d = [Double(r), 1.5]
        try world.allreduceSum(&f)
        try world.allreduceSum(&d)
        let ranks = Float(n * (n + 1) / 2)
        XCTAssertEqual(f, (0..<1000).map { ranks * Float($0) })
        XCTAssertEqual(d, [Double(n * (n - 1) / 2), 1.5 * Double(n)])
    }

    func testLargeAllreduce() throws {
        var buf = [Float](repeating: 1, count: 4 << 20)
        try world.allreduceSum(&buf)
        XCTAssertTrue(buf.allSatisfy { $0 == Float(world.size) })
    }

    func testBroadcastFromEveryRoot() throws {
        for root in 0..<world.size {
            let mine: [UInt8] = world.rank == root ? Array("from \(root)".utf8) : []
            XCTAssertEqual(String(decoding: try world.broadcast(mine, root: root), as: UTF8.self), "from \(root)")
        }
    }

    func testGatherVariableSizes() throws {
        let mine = [UInt8](repeating: UInt8(world.rank), count: world.rank + 1)
        let all = try world.gather(mine, root: 0)
        if world.rank == 0 {
            XCTAssertEqual(all, (0..<world.size).map { [UInt8](repeating: UInt8($0), count: $0 + 1) })
        } else {
            XCTAssertNil(all)
        }
    }

    func testRingSendReceive() throws {
        guard world.size > 1 else { return }
        let next = (world.rank + 1) % world.size, prev = (world.rank + world.size - 1) % world.size
        // even ranks send first so the ring cannot deadlock on rendezvous sends
        if world.rank % 2 == 0 { try world.send([UInt8(world.rank)], to: next, tag: 7) }
        let (env, got) = try world.receive(from: prev, tag: 7)
        if world.rank % 2 == 1 { try world.send([UInt8(world.rank)], to: next, tag: 7) }
        XCTAssertEqual(got, [UInt8(prev)])
        XCTAssertEqual(env.source, prev)
        XCTAssertEqual(env.tag, 7)
        try world.barrier()
    }

    func testSplitByParity() throws {
        let group = try world.split(color: world.rank % 2, key: world.rank)
        let members = (0..<world.size).filter { $0 % 2 == world.rank % 2 }
        XCTAssertEqual(group.size, members.count)
        XCTAssertEqual(group.rank, members.firstIndex(of: world.rank))
        var v = [Double(world.rank)]
        try group.allreduceSum(&v)
        XCTAssertEqual(v[0], Double(members.reduce(0, +)))
    }
}
