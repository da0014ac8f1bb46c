import CKernels
import Foundation
import Safetensors

/// The ranks that share a checkpoint's tensors. Sums of exact integers held in
/// Doubles (below 2^53) reduce exactly whatever the split.
public protocol RankGroup {
    var rank: Int { get }
    var size: Int { get }
    func allreduceSum(_ values: inout [Double]) throws
}

public struct OneRank: RankGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: inout [Double]) throws {}
}

/// The in-scope tensors of a checkpoint as one flat vector, visited in chunks
/// converted to Float (or Double when any tensor is F64: `width` 64), each
/// tensor by one rank.
struct ScopedData {
    let reader: CheckpointReader
    /// Indices into checkpoint.tensors, in checkpoint order.
    let tensors: [Int]
    /// This rank's share of `tensors`.
    let mine: [Int]
    let width: Int
    /// Every in-scope tensor is BF16 (at width 32): a first-level bin is one value.
    var firstLevelExact: Bool

    enum Chunk { case f32(UnsafePointer<Float>, Int), f64(UnsafePointer<Double>, Int) }

    init(reader: CheckpointReader, tensors: [Int], group: RankGroup) {
        self.reader = reader
        self.tensors = tensors
        let all = reader.checkpoint.tensors
        width = tensors.contains { all[$0].dtype == .F64 } ? 64 : 32
        firstLevelExact = width == 32 && tensors.allSatisfy { all[$0].dtype == .BF16 }
        // whole tensors to ranks, largest first to the least loaded: the split changes no result
        var load = [Int](repeating: 0, count: group.size), owner: [Int: Int] = [:]
        for t in tensors.sorted(by: { (all[$0].byteCount, $1) > (all[$1].byteCount, $0) }) {
            let r = load.indices.min { (load[$0], $0) < (load[$1], $1) } ?? 0
            owner[t] = r
            load[r] += all[t].byteCount
        }
        mine = tensors.filter { owner[$0] == group.rank }
    }

    /// Calls `body` with each chunk of tensor `t` (an index into checkpoint.tensors).
    func visit(_ t: Int, _ body: (Chunk) throws -> Void) throws {
        let tensor = reader.checkpoint.tensors[t]
        try reader.read(tensor) { raw, _ in
            let n = raw.count / tensor.dtype.size
            try withFloats(raw, tensor.dtype, n) { f in
                if width == 32 { try body(.f32(f, n)); return }
                try [Double](unsafeUninitializedCapacity: n) { d, c in
                    ps_widen_f32(f, Int64(n), d.baseAddress)
                    c = n
                }.withUnsafeBufferPointer { try body(.f64($0.baseAddress!, n)) }
            } double: { d in try body(.f64(d, n)) }
        }
    }

    private func withFloats(_ raw: UnsafeRawBufferPointer, _ dtype: DType, _ n: Int,
                            _ f32: (UnsafePointer<Float>) throws -> Void, double f64: (UnsafePointer<Double>) throws -> Void) throws {
        switch dtype {
        case .F32: try f32(raw.baseAddress!.assumingMemoryBound(to: Float.self))
        case .F64: try f64(raw.baseAddress!.assumingMemoryBound(to: Double.self))
        default:
            let wide = [Float](unsafeUninitializedCapacity: n) { out, c in
                let src = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
                if dtype == .BF16 { ps_widen_bf16(src, Int64(n), out.baseAddress) } else { ps_widen_f16(src, Int64(n), out.baseAddress) }
                c = n
            }
            try wide.withUnsafeBufferPointer { try f32($0.baseAddress!) }
        }
    }
}

/// A histogram of magnitudes: per bin its entries and the exact sum of their
/// squares, as a 192-bit integer (of significands) times a power of two.
struct MagnitudeBins {
    var count: [UInt64]
    var sums: [(UInt64, UInt64, UInt64)]

    init(_ n: Int) { count = [UInt64](repeating: 0, count: n); sums = Array(repeating: (0, 0, 0), count: n) }

    init(_ bins: UnsafeBufferPointer<ps_bin>) {
        count = bins.map(\.count)
        sums = bins.map { ($0.sum0, $0.sum1, $0.sum2) }
    }

