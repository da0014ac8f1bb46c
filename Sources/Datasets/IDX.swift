import CZlib
import Foundation
import Safetensors

public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public var description: String { "\(file): \(problem)" }
    public init(file: String, problem: String) { self.file = file; self.problem = problem }
}

/// IDX files (the MNIST layout): a big-endian magic 0x0000 08 NDIMS (unsigned
/// bytes), NDIMS big-endian UInt32 sizes, then the data. Read through zlib,
/// which passes raw files through unchanged, so `.gz` and raw both work.
public struct IDXFile {
    public let dims: [Int]
    public let bytes: [UInt8]

    public static func read(path: String, expectDims: Int) throws -> IDXFile {
        let fileSize: Int
        do { fileSize = try InputFile.regularSize(path) } catch let e as FileError { throw DatasetError(file: path, problem: e.problem) }
        guard let gz = gzopen(path, "rb") else { throw DatasetError(file: path, problem: "cannot open") }
        defer { gzclose(gz) }
        gzbuffer(gz, 1 << 20)

        func readExactly(_ n: Int, what: String) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let chunk = Int32(min(n - got, 1 << 30))
                let r = out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress! + got, UInt32(chunk)) }
                if r < 0 {
                    var errnum: Int32 = 0
                    let msg = String(cString: gzerror(gz, &errnum))
                    throw DatasetError(file: path, problem: "corrupt compressed data while reading \(what): \(msg)")
                }
                if r == 0 {
                    throw DatasetError(file: path, problem: "truncated: \(what) needs \(n) bytes, file ends after \(got)")
                }
                got += Int(r)
            }
            return out
        }

        let header = try readExactly(4, what: "the magic number")
        let magic = header.reduce(0) { $0 << 8 | UInt32($1) }
        let expected = UInt32(0x0800) | UInt32(expectDims)
        guard magic == expected else {
            throw DatasetError(file: path, problem: String(format: "wrong magic number 0x%08X, expected 0x%08X (unsigned bytes, %d dimensions)", magic, expected, expectDims))
        }
        let sizeBytes = try readExactly(4 * expectDims, what: "the dimension sizes")
        let dims = (0..<expectDims).map { d in
            Int(sizeBytes[4 * d..<4 * d + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        let shape = dims.map(String.init).joined(separator: "x")
        if let zero = dims.firstIndex(of: 0) {
            throw DatasetError(file: path, problem: "dimension \(zero) of \(shape) is 0; expected at least one \(zero == 0 ? "item" : "row and column")")
        }
        let (count, overflow) = dims.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d); return (p, acc.1 || o)
        }
        // Checked before allocating: raw data must be in the file; deflate
        // expands at most 1032:1; pixels become 4-byte floats beside the bytes.
        let room = gzdirect(gz) == 1 ? fileSize - 4 - 4 * expectDims : fileSize.multipliedReportingOverflow(by: 1032).partialValue
        guard !overflow, count <= room else {
            throw DatasetError(file: path, problem: "\(gzdirect(gz) == 1 ? "truncated: " : "")header claims \(shape) = \(overflow ? "more than Int.max" : "\(count)") bytes of data, but the \(fileSize)-byte file \(gzdirect(gz) == 1 ? "holds \(room)" : "can expand to at most \(room)")")
        }
        do { try InputFile.checkMemory(5 * count, for: "the data (\(shape))", path: path) } catch let e as FileError {
            throw DatasetError(file: path, problem: e.problem)
        }
        let data = try readExactly(count, what: "the data (\(dims.map(String.init).joined(separator: "x")))")
        return IDXFile(dims: dims, bytes: data)
    }
}
