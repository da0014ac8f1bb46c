import Distillation
import Foundation
import NeuralNet
import Pruning
@testable import Reports
@testable import Sweep
import XCTest

/// The lottery-ticket part of the report on a hand-made journal whose answers are known.
final class TicketsTests: XCTestCase {
    /// A round's journal record (through the real JSON coding).
    func round(_ v: IMPVariant, _ k: Int, seed: UInt64, accuracy: Double, barrier: Double? = nil) throws -> ResultRecord {
        let dense = TrainSpec(arch: .lenet5, training: TrainingSettings(epochs: 1, lr: 0.05), data: DataSpec(), seed: seed)
        let spec = RoundSpec(dense: dense, imp: IMPSettings(rate: 0.2), variant: v, round: k, teacher: .none, kd: nil, threads: 1)
        let left = pow(0.8, Double(k))
        var m: [String: Any] = ["round": k, "variant": v.rawValue, "rewind": "init", "sparsity": 1 - left, "pruned": 0, "prunable": 100,
                                "accuracy": accuracy, "loss": 0.3, "cosine": 0.9, "sparsity_per_tensor": [String: Double]()]
        if let barrier { m["barrier"] = barrier }
        let metrics = try JSONDecoder().decode(RoundMetrics.self, from: JSONSerialization.data(withJSONObject: m))
        let r = ResultRecord(SweepTask(.round(spec)), status: .done, metrics: .round(metrics))
        return try JSONDecoder().decode(ResultRecord.self, from: JSONEncoder().encode(r))
    }

    func testMatchingSparsityCurvesAndInstability() throws {
        let dense = [0.90, 0.92, 0.91]   // mean 0.91, sd 0.01: matching is a mean of at least 0.90
        let imp = [[0.915, 0.92, 0.91], [0.905, 0.90, 0.91], [0.88, 0.89, 0.87]]
        let reinit = [[0.89, 0.90, 0.905], [0.80, 0.70, 0.75], [0.5, 0.6, 0.4]]
        var rs: [ResultRecord] = []
        for s in 0..<3 {
            rs.append(try round(.imp, 0, seed: UInt64(s), accuracy: dense[s], barrier: 0.05 + 0.01 * Double(s)))
            for k in 1...3 {
                rs.append(try round(.imp, k, seed: UInt64(s), accuracy: imp[k - 1][s], barrier: 0.02))
                rs.append(try round(.reinit, k, seed: UInt64(s), accuracy: reinit[k - 1][s]))
            }
        }
        let report = Report(set: ResultSet(records: rs), bootstrap: Bootstrap(resamples: 500))
        let t = try XCTUnwrap(report.analyses.first?.tickets)
        XCTAssertEqual(t.lines.map(\.variant), [.imp, .reinit])
        let ticket = t.lines[0], control = t.lines[1]
        XCTAssertEqual(ticket.cells.map(\.round), [0, 1, 2, 3])
        XCTAssertEqual(control.cells.map(\.round), [0, 1, 2, 3], "a control's curve starts at the shared dense net")
        XCTAssertEqual(try XCTUnwrap(ticket.dense).mean, 0.91, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(ticket.dense).sd, 0.01, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(ticket.matching), 0.64, accuracy: 1e-12)   // round 2: mean 0.905; round 3: 0.88
        XCTAssertNil(control.matching)                                           // round 1: mean 0.8983
        XCTAssertEqual(ticket.cells[2].mean(.accuracy), 0.905, accuracy: 1e-12)
        let band = try XCTUnwrap(ticket.cells[2].summaries[.accuracy])
        XCTAssertEqual(band.interval, .percentileBootstrap)
        XCTAssertTrue(band.lower >= 0.90 && band.upper <= 0.91 && band.lower < band.upper, "\(band)")
        XCTAssertEqual(t.stability.map(\.variant), [.imp])
        XCTAssertEqual(ticket.cells[0].mean(.barrier), 0.06, accuracy: 1e-12)

        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try report.write(to: dir)
        let html = try String(contentsOfFile: "\(dir)/report.html", encoding: .utf8)
        for id in ["plot-fashion-mnist-lenet5-tickets-accuracy", "plot-fashion-mnist-lenet5-tickets-instability", "table-tickets-fashion-mnist-lenet5",
                   "table-matching-fashion-mnist-lenet5"] {
            XCTAssertTrue(html.contains("id=\"\(id)\""), id)
        }
        XCTAssertTrue(html.contains("log scale"))
        let md = try String(contentsOfFile: "\(dir)/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| imp | init | none | 0.2 | 91.00 ± 1.00 | 64.00 | 36.00 |"), md)
        XCTAssertTrue(report.summary.contains("lottery tickets"))
        let csv = try String(contentsOfFile: "\(dir)/report.csv", encoding: .utf8)
        XCTAssertTrue(csv.contains("round,fashion-mnist,lenet5,rewind=init rate=0.2,imp,none,round 2,accuracy,3,0.905"), csv)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/report.json"))) as? [String: Any]
        let tickets = try XCTUnwrap(((json?["studies"] as? [[String: Any]])?.first?["tickets"]) as? [[String: Any]])
        XCTAssertEqual(tickets.count, 2)
        XCTAssertEqual(try XCTUnwrap(tickets[0]["matching_remaining"] as? Double), 0.64, accuracy: 1e-12)
    }
}
