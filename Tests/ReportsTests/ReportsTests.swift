import Distillation
import Foundation
import NeuralNet
import Pruning
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reports
import SeededRandom
@testable import Sweep
import XCTest

/// A journal line, as the sweep writes it (encoded and decoded through the real ResultRecord).
func line(task: String, kind: TaskKind = .trial, status: TaskStatus = .done, seed: UInt64, ratio: Ratio = .fixed(0.5), teacher: TeacherKind = .none,
          method: PruneMethod = .l1, arch: Architecture = .lenet5, data: String = DataSpec().dir, metrics: [String: Double] = [:],
          sparsityPerTensor: [String: Double] = [:], error: String? = nil) -> String {
    String(decoding: try! JSONEncoder().encode(record(task: task, kind: kind, status: status, seed: seed, ratio: ratio, teacher: teacher,
                                                      method: method, arch: arch, data: data, metrics: metrics,
                                                      sparsityPerTensor: sparsityPerTensor, error: error)), as: UTF8.self)
}

func record(task: String, kind: TaskKind, status: TaskStatus, seed: UInt64, ratio: Ratio, teacher: TeacherKind,
            method: PruneMethod, arch: Architecture, data: String, metrics m: [String: Double], sparsityPerTensor: [String: Double],
            error: String?) -> ResultRecord {
    let parent = TrainSpec(arch: arch, training: TrainingSettings(epochs: 1, lr: 0.05), data: DataSpec(dir: data), seed: seed)
    let spec: TaskSpec = kind == .trial
        ? .trial(TrialSpec(parent: parent, ratio: ratio, method: method, teacher: teacher, student: .pruned,
                           finetune: TrainingSettings(epochs: 1, lr: 0.01), kd: nil, threads: 1))
        : .parent(parent)
    var metrics: TaskMetrics?
    if status == .done {
        func v(_ k: String) -> Double { m[k] ?? 0 }
        let fm = FunctionalMetrics(examples: 100, accuracyA: 0.9, accuracyB: v("accuracy_after"), agreement: v("agreement_parent"),
                                   jensenShannon: v("js_parent"), activationDistance: 0, linearCKA: v("cka_parent"), normalizedBures: 0,
                                   errorCopy: 0, rightAgreement: 0, wrongByA: 0)
        metrics = kind == .trial
            ? .trial(TrialMetrics(ratio: v("ratio"), cosine: v("cosine"), accuracyBefore: v("accuracy_before"), lossBefore: v("loss_before"),
                                  accuracyAfter: v("accuracy_after"), lossAfter: v("loss_after"), trainLoss: nil, sparsity: v("sparsity"),
                                  sparsityPerTensor: sparsityPerTensor, collapsed: [], k2: m["k2"], optimalRatio: nil, safeRatio: nil, parent: fm, teacher: nil))
            : .train(TrainMetrics(accuracy: v("accuracy"), loss: m["loss"] ?? 0.3, optimalRatio: m["optimal_ratio"], safeRatio: m["safe_ratio"], k2: m["k2"],
                                  kurtosisPerTensor: m["mean_kurtosis"].map { ["a.weight": $0 - 1, "a.bias": $0 + 1] }))
    }
    var r = ResultRecord(SweepTask(spec), status: status, metrics: metrics, error: error)
    r.task = task
    r.host = "h"
    return r
}

func records(_ lines: [String]) -> [ResultRecord] { lines.map { try! JSONDecoder().decode(ResultRecord.self, from: Data($0.utf8)) } }

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "reports-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

final class ReportsTests: XCTestCase {
    let control = [0.80, 0.82, 0.84, 0.86]
    let parentKD = [0.90, 0.91, 0.93, 0.94]
    let uniform = [0.79, 0.83, 0.80, 0.84]

