import Sweep

/// A number a cell summarises over its seeds: one a trial recorded, or one the
/// report derives from the trial, its parent (the same seed's) and its architecture.
public enum CellMetric: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case recorded(TrialMetric)
    /// Accuracy before / after fine-tuning minus the parent's; loss after minus the parent's.
    case accuracyBeforeChange, accuracyAfterChange, lossAfterChange
    /// Parameters / nonzero parameters.
    case compression
    /// Dense multiply-adds / multiply-adds of the nonzero weights (see `CostModel`).
    case speedUp

    public static let allCases: [CellMetric] = TrialMetric.allCases.map(CellMetric.recorded)
        + [.accuracyBeforeChange, .accuracyAfterChange, .lossAfterChange, .compression, .speedUp]

    /// The name in report.csv and report.json.
    public var description: String {
        switch self {
        case .recorded(let m): m.rawValue
        case .accuracyBeforeChange: "accuracy_before_change"
        case .accuracyAfterChange: "accuracy_after_change"
        case .lossAfterChange: "loss_after_change"
        case .compression: "compression"
        case .speedUp: "speed_up"
        }
    }

    /// Fractions the tables show in % (changes of accuracy in percentage points).
    public var isPercent: Bool {
        switch self {
        case .recorded(let m): m.isPercent
        case .accuracyBeforeChange, .accuracyAfterChange: true
        case .lossAfterChange, .compression, .speedUp: false
        }
    }

    /// The values the metric can take: what its interval must stay inside.
    public var range: ClosedRange<Double> {
        switch self {
        case .recorded(let m):
            switch m {
            case .ratio, .accuracyBefore, .accuracyAfter, .cosine, .sparsity, .agreementParent, .agreementTeacher,
                 .jsParent, .jsTeacher, .ckaParent, .ckaTeacher: 0...1
            case .lossBefore, .lossAfter: 0...Double.infinity
            case .k2: 1...Double.infinity   // a Pearson kurtosis is at least 1
            }
        case .accuracyBeforeChange, .accuracyAfterChange: -1...1
        case .lossAfterChange: -Double.infinity...Double.infinity
        case .compression, .speedUp: 1...Double.infinity
        }
    }

    /// The metric of one trial; nil when the trial did not record it, or the parent or a tensor's sparsity is unknown.
    func value(_ m: TrialMetrics, parent: TrainMetrics?, cost: CostModel) -> Double? {
        switch self {
        case .recorded(let r): r.value(m)
        case .accuracyBeforeChange: parent.map { m.accuracyBefore - $0.accuracy }
        case .accuracyAfterChange: parent.map { m.accuracyAfter - $0.accuracy }
        case .lossAfterChange: parent.map { m.lossAfter - $0.loss }
        case .compression: CostModel.compression(sparsity: m.sparsity)
        case .speedUp: cost.speedUp(sparsityPerTensor: m.sparsityPerTensor)
        }
    }
}

/// A number the report summarises over a study's parents (one per seed).
public enum ParentMetric: String, CaseIterable, Sendable, CustomStringConvertible {
    case accuracy, loss, optimalRatio = "optimal_ratio", safeRatio = "safe_ratio", k2
    /// The mean of the per-tensor Pearson kurtoses (the values K2 is the kurtosis of).
    case meanKurtosis = "mean_kurtosis"

    public var description: String { rawValue }

    public var isPercent: Bool { [.accuracy, .optimalRatio, .safeRatio].contains(self) }

    public var range: ClosedRange<Double> {
        switch self {
        case .accuracy, .optimalRatio, .safeRatio: 0...1
        case .loss: 0...Double.infinity
        case .k2, .meanKurtosis: 1...Double.infinity
        }
    }

    public func value(_ m: TrainMetrics) -> Double? {
        switch self {
        case .accuracy: m.accuracy
        case .loss: m.loss
        case .optimalRatio: m.optimalRatio
        case .safeRatio: m.safeRatio
        case .k2: m.k2
        case .meanKurtosis: m.kurtosisPerTensor.flatMap { $0.isEmpty ? nil : $0.values.sorted().reduce(0, +) / Double($0.count) }   // sorted: the same sum on every run
        }
    }
}
