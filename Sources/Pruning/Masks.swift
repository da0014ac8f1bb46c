import NeuralNet
import SeededRandom

public enum PruneMethod: String, Sendable, CaseIterable, Codable {
    /// Global unstructured L1: the smallest |w| across every tensor in scope at once (the paper's).
    case l1
    /// Uniformly random entries, seeded (the control).
    case random
    /// L1 within each tensor, the same ratio per tensor (the baseline global L1 is compared with).
    case layerwise
}

/// Which tensors may be pruned: all weights and biases (the paper), weights
/// only, and/or only the named layers ("fc1" covers fc1.weight and fc1.bias;
/// a full tensor name covers that tensor).
public struct PruneScope: Sendable, Hashable, Codable {
    public var weightsOnly: Bool
    public var layers: [String]?

    public init(weightsOnly: Bool = false, layers: [String]? = nil) {
        self.weightsOnly = weightsOnly; self.layers = layers
    }

    public static let all = PruneScope()

    public func contains(_ p: Parameter) -> Bool {
        if weightsOnly && p.isBias { return false }
        guard let layers else { return true }
        return layers.contains { $0 == p.name || p.name.hasPrefix($0 + ".") }
    }

    /// Every named layer must exist and the scope must not be empty.
    public func check(_ model: Model) throws {
        for name in layers ?? [] where !model.parameters.contains(where: { $0.name == name || $0.name.hasPrefix(name + ".") }) {
            throw PruningError("no layer or tensor named '\(name)'; the model has \(model.parameters.map(\.name).joined(separator: ", "))")
        }
        guard model.parameters.contains(where: contains) else { throw PruningError("the pruning scope selects no tensor") }
    }
}

public struct PruningError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How many of `n` entries a ratio prunes: round(ratio * n), halves away from zero.
@inline(__always) public func pruneCount(_ ratio: Double, of n: Int) -> Int {
    min(n, max(0, Int((ratio * Double(n)).rounded())))
}

/// Sort keys that order entries for magnitude pruning, smallest first:
/// bit 63 clear for entries an existing mask already pruned (so they stay pruned),
/// bits 32..62 the bits of |w| (monotone in |w| for non-negative floats),
/// bits 0..31 the flat index (ties go to the lower index, deterministically).
@inline(__always) func magnitudeKey(_ w: Float, index: Int, alreadyPruned: Bool) -> UInt64 {
    (alreadyPruned ? 0 : 1 << 63) | UInt64(w.magnitude.bitPattern) << 32 | UInt64(UInt32(index))
}

/// The ascending magnitude keys of every in-scope entry of `model`; an entry's
/// flat index into model.store.values is `key & 0xFFFF_FFFF`.
func sortedMagnitudeKeys(_ model: Model, scope: PruneScope) -> [UInt64] {
    precondition(model.store.count <= Int(UInt32.max), "more than 2^32 parameters")
    var keys: [UInt64] = []
    keys.reserveCapacity(model.store.count)
    var base = 0
    for p in model.parameters {
        if scope.contains(p) { appendKeys(p, base: base, to: &keys) }
        base += p.count
    }
    keys.sort()
    return keys
}

func appendKeys(_ p: Parameter, base: Int, to keys: inout [UInt64]) {
    let m = p.mask
    for i in 0..<p.count { keys.append(magnitudeKey(p.value[i], index: base + i, alreadyPruned: m.map { $0[i] == 0 } ?? false)) }
}

/// One 0/1 mask per entry of model.parameters, in order. Global L1 and random
/// prune exactly round(ratio x in-scope entries); layerwise prunes
/// round(ratio x count) of each in-scope tensor. Out-of-scope tensors keep
/// their existing mask, or get all ones.
public func pruneMasks(_ model: Model, ratio: Double, method: PruneMethod, seed: UInt64 = 0, scope: PruneScope = .all) -> [[Float]] {
    precondition((0...1).contains(ratio), "prune ratio \(ratio) outside [0, 1]")
    var layout = MaskLayout(model, scope: scope)
    switch method {
    case .l1:
        layout.prune(sortedMagnitudeKeys(model, scope: scope), count: pruneCount(ratio, of: layout.prunable))
    case .layerwise:
        for t in layout.inScope {
            let p = model.parameters[t]
            var keys: [UInt64] = []
            keys.reserveCapacity(p.count)
            appendKeys(p, base: layout.offsets[t], to: &keys)
            keys.sort()
            layout.prune(keys, count: pruneCount(ratio, of: p.count))
        }
    case .random:
        let indices = randomPruneCandidates(model, scope: scope)
        for j in randomPruneOrder(indices.count, ratio: ratio, seed: seed) { layout.flat[indices[j]] = 0 }
    }
    return layout.masks
}

/// The flat indices of every in-scope entry [prunable], which random pruning draws from.
func randomPruneCandidates(_ model: Model, scope: PruneScope) -> [Int] {
    let layout = MaskLayout(model, scope: scope)
    return layout.inScope.flatMap { layout.offsets[$0]..<layout.offsets[$0] + layout.counts[$0] }
}

/// Which candidates random pruning takes at `ratio`: the first round(ratio n) of a permutation seeded by (seed, ratio).
func randomPruneOrder(_ n: Int, ratio: Double, seed: UInt64) -> ArraySlice<Int> {
    var rng = RandomStream("random-prune", seed, ratio)
    return rng.permutation(n)[..<pruneCount(ratio, of: n)]
}

/// Global L1 masks pruning exactly `count` in-scope entries; entries an existing
/// mask pruned go first (iterative pruning never revives a weight).
public func globalL1Masks(_ model: Model, pruning count: Int, scope: PruneScope = .all) -> [[Float]] {
    var layout = MaskLayout(model, scope: scope)
    layout.prune(sortedMagnitudeKeys(model, scope: scope), count: min(count, layout.prunable))
    return layout.masks
}

/// The masks of a model as one flat 0/1 buffer [total parameters], with the
/// in-scope tensors reset to all ones and the others keeping their mask.
struct MaskLayout {
    var flat: [Float]
    let offsets: [Int]
    let counts: [Int]
    let inScope: [Int]
    var prunable: Int { inScope.reduce(0) { $0 + counts[$1] } }

    init(_ model: Model, scope: PruneScope) {
        flat = [Float](repeating: 1, count: model.store.count)
        var base = 0, offs: [Int] = []
        for p in model.parameters {
            offs.append(base)
            if let m = p.mask, !scope.contains(p) { flat.replaceSubrange(base..<base + p.count, with: m) }
            base += p.count
        }
        offsets = offs
        counts = model.parameters.map(\.count)
        inScope = model.parameters.indices.filter { scope.contains(model.parameters[$0]) }
    }

    /// Zeroes the entries of the first `count` keys.
    mutating func prune(_ sortedKeys: [UInt64], count: Int) {
        for key in sortedKeys[..<count] { flat[Int(key & 0xFFFF_FFFF)] = 0 }
    }

    var masks: [[Float]] { offsets.indices.map { Array(flat[offsets[$0]..<offsets[$0] + counts[$0]]) } }
}

/// Sets the masks on `model` (zeroing the pruned entries in place).
public func applyMasks(_ masks: [[Float]], to model: Model) {
    precondition(masks.count == model.parameters.count, "\(masks.count) masks for \(model.parameters.count) tensors")
    for (p, m) in zip(model.parameters, masks) { p.setMask(m) }
}

/// A copy of `model` pruned with `masks`; the original is untouched.
public func pruned(_ model: Model, masks: [[Float]]) -> Model {
    let m = model.copy()
    applyMasks(masks, to: m)
    return m
}