    /// Three teachers x 4 seeds at one ratio, plus a second ratio where only the control ran.
    func handMade() -> ResultSet {
        var ls: [String] = []
        for (t, acc) in [(TeacherKind.none, control), (.parent, parentKD), (.noise(.uniform), uniform)] {
            for s in 0..<4 {
                ls.append(line(task: "t-\(t)-\(s)", seed: UInt64(s), teacher: t, metrics: ["accuracy_after": acc[s], "accuracy_before": 0.5, "ratio": 0.5,
                                                                                   "cosine": 0.9 + 0.01 * Double(s), "agreement_parent": 0.8,
                                                                                   "sparsity": 0.5, "loss_after": 0.4 + 0.1 * Double(s)]))
            }
        }
        for s in 0..<3 {
            ls.append(line(task: "p-\(s)", kind: .parent, seed: UInt64(s), metrics: ["optimal_ratio": 0.8 + 0.01 * Double(s), "safe_ratio": 0.6, "k2": 2.5,
                                                                                 "accuracy": 0.9 + 0.01 * Double(s), "loss": 0.3, "mean_kurtosis": 4 + Double(s)]))
        }
        ls.append(line(task: "t-none-0.9", seed: 0, ratio: .fixed(0.9), metrics: ["accuracy_after": 0.7, "ratio": 0.9, "cosine": 0.5, "agreement_parent": 0.6]))
        ls.append(line(task: "t-fail", status: .failed, seed: 9, error: "loss is NaN"))
        return ResultSet(records: records(ls))
    }

    func analysis(_ set: ResultSet, control: TeacherKind = .none) -> Analysis {
        let all = Analysis.studies(set, control: control)
        XCTAssertEqual(all.count, 1)
        return all[0]
    }

