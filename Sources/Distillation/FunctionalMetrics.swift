import Datasets
import Foundation
import NeuralNet

/// What a model computes on a dataset: logits [n, K] and penultimate-layer
/// activations [n, d]. Compute once and reuse (e.g. a teacher against many students).
public struct ModelOutputs {
    public let logits: Tensor
    public let penultimate: Tensor
    public var count: Int { logits.shape[0] }
    public var classes: Int { logits.shape[1] }

    public init(logits: Tensor, penultimate: Tensor) {
        precondition(logits.shape[0] == penultimate.shape[0], "logits and activations must have the same rows")
        self.logits = logits; self.penultimate = penultimate
    }

    public init(_ model: Model, on data: ImageDataset) {
        let (logits, penultimate) = predict(model, on: data)
        self.init(logits: logits, penultimate: penultimate)
    }

    public var predictions: [Int] {
        logits.data.withUnsafeBufferPointer { z in (0..<count).map { argmax(z.baseAddress! + $0 * classes, classes) } }
    }
}

/// Functional similarity of a model B to a reference A (a teacher) on a test set,
/// as in Mason-Williams, Mason-Williams and Sandler (2024).
public struct FunctionalMetrics: Codable, Equatable, Sendable {
    public var examples: Int
    public var accuracyA: Double
    public var accuracyB: Double
    /// Fraction of examples where argmax A == argmax B.
    public var agreement: Double
    /// Mean Jensen-Shannon divergence of the softmax outputs, base 2 (in [0, 1]).
    public var jensenShannon: Double
    /// Mean L2 distance between the softmax outputs (in [0, sqrt 2]).
    public var activationDistance: Double
    /// Of the penultimate-layer activations (centred).
    public var linearCKA: Double
    public var normalizedBures: Double
    /// Among examples A gets wrong: the fraction where B gives the same wrong label.
    public var errorCopy: Double
    /// Among examples A gets right: the fraction where B agrees (is right too).
    public var rightAgreement: Double
    public var wrongByA: Int
    /// The same two figures for a control student (trained without this teacher), when given.
    public var controlErrorCopy: Double?
    public var controlRightAgreement: Double?

    /// All metrics between two models; A is the reference.
    public static func compare(_ a: Model, _ b: Model, on data: ImageDataset) -> FunctionalMetrics {
        FunctionalMetrics(ModelOutputs(a, on: data), ModelOutputs(b, on: data), labels: data.labels)
    }

    /// As `compare(_:_:on:)`, plus the error-copying figures of a control student.
    public static func compare(teacher: Model, student: Model, control: Model, on data: ImageDataset) -> FunctionalMetrics {
        let t = ModelOutputs(teacher, on: data)
        return FunctionalMetrics(t, ModelOutputs(student, on: data), labels: data.labels, control: ModelOutputs(control, on: data))
    }

    /// Figures measured elsewhere (a journal written by an older version); unknown ones are NaN.
    public init(examples: Int, accuracyA: Double, accuracyB: Double, agreement: Double, jensenShannon: Double, activationDistance: Double,
                linearCKA: Double, normalizedBures: Double, errorCopy: Double, rightAgreement: Double, wrongByA: Int) {
        self.examples = examples; self.accuracyA = accuracyA; self.accuracyB = accuracyB; self.agreement = agreement
        self.jensenShannon = jensenShannon; self.activationDistance = activationDistance; self.linearCKA = linearCKA
        self.normalizedBures = normalizedBures; self.errorCopy = errorCopy; self.rightAgreement = rightAgreement; self.wrongByA = wrongByA
    }

    public init(_ a: ModelOutputs, _ b: ModelOutputs, labels: [Int32], control: ModelOutputs? = nil) {
        precondition(a.count == b.count && a.count == labels.count && a.classes == b.classes, "outputs must cover the same examples and classes")
        let n = a.count, k = a.classes
        examples = n
        let predA = a.predictions, predB = b.predictions
        var rightA = 0, rightB = 0, same = 0
        for i in 0..<n {
            if predA[i] == Int(labels[i]) { rightA += 1 }
            if predB[i] == Int(labels[i]) { rightB += 1 }
            if predA[i] == predB[i] { same += 1 }
        }
        accuracyA = Double(rightA) / Double(n); accuracyB = Double(rightB) / Double(n)
        agreement = Double(same) / Double(n)
        (jensenShannon, activationDistance) = Self.divergences(softmax(a.logits), softmax(b.logits), n, k)
        let rep = RepresentationSimilarity(a.penultimate.data, b.penultimate.data, rows: n)
        linearCKA = rep.linearCKA; normalizedBures = rep.normalizedBures
        (errorCopy, rightAgreement, wrongByA) = Self.copying(reference: predA, other: predB, labels: labels)
        if let control {
            precondition(control.count == n)
            let c = Self.copying(reference: predA, other: control.predictions, labels: labels)
            controlErrorCopy = c.errorCopy; controlRightAgreement = c.rightAgreement
        }
    }

    /// Mean JS divergence (bits) and mean L2 distance between the rows of p and q [n, k].
    static func divergences(_ p: Tensor, _ q: Tensor, _ n: Int, _ k: Int) -> (Double, Double) {
        var js = 0.0, l2 = 0.0
        p.data.withUnsafeBufferPointer { pp in
            q.data.withUnsafeBufferPointer { qp in
                for i in 0..<n {
                    var row = 0.0, d2 = 0.0
                    for j in 0..<k {
                        let x = Double(pp[i * k + j]), y = Double(qp[i * k + j])
                        let m = (x + y) / 2
                        if x > 0 { row += x * log2(x / m) }
                        if y > 0 { row += y * log2(y / m) }
                        d2 += (x - y) * (x - y)
                    }
                    js += min(1, max(0, row / 2)); l2 += d2.squareRoot()
                }
            }
        }
        return (js / Double(n), l2 / Double(n))
    }

    /// (fraction of the reference's errors the other repeats exactly, fraction
    /// of the reference's right answers the other shares, number of reference errors).
    public static func copying(reference: [Int], other: [Int], labels: [Int32]) -> (errorCopy: Double, rightAgreement: Double, wrongByA: Int) {
        var wrong = 0, copied = 0, right = 0, agreed = 0
        for i in reference.indices {
            if reference[i] == Int(labels[i]) {
                right += 1; if other[i] == reference[i] { agreed += 1 }
            } else {
                wrong += 1; if other[i] == reference[i] { copied += 1 }
            }
        }
        return (wrong > 0 ? Double(copied) / Double(wrong) : 0, right > 0 ? Double(agreed) / Double(right) : 0, wrong)
    }
}