    /// All ranks' bins summed exactly: every value travels as 48-bit limbs in Doubles.
    func reduced(_ group: RankGroup) throws -> MagnitudeBins {
        guard group.size > 1 else { return self }
        let mask: UInt64 = (1 << 48) - 1
        var flat = [Double](repeating: 0, count: count.count * 5)
        for i in count.indices {
            let (a, b, c) = sums[i]
            flat[5 * i] = Double(count[i])
            flat[5 * i + 1] = Double(a & mask)
            flat[5 * i + 2] = Double((a >> 48 | b << 16) & mask)
            flat[5 * i + 3] = Double((b >> 32 | c << 32) & mask)
            flat[5 * i + 4] = Double(c >> 16)
        }
        try group.allreduceSum(&flat)
        var out = MagnitudeBins(count.count)
        for i in count.indices {
            out.count[i] = UInt64(flat[5 * i])
            // carries: limbs are exact integers below 2^53, recombined into 192 bits
            var acc: (UInt64, UInt64, UInt64) = (0, 0, 0)
            for limb in (1...4).reversed() {
                let v = UInt64(flat[5 * i + limb])
                acc = add(shift48(acc), v)
            }
            out.sums[i] = acc
        }
        return out
    }

    private func shift48(_ x: (UInt64, UInt64, UInt64)) -> (UInt64, UInt64, UInt64) {
        (x.0 << 48, x.1 << 48 | x.0 >> 16, x.2 << 48 | x.1 >> 16)
    }

    private func add(_ x: (UInt64, UInt64, UInt64), _ v: UInt64) -> (UInt64, UInt64, UInt64) {
        let (a, o1) = x.0.addingReportingOverflow(v)
        let (b, o2) = x.1.addingReportingOverflow(o1 ? 1 : 0)
        return (a, b, x.2 &+ (o2 ? 1 : 0))
    }
}

/// Where the k smallest magnitudes end, found level by level without a sort:
/// `key` is the k-th smallest key, `atKey` how many entries equal to it are
/// among the k (ties go to the earlier tensor, then the lower index), and
/// `squares` the sum of the k smallest squares.
struct Threshold {
    var k: Int
    var key: UInt64
    var atKey: Int
    var squares: Double
}

/// The in-scope magnitudes of a checkpoint, as far as the curve and pruning need them.
protocol Magnitudes {
    /// Keys are float32 (32) or float64 (64) bit patterns of |x|.
    var width: Int { get }
    /// Sum of every square.
    var total: Double { get }
    /// Where the k smallest end, for each k in 1...n.
    func thresholds(_ ks: [Int]) throws -> [Threshold]
    /// Per key, per in-scope tensor (in checkpoint order): entries with a smaller key, and with that key.
    func counts(_ keys: [UInt64]) throws -> [[(below: Int, at: Int)]]
}

/// Magnitudes of F32 and F64 tensors (and any mix): first-level bins from one
/// pass, refined by further passes over the data where a wanted rank falls.
struct StreamedMagnitudes: Magnitudes {
    let data: ScopedData
    let bins: MagnitudeBins
    let group: RankGroup
    var width: Int { data.width }

    var total: Double {
        bins.count.indices.reduce(0.0) { $0 + MagnitudeSelection.squares(bins.sums[$1], exponent: UInt64($1) >> (width == 32 ? 7 : 4), width: width) }
    }

    func thresholds(_ ks: [Int]) throws -> [Threshold] { try MagnitudeSelection.thresholds(ks, bins: bins, data: data, group: group) }

    func counts(_ keys: [UInt64]) throws -> [[(below: Int, at: Int)]] {
        let m = data.tensors.count
        var counts = [Double](repeating: 0, count: 2 * keys.count * m)   // [key][tensor][below, at]
        let mine = Set(data.mine)
        for (i, t) in data.tensors.enumerated() where mine.contains(t) {
            var below = [Int64](repeating: 0, count: keys.count), at = below
            try data.visit(t) { chunk in
                switch chunk {
                case .f32(let x, let n): ps_count_f32(x, Int64(n), keys, Int64(keys.count), &below, &at)
                case .f64(let x, let n): ps_count_f64(x, Int64(n), keys, Int64(keys.count), &below, &at)
                }
            }
            for c in keys.indices { (counts[2 * (c * m + i)], counts[2 * (c * m + i) + 1]) = (Double(below[c]), Double(at[c])) }
        }
        try group.allreduceSum(&counts)
        return keys.indices.map { c in (0..<m).map { i in (Int(counts[2 * (c * m + i)]), Int(counts[2 * (c * m + i) + 1])) } }
    }
}