    func testCellMeanAndBootstrapInterval() {
        let a = analysis(handMade())
        XCTAssertEqual(a.study, Study(dataset: "fashion-mnist", architecture: .lenet5))
        XCTAssertEqual(a.cells.map { "\($0.teacher)@\($0.ratio)" }, ["none@0.5", "parent@0.5", "uniform@0.5", "none@0.9"])
        let c = a.cells[0]
        XCTAssertEqual(c.n, 4)
        XCTAssertEqual(c.seeds, [0, 1, 2, 3])
        let s = c.summaries[.recorded(.accuracyAfter)]!
        XCTAssertEqual(s.mean, 0.83, accuracy: 1e-12)
        XCTAssertEqual(s.sd, (0.002 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.interval, .percentileBootstrap)
        XCTAssert(0.80 <= s.lower && s.lower < 0.83 && 0.83 < s.upper && s.upper <= 0.86, "\(s)")
        // The cell's metrics are resampled together, in the cell's own stream.
        let again = a.bootstrap.summaries([c.values[.recorded(.accuracyAfter)]!], stream: "fashion-mnist / lenet5  l1 none 0.5")[0]
        XCTAssertEqual(again.lower, s.lower); XCTAssertEqual(again.upper, s.upper)
        XCTAssertEqual(a.cells[3].n, 1)
        XCTAssertEqual(a.cells[3].summaries[.recorded(.accuracyAfter)]!.interval, .noInterval, "one seed: no interval")
    }

    func testWelchAgainstStatisticsAndByHand() {
        let a = analysis(handMade())
        XCTAssertEqual(a.comparisons.map(\.teacher.description), ["parent", "uniform"], "the control at 0.9 has no other teacher to meet")
        let c = a.comparisons[0]
        let w = welchTTest(parentKD, control)
        XCTAssertEqual(c.p, w.p); XCTAssertEqual(c.t, w.t); XCTAssertEqual(c.df, w.df)
        // t by hand: difference of means over sqrt(va/na + vb/nb)
        let deviations: [Double] = [-0.02, -0.01, 0.01, 0.02]
        let va: Double = deviations.map { $0 * $0 }.reduce(0, +) / 3, vb: Double = 0.002 / 3
        let se: Double = (va / 4 + vb / 4).squareRoot()
        XCTAssertEqual(c.t, 0.09 / se, accuracy: 1e-9)
        XCTAssertEqual(c.meanDifference, 0.09, accuracy: 1e-12)
        XCTAssertEqual(c.hedgesG, hedgesG(parentKD, control))
        XCTAssertGreaterThan(c.hedgesG, 0)
        XCTAssertLessThan(c.p, a.comparisons[1].p)
    }

    func testHolmOverTheFamily() {
        let a = analysis(handMade())
        let p = a.comparisons.map(\.p).sorted()
        // smallest p times m = 2, next times 1, kept monotone
        let adjusted = a.comparisons.sorted { $0.p < $1.p }.map(\.pHolm)
        XCTAssertEqual(adjusted[0], min(1, 2 * p[0]), accuracy: 1e-15)
        XCTAssertEqual(adjusted[1], max(adjusted[0], min(1, p[1])), accuracy: 1e-15)
        XCTAssertEqual(a.comparisons.map(\.pHolm), holm(a.comparisons.map(\.p)))
        XCTAssertTrue(a.comparisons.allSatisfy { $0.pHolm >= $0.p })
    }

    func testControlOption() {
        let a = analysis(handMade(), control: .noise(.uniform))
        XCTAssertEqual(Set(a.comparisons.map(\.teacher.description)), ["none", "parent"])
        XCTAssertTrue(a.comparisons.allSatisfy { $0.control == .noise(.uniform) })
        XCTAssertEqual(a.cells.first?.teacher, .noise(.uniform), "the control leads its ratio")
    }

    func testParentsPerSeedAndSummarised() {
        let a = analysis(handMade())
        XCTAssertEqual(a.parents.map(\.seed), [0, 1, 2])
        XCTAssertEqual(a.parentSummaries[.optimalRatio]?.mean ?? .nan, 0.81, accuracy: 1e-12)
        XCTAssertEqual(a.parentSummaries[.optimalRatio]?.sd ?? .nan, 0.01, accuracy: 1e-12)
        XCTAssertEqual(a.parentSummaries[.accuracy]?.mean ?? .nan, 0.91, accuracy: 1e-12)
        XCTAssertEqual(a.parentSummaries[.accuracy]?.interval, .percentileBootstrap)
        XCTAssertEqual(a.parentSummaries[.k2]?.n, 3)
        // mean kurtosis: the mean of the per-tensor kurtoses (here m - 1 and m + 1)
        XCTAssertEqual(a.parents.map { $0.value(.meanKurtosis) }, [4, 5, 6])
        // The parent in the tables: its own table, and the first row of accuracy and cost.
        let rows = Tables.parents(a).rows
        XCTAssertEqual(rows.map { $0[2] }, ["90.00", "91.00", "92.00", rows[3][2]])
        XCTAssertTrue(rows[3][2].hasPrefix("91.00 ["), rows[3][2])
        XCTAssertEqual(rows[0][3], "0.300")
        for t in [Tables.accuracy(a), Tables.cost(a)] { XCTAssertEqual(t.rows[0][0], "parent (unpruned)", t.id) }
        XCTAssertTrue(Tables.accuracy(a).rows[0][4].hasPrefix("91.00 ["))
    }

    func testChangeFromTheParentIsPairedBySeed() {
        let a = analysis(handMade())
        // Seeds 0-2 have parents at 0.90, 0.91, 0.92; seed 3 has none, so its change is unknown.
        let c = a.cells[1]   // teacher parent at 0.5: 0.90, 0.91, 0.93, 0.94
        XCTAssertEqual(c.values[.accuracyAfterChange]!, [0.0, 0.0, 0.01], accuracy: 1e-12)
        XCTAssertEqual(c.values[.accuracyBeforeChange]!, [-0.4, -0.41, -0.42], accuracy: 1e-12)
        XCTAssertEqual(c.values[.lossAfterChange]!, [0.1, 0.2, 0.3], accuracy: 1e-12)
        XCTAssertEqual(c.summaries[.accuracyAfterChange]?.n, 3)
        XCTAssertEqual(c.summaries[.accuracyAfterChange]?.mean ?? .nan, 0.01 / 3, accuracy: 1e-12)
        let row = Tables.accuracy(a).rows[2]
        XCTAssertEqual(row[0], "l1"); XCTAssertEqual(row[1], "parent")
        XCTAssertTrue(row[7].hasPrefix("0.33 ["), row[7])   // Δ after, percentage points
    }

    func testCompressionAndSpeedUpAgainstAHandCount() {
        // LeNet5 (416,520 weight multiply-adds per image): conv1's weights half pruned
        // (117,600 multiply-adds, half saved), fc1's all kept, the rest a quarter pruned.
        let perTensor = ["conv1.weight": 0.5, "conv1.bias": 0, "conv2.weight": 0.25, "conv2.bias": 0, "fc1.weight": 0, "fc1.bias": 0,
                         "fc2.weight": 0.25, "fc2.bias": 0, "fc3.weight": 0.25, "fc3.bias": 0]
        let set = ResultSet(records: records((0..<3).map {
            line(task: "t\($0)", seed: UInt64($0), metrics: ["sparsity": 0.2, "ratio": 0.2], sparsityPerTensor: perTensor)
        }))
        let c = analysis(set).cells[0]
        let dense = 117_600.0 + 240_000 + 48_000 + 10_080 + 840
        let kept = 0.5 * 117_600 + 0.75 * 240_000 + 48_000 + 0.75 * (10_080 + 840)
        XCTAssertEqual(c.mean(.speedUp), dense / kept, accuracy: 1e-12)
        XCTAssertEqual(c.mean(.compression), 1 / 0.8, accuracy: 1e-12)
        XCTAssertEqual(c.summaries[.speedUp]?.lower ?? .nan, dense / kept, accuracy: 1e-12, "equal values: a band of width 0")
        XCTAssertNil(CostModel(.lenet5).speedUp(sparsityPerTensor: ["conv1.weight": 0.5]), "a weight tensor's sparsity unknown")
        XCTAssertEqual(CostModel(.mlp([300, 100])).denseMultiplyAdds, 784 * 300 + 300 * 100 + 100 * 10)
        XCTAssertEqual(CostModel(.lenet5).parameters, 61_706)
    }

    func testStudiesGroupByDatasetAndArchitecture() throws {
        var ls: [String] = []
        for (arch, data) in [(Architecture.lenet5, "/data/fashion-mnist"), (.mlp([300, 100]), "/data/fashion-mnist/"), (.lenet5, "/elsewhere/mnist")] {
            for s in 0..<3 {
                ls.append(line(task: "t-\(arch)-\(data)-\(s)", seed: UInt64(s), arch: arch, data: data, metrics: ["accuracy_after": 0.8, "ratio": 0.5]))
                ls.append(line(task: "p-\(arch)-\(data)-\(s)", kind: .parent, seed: UInt64(s), arch: arch, data: data,
                               metrics: ["accuracy": 0.9, "optimal_ratio": 0.8, "k2": 2 + Double(s)]))
            }
        }
        let r = Report(set: ResultSet(records: records(ls)))
        XCTAssertEqual(r.analyses.map(\.study.description), ["fashion-mnist / lenet5", "fashion-mnist / mlp:300,100", "mnist / lenet5"])
        XCTAssertTrue(r.analyses.allSatisfy { $0.cells.count == 1 && $0.cells[0].n == 3 && $0.parents.count == 3 }, "no variant from the data directory")
        XCTAssertEqual(r.analyses[1].study.slug, "fashion-mnist-mlp-300-100")
        let summary = Tables.studies(r.analyses)
        XCTAssertEqual(summary.rows.map { $0[0] + " " + $0[1] }, ["fashion-mnist lenet5", "fashion-mnist mlp:300,100", "mnist lenet5"])
        XCTAssertEqual(summary.rows[1][2], "266610")
        XCTAssertEqual(Plots.overall(r.analyses).map(\.name), ["kurtosis"], "more than one architecture: the kurtosis figure")
        XCTAssertEqual(Plots.overall([r.analyses[0], r.analyses[2]]).count, 0, "one architecture: none")
        XCTAssertTrue(r.summary.contains("mnist / lenet5:"), r.summary)
    }

    /// Every bound of every summary inside its metric's range, and every % shown
    /// inside [0, 100], on each fixture: the hand-made one, one with accuracies
    /// near 0 and 1 where a t-interval leaves [0, 1], and 0.1.0's journal.
    func testNoBoundOutsideTheMetricsRange() throws {
        var edge: [String] = []
        let high = [0.999, 0.95, 0.998, 0.9], low = [0.001, 0.08, 0.0, 0.1]
        for s in 0..<4 {
            edge.append(line(task: "e\(s)", seed: UInt64(s), metrics: ["accuracy_after": high[s], "accuracy_before": low[s], "ratio": 0.99,
                                                                       "cosine": low[s], "agreement_parent": high[s], "sparsity": 0.99]))
            edge.append(line(task: "p\(s)", kind: .parent, seed: UInt64(s), metrics: ["accuracy": high[s], "optimal_ratio": 1 - low[s]]))
        }
        // The fixture can fail the test: 95 % t-intervals (t_{0.975, 3} = 3.182) of these values leave [0, 1] at both ends.
        func tInterval(_ x: [Double]) -> (Double, Double) {
            let m = x.reduce(0, +) / 4, half = 3.182446305 * (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 3).squareRoot() / 2
            return (m - half, m + half)
        }
        XCTAssertGreaterThan(tInterval(high).1, 1)
        XCTAssertLessThan(tInterval(low).0, 0)
        let legacy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../SweepTests/Fixtures/journal-v1").standardized.path
        let fixtures = [handMade(), ResultSet(records: records(edge)), try ResultSet.load([legacy])]
        var checked = 0
        for set in fixtures {
            for a in Report(set: set).analyses {
                for c in a.cells {
                    for (m, s) in c.summaries where s.interval == .percentileBootstrap {
                        XCTAssert(m.range.contains(s.lower) && m.range.contains(s.upper), "\(m): [\(s.lower), \(s.upper)] outside \(m.range)")
                        if m.isPercent && m.range.lowerBound == 0 {
                            for shown in Fmt.cell(c, m).split(whereSeparator: { "[], ".contains($0) }).compactMap({ Double($0) }) {
                                XCTAssert((0...100).contains(shown), "\(m) shows \(shown) %")
                            }
                        }
                        checked += 1
                    }
                }
                for (m, s) in a.parentSummaries where s.interval == .percentileBootstrap {
                    XCTAssert(m.range.contains(s.lower) && m.range.contains(s.upper), "parent \(m): [\(s.lower), \(s.upper)]")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 40)
    }

    func testFixedFormatIsStringFormats() {
        var rng = RandomStream(seed: 3)
        var values: [Double] = [0, -0.0, 0.05, 0.15, 0.25, 0.125, 0.375, -0.05, -0.01, 2.5, -2.5, 2.675, 1.0005, 1e-9, 5e-324, -5e-324,
                                123456.789, 4503599627370495.5, 9007199254740993, 1e300, -1e300, .infinity, -.infinity, .nan]
        values += (0..<20000).map { _ in Double(Int64(bitPattern: rng.next()) % 2_000_000) / 997 }
        values += (0..<20000).map { _ in Double(bitPattern: rng.next()) }   // every magnitude
        values += (0..<20000).map { k in Double(k) / 8 - 1000 }   // ties
        for v in values {
            for digits in [0, 1, 2, 3, 4] { XCTAssertEqual(Fmt.fixed(v, digits), String(format: "%.\(digits)f", v)) }
        }
    }

    func testFewerThanThreeSeedsShowTheirValuesNotABand() {
        let set = ResultSet(records: records([line(task: "a", seed: 0, metrics: ["accuracy_after": 0.7410]),
                                              line(task: "b", seed: 1, metrics: ["accuracy_after": 0.8158])]))
        let c = analysis(set).cells[0]
        XCTAssertEqual(Fmt.cell(c, .recorded(.accuracyAfter)), "77.84 (n < 3: 74.10, 81.58)")
        XCTAssertEqual(c.summaries[.recorded(.accuracyAfter)]?.interval, .noInterval)
        XCTAssertFalse(Tables.accuracy(analysis(set)).rows[1].joined().contains("["), "no band with n < 3")
    }

    func testLastLineOfATaskWins() {
        let s = ResultSet(records: records([line(task: "x", status: .failed, seed: 0, error: "boom"), line(task: "y", seed: 1),
                                            line(task: "x", seed: 0, metrics: ["accuracy_after": 0.5])]))
        XCTAssertEqual(s.records.map(\.task), ["x", "y"])
        XCTAssertEqual(s.records[0].status, .done)
        XCTAssertTrue(s.problems.isEmpty)
    }

    func testUnparsableLinesReportedWithLineNumbersNotFatal() throws {
        let d = tempDir()
        let text = line(task: "a", seed: 0) + "\n\n{\"task\": 3}\n" + line(task: "b", seed: 1) + "\n" + String(line(task: "c", seed: 2).prefix(40))
        try text.write(toFile: d + "/results.jsonl", atomically: true, encoding: .utf8)
        let s = try ResultSet.load([d])
        XCTAssertEqual(s.records.map(\.task), ["a", "b"])
        XCTAssertEqual(s.badLines.map(\.line), [3, 5], "an empty line is skipped but counted")
        XCTAssertEqual(s.badLines.map(\.file), [d + "/results.jsonl", d + "/results.jsonl"])
        XCTAssertTrue(Tables.badLines(s).rows.map { $0[1] } == ["3", "5"])
        XCTAssertEqual(s.notes.count, 1, "no manifest: said so")
    }

    func testShardJournalsMerge() throws {
        let d = tempDir()
        try (line(task: "a", seed: 0) + "\n").write(toFile: d + "/results.shard-0-of-2.jsonl", atomically: true, encoding: .utf8)
        try (line(task: "b", seed: 1) + "\n").write(toFile: d + "/results.shard-1-of-2.jsonl", atomically: true, encoding: .utf8)
        try "not a journal".write(toFile: d + "/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try ResultSet.load([d]).records.map(\.task), ["a", "b"])
    }

    func testNoResultsIsAClearError() throws {
        let d = tempDir()
        XCTAssertThrowsError(try ResultSet.load([d])) { XCTAssertTrue("\($0)".contains("no results"), "\($0)") }
        try "garbage\n".write(toFile: d + "/results.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ResultSet.load([d])) { XCTAssertTrue("\($0)".contains("hold no readable result line"), "\($0)") }
        XCTAssertThrowsError(try ResultSet.load([d + "/absent"])) { XCTAssertTrue("\($0)".contains("no such directory"), "\($0)") }
    }

    func testMissingTasksFromTheManifestGraph() throws {
        let sweepText = """
        name = "m"
        [axes]
        seeds = [0, 1]
        ratios = [0.5]
        teachers = ["none", "parent"]
        """
        let graph = TaskGraph(try SweepFile.parse(sweepText, file: "m.toml"))
        XCTAssertEqual(graph.tasks.count, 6)   // 2 parents, 4 trials
        let d = tempDir()
        let manifest = try JSONSerialization.data(withJSONObject: ["name": "m", "sweep": sweepText, "journal_format": 2] as [String: Any])
        try manifest.write(to: URL(fileURLWithPath: d + "/manifest.json"))
        let done = graph.tasks.prefix(4)
        try done.map { t in
            var r = ResultRecord(t, status: .skipped)
            r.error = "test"
            return String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        }
            .joined(separator: "\n").write(toFile: d + "/results.jsonl", atomically: true, encoding: .utf8)
        let s = try ResultSet.load([d])
        XCTAssertEqual(s.missing.map(\.id), graph.tasks.suffix(2).map(\.id))
        XCTAssertEqual(s.sweepNames, ["m"])
        let rows = Tables.problems(s).rows
        XCTAssertEqual(rows.filter { $0[0] == "missing" }.count, 2)
    }

    func testFailedTasksListedWithTheirError() {
        let rows = Tables.problems(handMade()).rows
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0][0], "failed"); XCTAssertEqual(rows[0][3], "loss is NaN")
    }

    func testPlotsAreWellFormedSVG() {
        var ls = records([])
        for s in 0..<3 {   // l1 and random at two ratios and the optimal, two architectures
            for arch in [Architecture.lenet5, .mlp([300, 100])] {
                for (method, ratio, x) in [(PruneMethod.l1, Ratio.fixed(0.5), 0.5), (.l1, .optimal, 0.8), (.random, .fixed(0.5), 0.5), (.random, .optimal, 0.8)] {
                    ls += records([line(task: "\(s)\(arch)\(method)\(ratio)", seed: UInt64(s), ratio: ratio, method: method, arch: arch,
                                        metrics: ["ratio": x, "cosine": 1 - x / 2, "accuracy_before": 0.5, "accuracy_after": 0.8],
                                        sparsityPerTensor: Dictionary(uniqueKeysWithValues: CostModel(arch).tensors.map { ($0.name, x) }))])
                }
                ls += records([line(task: "p\(s)\(arch)", kind: .parent, seed: UInt64(s), arch: arch,
                                     metrics: ["accuracy": 0.9, "optimal_ratio": 0.8, "k2": 2.5, "mean_kurtosis": 4])])
            }
        }
        let analyses = Report(set: ResultSet(records: ls)).analyses
        let figures = analyses.flatMap(Plots.study) + Plots.overall(analyses)
        XCTAssertEqual(figures.map(\.name), ["accuracy-cosine", "accuracy-ratio", "pareto", "agreement", "layer-sparsity"].map { "fashion-mnist-lenet5-\($0)" }
                       + ["accuracy-cosine", "accuracy-ratio", "pareto", "agreement", "layer-sparsity"].map { "fashion-mnist-mlp-300-100-\($0)" } + ["kurtosis"])
        for (name, svg) in figures {
            let counter = ElementCounter()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = counter
            XCTAssertTrue(parser.parse(), "\(name): \(parser.parserError.map { "\($0)" } ?? "")")
            XCTAssertEqual(counter.root, "svg")
            if name.hasSuffix("layer-sparsity") {
                XCTAssertEqual(counter.counts["rect", default: 0], 2 + 2 * CostModel(name.contains("mlp") ? .mlp([300, 100]) : .lenet5).tensors.count + 2,
                               "background, frame, a bar per tensor per method, two legend swatches")
                XCTAssertTrue(counter.text.contains("random: optimal (80 %)"), name)
            } else {
                XCTAssertGreaterThanOrEqual(counter.counts["polyline", default: 0], 1, name)
            }
        }
        let text = { (name: String) -> String in
            let counter = ElementCounter()
            let parser = XMLParser(data: Data((figures.first { $0.name == name }?.svg ?? "").utf8))
            parser.delegate = counter
            _ = parser.parse()
            return counter.text
        }
        XCTAssertTrue(text("fashion-mnist-lenet5-accuracy-cosine").contains("random: after, teacher none"))
        XCTAssertTrue(text("fashion-mnist-lenet5-accuracy-cosine").contains("cosine similarity of the pruned net to its parent"))
        XCTAssertTrue(text("fashion-mnist-lenet5-accuracy-ratio").contains("prune ratio (% of parameters set to zero)"))
        XCTAssertTrue(text("fashion-mnist-lenet5-pareto").contains("utopia"))
        XCTAssertTrue(text("kurtosis").contains("fashion-mnist / mlp:300,100") && text("kurtosis").contains("K2: mean, 95 % bootstrap"))
    }

    func testSVGEscapesText() {
        var p = SVGPlot(title: "a < b & \"c\"", xLabel: "x", yLabel: "y", x: 0...1, y: 0...1)
        p.series = [.init(name: "<s>", points: [(0, 0), (1, 1)], band: [(0, -0.1, 0.1), (1, 0.9, 1.1)], style: SVGPlot.style(0))]
        let parser = XMLParser(data: Data(p.render().utf8))
        XCTAssertTrue(parser.parse())
        let bars = BarChart(title: "<t>", categories: ["a&b"], yLabel: "y", series: [.init(name: "\"s\"", values: [0.5], color: "#000000")])
        XCTAssertTrue(XMLParser(data: Data(bars.render().utf8)).parse())
    }

    func testTicksAreRoundAndCoverTheRange() {
        XCTAssertEqual(SVGPlot.ticks(0...1), [0, 0.2, 0.4, 0.6, 0.8, 1.0].map { $0 }, accuracy: 1e-12)
        let r = SVGPlot.range([0.81, 0.93], clamp: 0...1)
        XCTAssertLessThanOrEqual(r.lowerBound, 0.81); XCTAssertGreaterThanOrEqual(r.upperBound, 0.93)
    }

    func testTidyCSVAndJSONAndMarkdownAndTerminal() throws {
        let r = Report(set: handMade())
        let a = r.analyses[0]
        let csv = TidyCSV.write(r.analyses).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(csv[0], TidyCSV.header)
        XCTAssertEqual(csv.count, 1 + a.parentSummaries.count + a.cells.reduce(0) { $0 + $1.summaries.count }, "one row per parent metric, and per cell and metric")
        func col(_ name: String) -> Int { TidyCSV.header.firstIndex(of: name) ?? -1 }
        let row = try XCTUnwrap(csv.first { $0[col("teacher")] == "parent" && $0[col("metric")] == "accuracy_after" })
        XCTAssertEqual(row[col("kind")], "cell"); XCTAssertEqual(row[col("n")], "4"); XCTAssertEqual(row[col("interval")], "percentile-bootstrap")
        XCTAssertEqual(Double(row[col("mean")]) ?? .nan, 0.92, accuracy: 1e-12)
        let s = try XCTUnwrap(a.cells[1].summaries[.recorded(.accuracyAfter)])
        XCTAssertEqual(Double(row[col("lower")]), s.lower); XCTAssertEqual(Double(row[col("upper")]), s.upper)
        let one = try XCTUnwrap(csv.first { $0[col("ratio")] == "0.9" && $0[col("metric")] == "accuracy_after" })
        XCTAssertEqual(one[col("lower")], ""); XCTAssertEqual(one[col("interval")], "none")
        XCTAssertEqual(csv.filter { $0[col("kind")] == "parent" }.map { $0[col("metric")] }, ["accuracy", "loss", "optimal_ratio", "safe_ratio", "k2", "mean_kurtosis"])

        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try ReportJSON.write(r).utf8)) as? [String: Any])
        XCTAssertEqual((json["bootstrap"] as? [String: Any])?["resamples"] as? Int, 2000)
        let study = try XCTUnwrap((json["studies"] as? [[String: Any]])?.first)
        XCTAssertEqual(study["architecture"] as? String, "lenet5")
        XCTAssertEqual(study["dense_multiply_adds"] as? Int, 416_520)
        let comparison = try XCTUnwrap((study["comparisons"] as? [[String: Any]])?.first)
        XCTAssertEqual(comparison["p"] as? Double ?? .nan, welchTTest(parentKD, control).p, accuracy: 1e-15)
        let cell = try XCTUnwrap((study["cells"] as? [[String: Any]])?[1])
        let acc = try XCTUnwrap((cell["metrics"] as? [String: Any])?["accuracy_after"] as? [String: Any])
        XCTAssertEqual(acc["lower"] as? Double, s.lower)
        XCTAssertTrue(((json["problems"] as? [[String: Any]]) ?? []).contains { $0["status"] as? String == "failed" })

        let md = Writers.markdown(r, studyFigures: [[]], overallFigures: [])
        XCTAssertTrue(md.contains("| l1 | parent | 0.5 | 4 | 50.00 [50.00, 50.00] | -41.00 ["), md)
        XCTAssertTrue(md.contains("2000 resamples") && md.contains("seeded with 19"), "the method note names the resamples and the seed")
        let term = Tables.terminal(a)
        XCTAssertTrue(term.contains("fashion-mnist / lenet5:") && term.contains("parent (unpruned)"), term)
        XCTAssertTrue(term.contains("83.00 [\(Fmt.num(a.cells[0].summaries[.recorded(.accuracyAfter)]!.lower * 100, 2))"), term)
    }

    func testWriteMakesTheFiles() throws {
        let d = tempDir()
        let r = Report(set: handMade())
        let written = try r.write(to: d + "/out")
        XCTAssertEqual(Set(written.map { ($0 as NSString).lastPathComponent }),
                       Set(["report.md", "report.csv", "report.html", "report.json"]
                           + ["accuracy-cosine", "accuracy-ratio", "pareto", "accuracy-teachers", "agreement"].map { "fashion-mnist-lenet5-\($0).svg" }))
        let html = try String(contentsOfFile: d + "/out/report.html", encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 5)
        XCTAssertFalse(html.contains("<script"))
        XCTAssertEqual(try r.write(to: d + "/csv", format: .csv).count, 1)
        XCTAssertEqual(try r.write(to: d + "/json", format: .json).map { ($0 as NSString).lastPathComponent }, ["report.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: d + "/json"), ["report.json"], "no temporary file left")
    }
}

final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var root: String?
    var text = ""
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if root == nil { root = name }
        counts[name, default: 0] += 1
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
