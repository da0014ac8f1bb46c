import CBLAS
import Foundation

/// Similarity of two representations of the same n examples, X [n, dx] and
/// Y [n, dy] (rows = examples), after centring each column. Computed from the
/// small Gram / cross-covariance matrices X^T X [dx, dx], Y^T Y [dy, dy] and
/// X^T Y [dx, dy], never from n x n kernels:
///   linear CKA = ||X^T Y||_F^2 / (||X^T X||_F ||Y^T Y||_F)
///   NBS        = ||X^T Y||_* / sqrt(tr(X^T X) tr(Y^T Y))
/// (the nuclear norm is the sum of singular values of X^T Y, i.e. of the square
/// roots of the eigenvalues of the smaller of (X^T Y)^T (X^T Y) and its transpose twin.)
/// Both are in [0, 1]; a representation that is constant over the examples gives 0.
public struct RepresentationSimilarity: Codable, Equatable, Sendable {
    public var linearCKA: Double
    public var normalizedBures: Double

    public init(_ x: [Float], _ y: [Float], rows n: Int) {
        precondition(n > 0 && x.count % n == 0 && y.count % n == 0, "representations must both have \(n) rows")
        let dx = x.count / n, dy = y.count / n
        let xc = centred(x, n, dx), yc = centred(y, n, dy)
        let xx = crossProduct(xc, xc, n, dx, dx), yy = crossProduct(yc, yc, n, dy, dy), xy = crossProduct(xc, yc, n, dx, dy)
        let fro = { (m: [Double]) in m.reduce(0) { $0 + $1 * $1 } }
        let trace = { (m: [Double], d: Int) in (0..<d).reduce(0.0) { $0 + m[$1 * d + $1] } }
        let ckaDen = (fro(xx) * fro(yy)).squareRoot()
        linearCKA = ckaDen > 0 ? fro(xy) / ckaDen : 0
        // (X^T Y)^T (X^T Y) is [dy, dy]; X^T Y (X^T Y)^T is [dx, dx]: use the smaller.
        let small = dy <= dx ? crossProduct(xy, xy, dx, dy, dy) : crossProduct(transpose(xy, dx, dy), transpose(xy, dx, dy), dy, dx, dx)
        let nuclear = symmetricEigenvalues(small, size: min(dx, dy)).reduce(0) { $0 + max($1, 0).squareRoot() }
        let nbsDen = (trace(xx, dx) * trace(yy, dy)).squareRoot()
        normalizedBures = nbsDen > 0 ? min(1, nuclear / nbsDen) : 0
    }
}

/// Columns minus their means, in Double. x [n, d] -> [n, d].
func centred(_ x: [Float], _ n: Int, _ d: Int) -> [Double] {
    var mean = [Double](repeating: 0, count: d)
    var out = [Double](repeating: 0, count: n * d)
    x.withUnsafeBufferPointer { xp in
        for i in 0..<n { for j in 0..<d { mean[j] += Double(xp[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<n { for j in 0..<d { o[i * d + j] = Double(xp[i * d + j]) - mean[j] } }
        }
    }
    return out
}

/// A^T B for A [n, p], B [n, q] (row-major) -> [p, q], by BLAS (dgemm).
func crossProduct(_ a: [Double], _ b: [Double], _ n: Int, _ p: Int, _ q: Int) -> [Double] {
    var c = [Double](repeating: 0, count: p * q)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(q), Int32(n), 1, a, Int32(p), b, Int32(q), 0, &c, Int32(q))
    return c
}

/// [p, q] -> [q, p].
func transpose(_ a: [Double], _ p: Int, _ q: Int) -> [Double] {
    var t = [Double](repeating: 0, count: p * q)
    for i in 0..<p { for j in 0..<q { t[j * p + i] = a[i * q + j] } }
    return t
}

/// Eigenvalues of a symmetric matrix [size, size] by cyclic Jacobi rotations
/// (each rotation zeroes one off-diagonal pair; sweeps until the off-diagonal
/// mass is negligible). O(size^3) per sweep, typically under 10 sweeps.
public func symmetricEigenvalues(_ matrix: [Double], size n: Int) -> [Double] {
    precondition(matrix.count == n * n)
    var a = matrix
    func off() -> Double {
        var s = 0.0
        for i in 0..<n { for j in 0..<n where i != j { s += a[i * n + j] * a[i * n + j] } }
        return s
    }
    let total = a.reduce(0) { $0 + $1 * $1 }
    guard total > 0 else { return [Double](repeating: 0, count: n) }
    for _ in 0..<100 {
        if off() <= 1e-30 * total { break }
        for p in 0..<n {
            for q in (p + 1)..<max(p + 1, n) {
                let apq = a[p * n + q]
                if apq == 0 { continue }
                let app = a[p * n + p], aqq = a[q * n + q]
                // tan of the rotation angle that zeroes a[p][q], the smaller root for stability
                let theta = (aqq - app) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {   // columns p, q
                    let akp = a[k * n + p], akq = a[k * n + q]
                    a[k * n + p] = c * akp - s * akq
                    a[k * n + q] = s * akp + c * akq
                }
                for k in 0..<n {   // rows p, q
                    let apk = a[p * n + k], aqk = a[q * n + k]
                    a[p * n + k] = c * apk - s * aqk
                    a[q * n + k] = s * apk + c * aqk
                }
            }
        }
    }
    return (0..<n).map { a[$0 * n + $0] }
}
