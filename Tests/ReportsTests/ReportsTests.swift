import Distillation
import Foundation
import NeuralNet
import Pruning
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reports
@testable import Sweep
import XCTest

/// A journal line, as the sweep writes it (encoded and decoded through the real ResultRecord).
func line(task: String, kind: TaskKind = .trial, status: TaskStatus = .done, seed: UInt64, ratio: Ratio = .fixed(0.5), teacher: TeacherKind = .none,
          method: PruneMethod = .l1, metrics: [String: Double] = [:], error: String? = nil) -> String {
    String(decoding: try! JSONEncoder().encode(record(task: task, kind: kind, status: status, seed: seed, ratio: ratio, teacher: teacher,
                                                      method: method, metrics: metrics, error: error)), as: UTF8.self)
}

func record(task: String, kind: TaskKind, status: TaskStatus, seed: UInt64, ratio: Ratio, teacher: TeacherKind,
            method: PruneMethod, metrics m: [String: Double], error: String?) -> ResultRecord {
    let parent = TrainSpec(arch: .lenet5, training: TrainingSettings(epochs: 1, lr: 0.05), data: DataSpec(), seed: seed)
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
                                  sparsityPerTensor: [:], collapsed: [], k2: m["k2"], optimalRatio: nil, safeRatio: nil, parent: fm, teacher: nil))
            : .train(TrainMetrics(accuracy: v("accuracy"), loss: 0.3, optimalRatio: m["optimal_ratio"], safeRatio: m["safe_ratio"], k2: m["k2"]))
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
                                                                                   "cosine": 0.9 + 0.01 * Double(s), "agreement_parent": 0.8]))
            }
        }
        for s in 0..<3 { ls.append(line(task: "p-\(s)", kind: .parent, seed: UInt64(s), metrics: ["optimal_ratio": 0.8 + 0.01 * Double(s), "safe_ratio": 0.6, "k2": 2.5, "accuracy": 0.9])) }
        ls.append(line(task: "t-none-0.9", seed: 0, ratio: .fixed(0.9), metrics: ["accuracy_after": 0.7, "ratio": 0.9, "cosine": 0.5, "agreement_parent": 0.6]))
        ls.append(line(task: "t-fail", status: .failed, seed: 9, error: "loss is NaN"))
        return ResultSet(records: records(ls))
    }

    func testCellMeanAndIntervalAgainstClosedForm() {
        let a = Analysis(handMade())
        XCTAssertEqual(a.cells.map { "\($0.teacher)@\($0.ratio)" }, ["none@0.5", "parent@0.5", "uniform@0.5", "none@0.9"])
        let c = a.cells[0]
        XCTAssertEqual(c.n, 4)
        XCTAssertEqual(c.seeds, [0, 1, 2, 3])
        let s = c.summaries[.accuracyAfter]!
        // mean 0.83; sd^2 = (0.03^2 + 0.01^2 + 0.01^2 + 0.03^2) / 3; t_{0.975,3} = 3.182446305
        let half = 3.182446305 * (0.002 / 3).squareRoot() / 2
        XCTAssertEqual(s.mean, 0.83, accuracy: 1e-12)
        XCTAssertEqual(s.ci95Low, 0.83 - half, accuracy: 1e-8)
        XCTAssertEqual(s.ci95High, 0.83 + half, accuracy: 1e-8)
        XCTAssertEqual(a.cells[3].n, 1)
        XCTAssertTrue(a.cells[3].summaries[.accuracyAfter]!.ci95Low.isNaN, "one seed: no interval")
    }

    func testWelchAgainstStatisticsAndByHand() {
        let a = Analysis(handMade())
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
        let a = Analysis(handMade())
        let p = a.comparisons.map(\.p).sorted()
        // smallest p times m = 2, next times 1, kept monotone
        let adjusted = a.comparisons.sorted { $0.p < $1.p }.map(\.pHolm)
        XCTAssertEqual(adjusted[0], min(1, 2 * p[0]), accuracy: 1e-15)
        XCTAssertEqual(adjusted[1], max(adjusted[0], min(1, p[1])), accuracy: 1e-15)
        XCTAssertEqual(a.comparisons.map(\.pHolm), holm(a.comparisons.map(\.p)))
        XCTAssertTrue(a.comparisons.allSatisfy { $0.pHolm >= $0.p })
    }

    func testControlOption() {
        let a = Analysis(handMade(), control: .noise(.uniform))
        XCTAssertEqual(Set(a.comparisons.map(\.teacher.description)), ["none", "parent"])
        XCTAssertTrue(a.comparisons.allSatisfy { $0.control == .noise(.uniform) })
        XCTAssertEqual(a.cells.first?.teacher, .noise(.uniform), "the control leads its ratio")
    }

    func testParentRatiosPerSeedAndAverage() {
        let a = Analysis(handMade())
        XCTAssertEqual(a.parents.map(\.seed), [0, 1, 2])
        XCTAssertEqual(a.averageRatios.optimal.mean, 0.81, accuracy: 1e-12)
        XCTAssertEqual(a.averageRatios.optimal.sd, 0.01, accuracy: 1e-12)
        XCTAssertEqual(a.averageRatios.k2.n, 3)
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
        let text = line(task: "a", seed: 0) + "\n{\"task\": 3}\n" + line(task: "b", seed: 1) + "\n" + String(line(task: "c", seed: 2).prefix(40))
        try text.write(toFile: d + "/results.jsonl", atomically: true, encoding: .utf8)
        let s = try ResultSet.load([d])
        XCTAssertEqual(s.records.map(\.task), ["a", "b"])
        XCTAssertEqual(s.badLines.map(\.line), [2, 4])
        XCTAssertEqual(s.badLines.map(\.file), [d + "/results.jsonl", d + "/results.jsonl"])
        XCTAssertTrue(Tables.badLines(s).rows.map { $0[1] } == ["2", "4"])
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
        let set = handMade()
        for (name, svg) in Plots.all(Analysis(set), set) {
            let counter = ElementCounter()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = counter
            XCTAssertTrue(parser.parse(), "\(name): \(parser.parserError.map { "\($0)" } ?? "")")
            XCTAssertEqual(counter.root, "svg")
            XCTAssertGreaterThanOrEqual(counter.counts["polyline", default: 0], 1, name)
            XCTAssertTrue(counter.text.contains("prune ratio (% of parameters set to zero)"), name)
            XCTAssertTrue(counter.text.contains(name == "pareto" ? "utopia" : "teacher parent"), name)
        }
    }

    func testSVGEscapesText() {
        var p = SVGPlot(title: "a < b & \"c\"", xLabel: "x", yLabel: "y", x: 0...1, y: 0...1)
        p.series = [.init(name: "<s>", points: [(0, 0), (1, 1)], band: [(0, -0.1, 0.1), (1, 0.9, 1.1)], style: SVGPlot.style(0))]
        let parser = XMLParser(data: Data(p.render().utf8))
        XCTAssertTrue(parser.parse())
    }

    func testTicksAreRoundAndCoverTheRange() {
        XCTAssertEqual(SVGPlot.ticks(0...1), [0, 0.2, 0.4, 0.6, 0.8, 1.0].map { $0 }, accuracy: 1e-12)
        let r = SVGPlot.range([0.81, 0.93], clamp: 0...1)
        XCTAssertLessThanOrEqual(r.lowerBound, 0.81); XCTAssertGreaterThanOrEqual(r.upperBound, 0.93)
    }

    func testCSVAndMarkdownAndTerminal() throws {
        let set = handMade()
        let a = Analysis(set)
        let csv = Writers.csv(a).split(separator: "\n")
        XCTAssertEqual(csv.count, 1 + a.cells.count)
        let head = csv[0].split(separator: ",").map(String.init)
        let row = csv[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(row[head.firstIndex(of: "teacher")!], "parent")
        XCTAssertEqual(Double(row[head.firstIndex(of: "accuracy_after_mean")!])!, 0.92, accuracy: 1e-12)
        XCTAssertEqual(Double(row[head.firstIndex(of: "p")!])!, welchTTest(parentKD, control).p, accuracy: 1e-15)
        let md = Writers.markdown(a, set, plots: [])
        XCTAssertTrue(md.contains("| l1 | parent | 0.5 | 50.00 [50.00, 50.00] | 4 | 50.00 [50.00, 50.00] | 92.00 ["), md)
        let term = Tables.terminal(a)
        XCTAssertTrue(term.contains("83.00 ± \(String(format: "%.2f", 3.182446305 * (0.002 / 3).squareRoot() / 2 * 100))"), term)
    }

    func testWriteMakesTheFiles() throws {
        let d = tempDir()
        let r = Report(set: handMade())
        let written = try r.write(to: d + "/out")
        XCTAssertEqual(Set(written.map { ($0 as NSString).lastPathComponent }),
                       ["report.md", "report.csv", "report.html", "pareto.svg", "accuracy.svg", "agreement.svg"])
        let html = try String(contentsOfFile: d + "/out/report.html", encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3)
        XCTAssertFalse(html.contains("<script"))
        XCTAssertEqual(try r.write(to: d + "/csv", format: .csv).count, 1)
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