enum MagnitudeSelection {
    /// x^2 of the value with magnitude key `key` at `width`.
    static func square(_ key: UInt64, width: Int) -> Double {
        let v = width == 32 ? Double(Float(bitPattern: UInt32(key))) : Double(bitPattern: key)
        return v * v
    }

    /// A bin's sum of squares: its integer sum of significands squared, scaled by its exponent.
    static func squares(_ s: (UInt64, UInt64, UInt64), exponent e: UInt64, width: Int) -> Double {
        let (bias, mantissa) = width == 32 ? (127, 23) : (1023, 52)
        let scale = 2 * (Int(max(e, 1)) - bias - mantissa)
        let integer = Double(s.2) * 0x1p128 + Double(s.1) * 0x1p64 + Double(s.0)
        return scalbn(integer, scale)
    }

    /// The thresholds of the `ks` smallest (each 1...n) from the first-level bins,
    /// refined by passes over the data until each is one key.
    static func thresholds(_ ks: [Int], bins: MagnitudeBins, data: ScopedData, group: RankGroup) throws -> [Threshold] {
        let width = data.width
        let exponentShift = UInt64(width == 32 ? 7 : 4)   // exponent bits of a first-level bin
        // Per target: the prefix of keys it lies in, at `shift`, and what lies below that prefix.
        struct Search { var prefix: UInt64; var within: Int; var below: Double; var exponent: UInt64 }
        var searches: [Search] = []
        var cumulative = 0, squares = 0.0, bin = 0
        for k in ks.sorted() {
            while cumulative + Int(bins.count[bin]) < k {
                cumulative += Int(bins.count[bin])
                squares += Self.squares(bins.sums[bin], exponent: UInt64(bin) >> exponentShift, width: width)
                bin += 1
            }
            searches.append(Search(prefix: UInt64(bin), within: k - cumulative, below: squares, exponent: UInt64(bin) >> exponentShift))
        }
        var shift = width - 16
        if data.firstLevelExact {
            for i in searches.indices { searches[i].prefix <<= 16 }
            shift = 0
        }
        while shift > 0 {
            let prefixes = Array(Set(searches.map(\.prefix))).sorted()
            var local = [ps_bin](repeating: ps_bin(), count: prefixes.count * Int(PS_SUB_BINS))
            try prefixes.withUnsafeBufferPointer { p in
                try local.withUnsafeMutableBufferPointer { out in
                    for t in data.mine {
                        try data.visit(t) { chunk in
                            switch chunk {
                            case .f32(let x, let n): ps_refine_f32(x, Int64(n), p.baseAddress, Int64(p.count), Int32(shift), out.baseAddress)
                            case .f64(let x, let n): ps_refine_f64(x, Int64(n), p.baseAddress, Int64(p.count), Int32(shift), out.baseAddress)
                            }
                        }
                    }
                }
            }
            let sub = try local.withUnsafeBufferPointer { try MagnitudeBins($0).reduced(group) }
            for i in searches.indices {
                let j = prefixes.firstIndex(of: searches[i].prefix) ?? 0
                var s = searches[i], slot = 0
                while Int(sub.count[j * Int(PS_SUB_BINS) + slot]) < s.within {
                    let b = j * Int(PS_SUB_BINS) + slot
                    s.within -= Int(sub.count[b])
                    s.below += Self.squares(sub.sums[b], exponent: s.exponent, width: width)
                    slot += 1
                }
                s.prefix = s.prefix << 8 | UInt64(slot)
                searches[i] = s
            }
            shift -= 8
        }
        let order = ks.indices.sorted { ks[$0] < ks[$1] }
        var out = [Threshold](repeating: Threshold(k: 0, key: 0, atKey: 0, squares: 0), count: ks.count)
        for (s, i) in zip(searches, order) {
            out[i] = Threshold(k: ks[i], key: s.prefix, atKey: s.within, squares: s.below + Double(s.within) * square(s.prefix, width: width))
        }
        return out
    }
}
