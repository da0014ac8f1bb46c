import Foundation

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON (padded with spaces to a multiple of 8),
/// then the data section. The JSON maps each tensor name to its dtype, shape
/// and [begin, end) byte offsets into the data section, plus an optional
/// "__metadata__" object of string to string. Data is little-endian, row-major,
/// contiguous and without holes.
public struct Safetensors: Equatable {
    public var tensors: [NamedTensor]
    public var metadata: [String: String]

    public init(tensors: [NamedTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }

    public subscript(name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// The file's bytes: tensors in the given order, keys in a fixed order, so
    /// the same tensors and metadata always give the same bytes.
    public func encode() -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        var offset = 0
        for t in tensors {
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}")
            offset += t.bytes.count
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        out += header
        for t in tensors { out += t.bytes }
        return out
    }

    /// Parses and validates; every violation of the format is an error naming `source`.
    public static func decode(_ bytes: [UInt8], source: String) throws -> Safetensors {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: source, problem: problem) }
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        let n = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard n <= UInt64(bytes.count - 8) else { throw fail("header length \(n) exceeds the file (\(bytes.count - 8) bytes after the length)") }
        let headerEnd = 8 + Int(n)
        guard bytes[8] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) } catch {
            throw fail("header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let m = object["__metadata__"] {
            guard let dict = m as? [String: Any], let strings = dict as? [String: String] else {
                throw fail("__metadata__ must map strings to strings")
            }
            metadata = strings
        }
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in object where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let d = info["dtype"] as? String, let dtype = DType(rawValue: d) else {
                throw fail("tensor '\(name)': unknown or missing dtype \(String(describing: info["dtype"]))")
            }
            guard let shape = info["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)': shape must be a list of non-negative integers")
            }
            guard let offs = info["data_offsets"] as? [Int], offs.count == 2, offs[0] >= 0, offs[0] <= offs[1] else {
                throw fail("tensor '\(name)': data_offsets must be [begin, end] with 0 <= begin <= end")
            }
            let expected = shape.reduce(1, *) * dtype.size
            guard offs[1] - offs[0] == expected else {
                throw fail("tensor '\(name)': data_offsets span \(offs[1] - offs[0]) bytes but \(dtype.rawValue) \(shape) needs \(expected)")
            }
            entries.append((name, dtype, shape, offs[0], offs[1]))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        let dataSize = bytes.count - headerEnd
        var cursor = 0
        for e in entries {
            guard e.begin == cursor else {
                throw fail(e.begin < cursor ? "tensor '\(e.name)' overlaps the previous tensor" : "hole in the data section before tensor '\(e.name)' (offset \(cursor) to \(e.begin))")
            }
            cursor = e.end
        }
        guard cursor == dataSize else {
            throw fail(cursor > dataSize ? "truncated: tensors need \(cursor) data bytes, file has \(dataSize)" : "\(dataSize - cursor) trailing bytes after the last tensor")
        }
        let tensors = entries.map { e in
            NamedTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: Array(bytes[headerEnd + e.begin..<headerEnd + e.end]))
        }
        return Safetensors(tensors: tensors, metadata: metadata)
    }
}

public struct SafetensorsError: Error, CustomStringConvertible {
    public let source: String
    public let problem: String
    public init(source: String, problem: String) { self.source = source; self.problem = problem }
    public var description: String { "\(source): not a valid safetensors file: \(problem)" }
}

public enum DType: String, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
    public var size: Int {
        switch self {
        case .F64, .I64: 8
        case .F32, .I32: 4
        case .F16, .BF16, .I16: 2
        case .I8, .U8, .BOOL: 1
        }
    }
}

public struct NamedTensor: Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    public init(name: String, shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count)
        self.init(name: name, dtype: .F32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], int32s: [Int32]) {
        precondition(shape.reduce(1, *) == int32s.count)
        self.init(name: name, dtype: .I32, shape: shape, bytes: int32s.withUnsafeBytes { Array($0) })
    }

    /// The values as Float (F32 as is; F64 and integer types converted).
    public var floats: [Float] {
        func load<T>(_: T.Type, _ f: (T) -> Float) -> [Float] {
            bytes.withUnsafeBytes { raw in (0..<raw.count / MemoryLayout<T>.size).map { f(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
        }
        switch dtype {
        case .F32: return load(Float.self) { $0 }
        case .F64: return load(Double.self) { Float($0) }
        case .I64: return load(Int64.self) { Float($0) }
        case .I32: return load(Int32.self) { Float($0) }
        case .U8, .BOOL: return bytes.map { Float($0) }
        default: return []
        }
    }

    public var int32s: [Int32] {
        bytes.withUnsafeBytes { raw in (0..<raw.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
