import Distillation
import Pruning

/// What a parent or teacher task measured.
public struct TrainMetrics: Codable, Equatable, Sendable {
    public var accuracy: Double
    public var loss: Double
    /// Mean training loss of the last epoch (absent with 0 epochs).
    public var trainLoss: Double?
    /// A parent's resolved ratios (absent for teachers, or when K2 is undefined: see `analysisError`).
    public var optimalRatio: Double?
    public var safeRatio: Double?
    public var k2: Double?
    public var analysisError: String?
    /// A parent's Pearson kurtosis per tensor (what K2 is the kurtosis of; absent from older journals).
    public var kurtosisPerTensor: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case accuracy, loss, k2
        case trainLoss = "train_loss", optimalRatio = "optimal_ratio", safeRatio = "safe_ratio", analysisError = "analysis_error"
        case kurtosisPerTensor = "kurtosis_per_tensor"
    }
}

/// What a trial measured: the pruned net before fine-tuning, the student
/// after, and the student against its parent and teacher.
public struct TrialMetrics: Codable, Equatable, Sendable {
    /// The ratio used (optimal and safe resolved from the parent).
    public var ratio: Double
    public var cosine: Double
    public var accuracyBefore: Double
    public var lossBefore: Double
    public var accuracyAfter: Double
    public var lossAfter: Double
    public var trainLoss: Double?
    /// Fraction of all the student's entries that are zero, and per tensor.
    public var sparsity: Double
    public var sparsityPerTensor: [String: Double]
    /// Tensors pruned to 100 %.
    public var collapsed: [String]
    public var k2: Double?
    public var optimalRatio: Double?
    public var safeRatio: Double?
    /// The student (B) against its unpruned parent (A), and against its teacher when that is a model.
    public var parent: FunctionalMetrics
    public var teacher: FunctionalMetrics?

    enum CodingKeys: String, CodingKey {
        case ratio, cosine, sparsity, collapsed, k2, parent, teacher
        case accuracyBefore = "accuracy_before", lossBefore = "loss_before", accuracyAfter = "accuracy_after",
             lossAfter = "loss_after", trainLoss = "train_loss", sparsityPerTensor = "sparsity_per_tensor",
             optimalRatio = "optimal_ratio", safeRatio = "safe_ratio"
    }
}

/// A number a report summarises per cell, named once: its column name, and
/// how to read it from a trial.
public enum TrialMetric: String, CaseIterable, Sendable {
    case ratio, accuracyBefore = "accuracy_before", accuracyAfter = "accuracy_after", cosine, sparsity
    case agreementParent = "agreement_parent", jsParent = "js_parent", ckaParent = "cka_parent"
    case agreementTeacher = "agreement_teacher", jsTeacher = "js_teacher", ckaTeacher = "cka_teacher"
    case lossBefore = "loss_before", lossAfter = "loss_after", k2

    public func value(_ m: TrialMetrics) -> Double? {
        switch self {
        case .ratio: m.ratio
        case .accuracyBefore: m.accuracyBefore
        case .accuracyAfter: m.accuracyAfter
        case .cosine: m.cosine
        case .sparsity: m.sparsity
        case .agreementParent: m.parent.agreement
        case .jsParent: m.parent.jensenShannon
        case .ckaParent: m.parent.linearCKA
        case .agreementTeacher: m.teacher?.agreement
        case .jsTeacher: m.teacher?.jensenShannon
        case .ckaTeacher: m.teacher?.linearCKA
        case .lossBefore: m.lossBefore
        case .lossAfter: m.lossAfter
        case .k2: m.k2
        }
    }

    /// Fractions the writers show in %.
    public var isPercent: Bool { [.ratio, .accuracyBefore, .accuracyAfter, .sparsity, .agreementParent, .agreementTeacher].contains(self) }
}

/// What a task's line in the journal says of it.
public enum TaskStatus: String, Codable, Sendable {
    case done, failed, skipped
}
