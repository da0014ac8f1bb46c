import Datasets
import Foundation

/// How the learning rate moves over a run: `constant`; `cosine` (from lr to 0
/// over the run, per epoch: lr * (1 + cos(pi * e / epochs)) / 2); `step`
/// (lr * gamma^k after the k-th milestone epoch).
public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
    case constant, cosine, step
}

/// Everything that decides how a model trains, apart from the model, the data,
/// the loss and the seed: what `[parent]` / `[finetune]` in a sweep file and
/// the training options of every command set.
public struct TrainingSettings: Codable, Hashable, Sendable {
    public var epochs: Int
    public var lr: Double
    public var momentum: Double
    /// Nesterov's momentum (PyTorch's SGD(nesterov=True)).
    public var nesterov: Bool
    public var weightDecay: Double
    public var batch: Int
    public var schedule: ScheduleKind
    /// Epochs (1-based counts of finished epochs) after which `step` multiplies the rate by `gamma`.
    public var milestones: [Int]
    public var gamma: Double
    /// Epochs of linear warm-up, ramped per batch from lr / steps to lr, on top of the schedule.
    public var warmupEpochs: Int
    /// Seeded data augmentation of every training batch.
    public var augment: Augmentation

    public init(epochs: Int, lr: Double, momentum: Double = 0.9, nesterov: Bool = false, weightDecay: Double = 0, batch: Int = 64,
                schedule: ScheduleKind = .cosine, milestones: [Int] = [], gamma: Double = 0.1, warmupEpochs: Int = 0,
                augment: Augmentation = .none) {
        self.epochs = epochs; self.lr = lr; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        self.batch = batch; self.schedule = schedule; self.milestones = milestones; self.gamma = gamma
        self.warmupEpochs = warmupEpochs; self.augment = augment
    }

    enum CodingKeys: String, CodingKey {
        case epochs, lr, momentum, nesterov, batch, schedule, milestones, gamma, augment
        case weightDecay = "weight_decay", warmupEpochs = "warmup_epochs"
    }

    /// Specs written before `nesterov` and `augment` existed decode with them off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(epochs: try c.decode(Int.self, forKey: .epochs), lr: try c.decode(Double.self, forKey: .lr),
                  momentum: try c.decode(Double.self, forKey: .momentum),
                  nesterov: try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false,
                  weightDecay: try c.decode(Double.self, forKey: .weightDecay), batch: try c.decode(Int.self, forKey: .batch),
                  schedule: try c.decode(ScheduleKind.self, forKey: .schedule), milestones: try c.decode([Int].self, forKey: .milestones),
                  gamma: try c.decode(Double.self, forKey: .gamma), warmupEpochs: try c.decode(Int.self, forKey: .warmupEpochs),
                  augment: try c.decodeIfPresent(Augmentation.self, forKey: .augment) ?? .none)
    }

    /// The keys an older spec lacks are left out while off, so its encoding (and task id) stays the same.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epochs, forKey: .epochs); try c.encode(lr, forKey: .lr); try c.encode(momentum, forKey: .momentum)
        if nesterov { try c.encode(nesterov, forKey: .nesterov) }
        try c.encode(weightDecay, forKey: .weightDecay); try c.encode(batch, forKey: .batch)
        try c.encode(schedule, forKey: .schedule); try c.encode(milestones, forKey: .milestones)
        try c.encode(gamma, forKey: .gamma); try c.encode(warmupEpochs, forKey: .warmupEpochs)
        if augment != .none { try c.encode(augment, forKey: .augment) }
    }

    /// The first impossible value, named by its sweep-file key.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> TrainingSettingsError { TrainingSettingsError(key: key, message: message) }
        guard epochs >= 0 else { throw fail("epochs", "must be at least 0, found \(epochs)") }
        guard epochs <= 1_000_000 else { throw fail("epochs", "must be at most 1000000, found \(epochs)") }
        guard lr.isFinite, lr > 0 else { throw fail("lr", "must be a positive number, found \(lr)") }
        guard (0..<1).contains(momentum) else { throw fail("momentum", "must be in [0, 1), found \(momentum)") }
        guard !nesterov || momentum > 0 else { throw fail("nesterov", "needs a momentum above 0") }
        guard weightDecay.isFinite, weightDecay >= 0, weightDecay < 1 else { throw fail("weight_decay", "must be in [0, 1), found \(weightDecay)") }
        guard (1...1 << 20).contains(batch) else { throw fail("batch", "must be in 1...\(1 << 20), found \(batch)") }
        guard gamma.isFinite, gamma > 0, gamma <= 1 else { throw fail("gamma", "must be in (0, 1], found \(gamma)") }
        guard (0...1_000_000).contains(warmupEpochs) else { throw fail("warmup_epochs", "must be at least 0, found \(warmupEpochs)") }
        if schedule == .step {
            guard !milestones.isEmpty else { throw fail("milestones", "schedule \"step\" needs milestones (epochs after which the rate drops)") }
            guard milestones.allSatisfy({ $0 >= 1 }), zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw fail("milestones", "must be increasing epoch counts of at least 1, found \(milestones)")
            }
        } else if !milestones.isEmpty {
            throw fail("milestones", "apply only to schedule \"step\" (the schedule is \"\(schedule.rawValue)\")")
        }
    }

    /// The rate for batch `batch` of `batches` in epoch `epoch` of this run (0-based).
    public func learningRate(epoch: Int, batch: Int, batches: Int) -> Float {
        let factor: Double
        switch schedule {
        case .constant: factor = 1
        case .cosine: factor = 0.5 * (1 + cos(Double.pi * Double(epoch) / Double(max(epochs, 1))))
        case .step: factor = pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
        }
        var rate = Float(lr) * Float(factor)
        let warmupSteps = warmupEpochs * batches
        let step = epoch * batches + batch
        if step < warmupSteps { rate *= Float(step + 1) / Float(warmupSteps) }
        return rate
    }
}

public struct TrainingSettingsError: Error, CustomStringConvertible {
    /// The setting's sweep-file key (`lr`, `warmup_epochs`, ...).
    public let key: String
    public let message: String
    public var description: String { "\(key): \(message)" }
}

extension TrainingSettings {
    /// Each architecture's default recipe, what `prunesweep train --arch NAME`
    /// uses (docs/architectures.md): LeNet5 and MLPs as the pruning paper's
    /// notebook; the BatchNorm networks as the CIFAR literature (SGD with
    /// Nesterov momentum 0.9, weight decay 5e-4, batch 128, one epoch of
    /// warm-up, cosine decay, random crop and flip), shortened to 10 epochs.
    public static func recipe(for architecture: Architecture) -> TrainingSettings {
        switch architecture {
        case .lenet5, .mlp: TrainingSettings(epochs: 12, lr: 0.05)
        case .resnet20, .resnet18, .vgg11bn, .vgg16bn:
            TrainingSettings(epochs: 10, lr: architecture == .resnet20 ? 0.1 : 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4,
                             batch: 128, schedule: .cosine, warmupEpochs: 1, augment: .cropFlip)
        }
    }
}
