/// Short-row kernels for im2col, col2im and bias sums. The rows are 10 to 28
/// floats: a memcpy call costs more than the copy, and a scalar sum is bound by
/// the add latency, so these go 16 lanes at a time, then 4 (the baseline
/// x86-64 target has 4-lane SSE registers).
typealias Lanes = SIMD16<Float>

@inline(__always)
func load(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }

@inline(__always)
func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self) }

@inline(__always)
func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self) }

@inline(__always)
func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self) }

/// dst[0..<n] = src[0..<n]
@inline(__always)
func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store(load(src + i), dst + i); i += 16 }
    while i + 4 <= n { store4(load4(src + i), dst + i); i += 4 }
    while i < n { dst[i] = src[i]; i += 1 }
}

/// dst[0..<n] += src[0..<n]
@inline(__always)
func addRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store(load(dst + i) + load(src + i), dst + i); i += 16 }
    while i + 4 <= n { store4(load4(dst + i) + load4(src + i), dst + i); i += 4 }
    while i < n { dst[i] += src[i]; i += 1 }
}

/// The sum of p[0..<n], in 16 lanes (a fixed order: the same bits every run).
func sumRow(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Lanes(), i = 0
    while i + 16 <= n { acc += load(p + i); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}
