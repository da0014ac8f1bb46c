/// What a key may look like: segments of [A-Za-z0-9._-] joined by '/', none
/// empty or starting with '.' (temporary files and "." / ".." are dot names),
/// at most 250 bytes. Stores use keys as file paths and RADOS object names.
public enum KeyRule {
    public static func check(_ key: String) throws {
        func bad(_ why: String) -> StoreError { .badKey(key, why) }
        guard !key.isEmpty else { throw bad("empty") }
        guard key.utf8.count <= 250 else { throw bad("longer than 250 bytes") }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty else { throw bad("empty path segment (leading, trailing or double '/')") }
            guard segment.first != "." else { throw bad("a segment may not start with '.'") }
            guard segment.utf8.allSatisfy(allowed) else { throw bad("only A-Z a-z 0-9 . _ - and '/' are allowed") }
        }
    }

    /// A prefix for `list`: empty, or key characters (may end in '/').
    public static func checkPrefix(_ prefix: String) throws {
        guard prefix.utf8.allSatisfy({ allowed($0) || $0 == UInt8(ascii: "/") }) else {
            throw StoreError.badKey(prefix, "a prefix may hold only A-Z a-z 0-9 . _ - and '/'")
        }
    }

    static func allowed(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }
}
