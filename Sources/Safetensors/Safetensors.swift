import Foundation

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON (padded with spaces to a multiple of 8),
/// then the data section. The JSON maps each tensor name to its dtype, shape
/// and [begin, end) byte offsets into the data section, plus an optional
/// "__metadata__" object of string to string. Data is little-endian, row-major,
/// contiguous and without holes.
public struct Safetensors: Equatable, Sendable {
    public var tensors: [NamedTensor]
    public var metadata: [String: String]

    public init(tensors: [NamedTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors; self.metadata = metadata
    }

    public subscript(name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// The file's bytes: tensors in the given order, keys in a fixed order, so
    /// the same tensors and metadata always give the same bytes.
    public func encode() -> [UInt8] {
        var out = encodeHeader()
        out.reserveCapacity(out.count + dataSize)
        for t in tensors { out += t.bytes }
        return out
    }

    /// Bytes in the data section (the sum of the tensors' sizes).
    public var dataSize: Int { tensors.reduce(0) { $0 + $1.bytes.count } }

    /// The 8-byte length and the padded JSON header: `encode()` minus the data
    /// section, so a writer can send the tensors' own buffers after it.
    public func encodeHeader() -> [UInt8] {
        var offset = 0
        let entries = tensors.map { t in
            defer { offset += t.bytes.count }
            return Layout.Entry(name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + t.bytes.count)
        }
        return Layout.encodeHeader(metadata: metadata, entries: entries)
    }

    /// Parses and validates; every violation of the format is an error naming `source`.
    public static func decode(_ bytes: [UInt8], source: String) throws -> Safetensors {
        let layout = try Layout.parse(bytes, source: source)
        guard layout.totalSize == bytes.count else {
            let dataSize = bytes.count - layout.headerEnd
            throw SafetensorsError(source: source, problem: layout.totalSize > bytes.count
                ? "truncated: tensors need \(layout.dataSize) data bytes, file has \(dataSize)"
                : "\(dataSize - layout.dataSize) trailing bytes after the last tensor")
        }
        let h = layout.headerEnd
        let tensors = layout.entries.map { e in
            NamedTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: Array(bytes[h + e.begin..<h + e.end]))
        }
        return Safetensors(tensors: tensors, metadata: layout.metadata)
    }

    /// What the header says: metadata, each tensor's place in the data section,
    /// and so the size of the whole file. Parsed from a prefix of the file that
    /// holds at least the header, so a reader can size its buffers before
    /// reading the data.
    public struct Layout: Sendable {
        public struct Entry: Sendable {
            public let name: String; public let dtype: DType; public let shape: [Int]; public let begin: Int; public let end: Int
            public init(name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
                self.name = name; self.dtype = dtype; self.shape = shape; self.begin = begin; self.end = end
            }
        }
        public let headerEnd: Int          // 8 + header length: where the data section starts
        public let metadata: [String: String]
        public let entries: [Entry]        // sorted by offset, contiguous from 0
        public var dataSize: Int { entries.last?.end ?? 0 }
        public var totalSize: Int { headerEnd + dataSize }

        /// The 8-byte length and the JSON header (padded with spaces to a multiple of 8)
        /// of these entries, in their order, and metadata (keys sorted).
        public static func encodeHeader(metadata: [String: String], entries: [Entry]) -> [UInt8] {
            var items: [String] = []
            if !metadata.isEmpty {
                let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
                items.append("\"__metadata__\":{\(m.joined(separator: ","))}")
            }
            for e in entries {
                let shape = e.shape.map(String.init).joined(separator: ",")
                items.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(e.begin),\(e.end)]}")
            }
            var header = Array("{\(items.joined(separator: ","))}".utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            var out = [UInt8]()
            out.reserveCapacity(8 + header.count)
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
            return out + header
        }

        /// Bytes needed to parse the header, from the first 8 bytes (nil if fewer than 8 given).
        public static func headerEnd(_ prefix: [UInt8]) -> Int? {
            guard prefix.count >= 8 else { return nil }
            let n = prefix[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return n > UInt64(Int.max - 8) ? Int.max : 8 + Int(n)
        }

        /// `prefix` is the file's first bytes (at least the header; the whole file is fine).
        /// With `fileSize` the header length is checked against it (else against the prefix).
        public static func parse(_ prefix: [UInt8], source: String, fileSize: Int? = nil) throws -> Layout {
            func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: source, problem: problem) }
            let size = fileSize ?? prefix.count
            guard size >= 8, prefix.count >= 8 else { throw fail("file is \(size) bytes, shorter than the 8-byte header length") }
            let n = prefix[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard n <= UInt64(size - 8) else { throw fail("header length \(n) exceeds the file (\(size - 8) bytes after the length)") }
            let headerEnd = 8 + Int(n)
            guard headerEnd <= prefix.count else { throw fail("header of \(n) bytes not in the \(prefix.count) bytes read") }
            guard n > 0, prefix[8] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
            let json: JSON
            do { json = try JSONParser.parse(prefix[8..<headerEnd]) } catch {
                throw fail("header is not valid JSON: at byte \(error.offset) of the header, expected \(error.expected)")
            }
            guard case .object(let object) = json else { throw fail("header is not a JSON object") }

            var metadata: [String: String] = [:]
            if let m = object["__metadata__"] {
                guard case .object(let dict) = m else { throw fail("__metadata__ must map strings to strings") }
                for (k, v) in dict {
                    guard case .string(let text) = v else { throw fail("__metadata__ must map strings to strings") }
                    metadata[k] = text
                }
            }
            func integers(_ v: JSON?) -> [Int]? {
                guard case .array(let items)? = v else { return nil }
                var out: [Int] = []
                for case .integer(let n) in items { out.append(n) }
                return out.count == items.count ? out : nil
            }
            var entries: [Entry] = []
            for (name, value) in object where name != "__metadata__" {
                guard case .object(let info) = value else { throw fail("tensor '\(name)': entry is not an object") }
                guard case .string(let d)? = info["dtype"] else { throw fail("tensor '\(name)': missing dtype (a string such as \"F32\")") }
                guard let dtype = DType(rawValue: d) else { throw fail("tensor '\(name)': unknown dtype '\(d)'") }
                guard let shape = integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                    throw fail("tensor '\(name)': shape must be a list of non-negative integers")
                }
                guard let offs = integers(info["data_offsets"]), offs.count == 2, offs[0] >= 0, offs[0] <= offs[1] else {
                    throw fail("tensor '\(name)': data_offsets must be [begin, end] with 0 <= begin <= end")
                }
                let (expected, overflow) = shape.reduce((dtype.size, false)) { acc, d in
                    let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                    return (p, acc.1 || o)
                }
                guard !overflow, offs[1] - offs[0] == expected else {
                    throw fail("tensor '\(name)': data_offsets span \(offs[1] - offs[0]) bytes but \(dtype.rawValue) \(shape) needs \(overflow ? "more than Int.max" : "\(expected)")")
                }
                entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: offs[0], end: offs[1]))
            }
            entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
            var cursor = 0
            for e in entries {
                guard e.begin == cursor else {
                    throw fail(e.begin < cursor ? "tensor '\(e.name)' overlaps the previous tensor" : "hole in the data section before tensor '\(e.name)' (offset \(cursor) to \(e.begin))")
                }
                cursor = e.end
            }
            return Layout(headerEnd: headerEnd, metadata: metadata, entries: entries)
        }
    }
}

public struct SafetensorsError: Error, CustomStringConvertible {
    public let source: String
    public let problem: String
    public init(source: String, problem: String) { self.source = source; self.problem = problem }
    public var description: String { "\(source): not a valid safetensors file: \(problem)" }
}

/// The element types of the format (safetensors' list, 8-bit floats included).
public enum DType: String, Sendable, Codable {
    case F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL
    public var size: Int {
        switch self {
        case .F64, .I64, .U64: 8
        case .F32, .I32, .U32: 4
        case .F16, .BF16, .I16, .U16: 2
        case .F8_E4M3, .F8_E5M2, .I8, .U8, .BOOL: 1
        }
    }
}

public struct NamedTensor: Equatable, Sendable {
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
