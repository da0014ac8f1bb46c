import CKernels
import Foundation
import Safetensors

/// Magnitudes of checkpoints whose tensors in scope are all BF16 or F16 (most
/// large models): a 16-bit value has 65,536 patterns, so one pass that counts
/// each pattern per tensor gives every figure exactly, with no second pass:
/// kurtosis from the distinct values, thresholds from the summed counts, and
/// per-tensor counts below a threshold from the tensor's own histogram.
struct HalfMagnitudes: Magnitudes {
    let width = 32
    /// Every distinct magnitude in scope, ascending by key, with its count.
    let values: [(key: UInt32, count: Int, square: Double)]
    let total: Double
    /// Per in-scope tensor: its dtype, and (on the rank that read it) cumulative counts by magnitude pattern.
    let dtypes: [DType]
    let cumulative: [Int: [UInt64]]
    let group: RankGroup

    /// The float32 key of each magnitude pattern (0..<2^15) of a 16-bit dtype: ascending.
    static func keys(_ dtype: DType) -> [UInt32] {
        (0..<UInt32(1 << 15)).map { m in
            dtype == .BF16 ? m << 16 : Float(Float16(bitPattern: UInt16(m))).bitPattern
        }
    }

    static func value(_ pattern: Int, _ dtype: DType) -> Double {
        dtype == .BF16 ? Double(Float(bitPattern: UInt32(pattern) << 16)) : Double(Float16(bitPattern: UInt16(pattern)))
    }

    /// One pass over this rank's tensors. Returns the magnitudes and, per checkpoint tensor, [count, non-finite, kurtosis, defined].
    static func read(_ data: ScopedData, group: RankGroup) throws -> (HalfMagnitudes, [Double]) {
        let all = data.reader.checkpoint.tensors
        var stats = [Double](repeating: 0, count: 4 * all.count)
        var global = [Double](repeating: 0, count: 2 << 15)   // [BF16 magnitudes, F16 magnitudes]
        var kept: [Int: [UInt64]] = [:]
        let keep = data.mine.count * (8 << 15) <= 256 << 20   // per-tensor histograms up to 256 MiB, else a second pass counts
        var scratch = [UInt32](repeating: 0, count: 4 << 16)
        for t in data.mine {
            let dtype = all[t].dtype
            let hist = try histogram(t, data: data, scratch: &scratch)
            let exponent: Int = dtype == .BF16 ? 0x7F80 : 0x7C00
            var n = 0, bad = 0, sum = 0.0
            for p in 0..<(1 << 16) where hist[p] > 0 {
                if p & exponent == exponent { bad += Int(hist[p]); continue }
                n += Int(hist[p]); sum += Double(hist[p]) * value(p, dtype)
            }
            stats[4 * t] = Double(n); stats[4 * t + 1] = Double(bad)
            guard bad == 0 else { continue }
            // central moments over the distinct values: two passes, exact to rounding
            let mean = sum / Double(n)
            var m2 = 0.0, m4 = 0.0
            for p in 0..<(1 << 16) where hist[p] > 0 {
                let d = value(p, dtype) - mean, d2 = d * d
                m2 += Double(hist[p]) * d2; m4 += Double(hist[p]) * d2 * d2
            }
            m2 /= Double(n); m4 /= Double(n)
            if m2 > 0 { stats[4 * t + 2] = m4 / (m2 * m2); stats[4 * t + 3] = 1 }
            let magnitudes = (0..<(1 << 15)).map { hist[$0] + hist[$0 | 1 << 15] }
            let base = dtype == .BF16 ? 0 : 1 << 15
            for (m, c) in magnitudes.enumerated() where c > 0 { global[base + m] += Double(c) }
            if keep {
                var running: UInt64 = 0
                kept[t] = magnitudes.map { running += $0; return running }
            }
        }
        try group.allreduceSum(&stats)
        try group.allreduceSum(&global)
        // a tensor with NaN or infinities is out of scope: its counts were not added
        var merged: [UInt32: Int] = [:]
        for (d, dtype) in [DType.BF16, .F16].enumerated() {
            for (m, key) in keys(dtype).enumerated() where global[d << 15 + m] > 0 { merged[key, default: 0] += Int(global[d << 15 + m]) }
        }
        let values = merged.keys.sorted().map { k in
            let v = Double(Float(bitPattern: k))
            return (key: k, count: merged[k] ?? 0, square: v * v)
        }
        let total = values.reduce(0.0) { $0 + Double($1.count) * $1.square }
        let finite = data.tensors.filter { stats[4 * $0 + 1] == 0 }
        return (HalfMagnitudes(values: values, total: total, dtypes: finite.map { all[$0].dtype }, cumulative: keep ? kept : [:], group: group,
                               tensors: finite, data: data), stats)
    }

    /// Tensors in scope (finite ones), and the data to recount them when their histograms were not kept.
    let tensors: [Int]
    let data: ScopedData

    static func histogram(_ t: Int, data: ScopedData, scratch: inout [UInt32]) throws -> [UInt64] {
        var hist = [UInt64](repeating: 0, count: 1 << 16)
        try scratch.withUnsafeMutableBufferPointer { s in
            try hist.withUnsafeMutableBufferPointer { h in
                try data.reader.read(data.reader.checkpoint.tensors[t]) { raw, _ in
                    ps_histogram_u16(raw.baseAddress!.assumingMemoryBound(to: UInt16.self), Int64(raw.count / 2), h.baseAddress, s.baseAddress)
                }
            }
        }
        return hist
    }

    func thresholds(_ ks: [Int]) throws -> [Threshold] {
        var out: [Threshold] = []
        for k in ks {
            var cumulative = 0, squares = 0.0, i = 0
            while cumulative + values[i].count < k {
                cumulative += values[i].count
                squares += Double(values[i].count) * values[i].square
                i += 1
            }
            let at = k - cumulative
            out.append(Threshold(k: k, key: UInt64(values[i].key), atKey: at, squares: squares + Double(at) * values[i].square))
        }
        return out
    }

    func counts(_ keys: [UInt64]) throws -> [[(below: Int, at: Int)]] {
        let m = tensors.count
        var counts = [Double](repeating: 0, count: 2 * keys.count * m)
        var scratch = [UInt32](repeating: 0, count: 4 << 16)
        let mine = Set(data.mine)
        let patternKeys: [DType: [UInt32]] = [.BF16: Self.keys(.BF16), .F16: Self.keys(.F16)]
        for (i, t) in tensors.enumerated() where mine.contains(t) {
            let running = try cumulative[t] ?? {
                let hist = try Self.histogram(t, data: data, scratch: &scratch)
                var r: UInt64 = 0
                return (0..<(1 << 15)).map { r += hist[$0] + hist[$0 | 1 << 15]; return r }
            }()
            let pk = patternKeys[dtypes[i]] ?? []
            for (c, key) in keys.enumerated() {
                // patterns below the key form a prefix: their keys ascend
                var lo = 0, hi = pk.count
                while lo < hi { let mid = (lo + hi) / 2; if UInt64(pk[mid]) < key { lo = mid + 1 } else { hi = mid } }
                let below = lo == 0 ? 0 : Int(running[lo - 1])
                let at = lo < pk.count && UInt64(pk[lo]) == key ? Int(running[lo]) - below : 0
                (counts[2 * (c * m + i)], counts[2 * (c * m + i) + 1]) = (Double(below), Double(at))
            }
        }
        try group.allreduceSum(&counts)
        return keys.indices.map { c in (0..<m).map { i in (Int(counts[2 * (c * m + i)]), Int(counts[2 * (c * m + i) + 1])) } }
    }
}
