import Distillation
import NeuralNet
import Pruning

/// One round of iterative magnitude pruning (or of a control) as a task.
/// Round 0 is the dense training, shared by every variant and teacher of a
/// (dense net, [imp] settings); IMP round k needs IMP round k - 1; the
/// reinit control's round k needs IMP's round k (its mask); every round
/// needs round 0 (the rewind weights, and the dense net it is compared with).
public struct RoundSpec: Codable, Hashable, Sendable {
    /// The dense net: architecture, data, seed, initialisation; `training` is every round's.
    public var dense: TrainSpec
    public var imp: IMPSettings
    public var variant: IMPVariant
    public var round: Int
    /// Distils every retraining (round 0 trains without a teacher).
    public var teacher: TeacherKind
    public var kd: KDSettings?
    public var threads: Int

    public init(dense: TrainSpec, imp: IMPSettings, variant: IMPVariant, round: Int, teacher: TeacherKind, kd: KDSettings?, threads: Int) {
        self.dense = dense; self.imp = imp; self.variant = variant; self.round = round
        self.teacher = teacher; self.kd = kd; self.threads = threads
        if round == 0 { (self.variant, self.teacher, self.kd) = (.imp, .none, nil) }
    }

    public var seed: UInt64 { dense.seed }

    /// The same chain at another round and variant.
    public func at(round k: Int, _ v: IMPVariant) -> RoundSpec {
        RoundSpec(dense: dense, imp: imp, variant: v, round: k, teacher: teacher, kd: kd, threads: threads)
    }

    public var denseRound: RoundSpec { at(round: 0, .imp) }

    /// The rounds this one needs.
    public var needsRounds: [RoundSpec] {
        guard round > 0 else { return [] }
        switch variant {
        case .imp: return round == 1 ? [denseRound] : [at(round: round - 1, .imp), denseRound]
        case .reinit: return [at(round: round, .imp), denseRound]
        case .random: return [denseRound]
        }
    }

    /// A named-architecture teacher: trained like the dense net, with its seed.
    public var teacherSpec: TrainSpec? {
        guard case .model(let arch) = teacher else { return nil }
        var t = dense
        t.arch = arch
        t.checkpoint = nil
        return t
    }

    /// Does this round measure its stability (IMP rounds only: the controls are not tickets)?
    public var measuresStability: Bool { imp.stability && variant == .imp }
}
