import Datasets
import Foundation
import NeuralNet
import Safetensors
import Sweep

/// Coverage-guided fuzz targets for every reader of hostile input: one input
/// through one reader (PRUNESWEEP_FUZZ_TARGET names it). Any thrown error is
/// a fine answer; a crash, a trap or a hang is a finding. Built with libFuzzer
/// by `make fuzz` (-sanitize=fuzzer -DFUZZING); built plainly, the binary
/// replays files given as arguments (a crash found becomes a unit test).
enum FuzzTarget: String, CaseIterable {
    case sweep, safetensors, idx, cifar, journal

    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["PRUNESWEEP_FUZZ_TARGET"] ?? ""
        guard let t = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("set PRUNESWEEP_FUZZ_TARGET to one of \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return t
    }()

    /// A scratch file for the readers that take a path (in RAM, one per process).
    static let scratch = "/dev/shm/prunesweep-fuzz.\(getpid())"

    func run(_ bytes: [UInt8]) {
        switch self {
        case .sweep:
            _ = try? SweepFile.parse(bytes: bytes, path: "fuzz.toml")
        case .safetensors:
            // the header, then the model metadata read from it
            guard let file = try? Safetensors.decode(bytes, source: "fuzz") else { return }
            _ = try? Model(file, source: "fuzz")
        case .idx:
            // first byte: 1 or 3 dimensions (labels or images); the rest is the file
            guard let first = bytes.first else { return }
            write(Array(bytes.dropFirst()))
            _ = try? IDXFile.read(path: FuzzTarget.scratch, expectDims: first & 1 == 0 ? 1 : 3)
        case .cifar:
            // first byte: bit 0 picks CIFAR-10 or CIFAR-100 records, bit 1 the
            // labels; the rest is test_batch.bin / test.bin of a directory
            // whose training files are copies of it (statistics, then the split)
            guard let first = bytes.first else { return }
            let variant: CIFAR = first & 1 == 0 ? .cifar10 : .cifar100
            for name in variant.allFiles { write(Array(bytes.dropFirst()), to: FuzzTarget.directory + "/" + name) }
            _ = try? ImageData.load(directory: FuzzTarget.directory, split: .test, labels: first & 2 == 0 ? .fine : .coarse)
            for name in variant.allFiles { unlink(FuzzTarget.directory + "/" + name) }
        case .journal:
            write(bytes)
            _ = Journal.read(FuzzTarget.scratch)
        }
    }

    /// A scratch directory for the readers of a data directory.
    static let directory: String = {
        let d = "/dev/shm/prunesweep-fuzz-dir.\(getpid())"
        mkdir(d, 0o700)
        return d
    }()

    func write(_ bytes: [UInt8], to path: String = FuzzTarget.scratch) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(path)") }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.current.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: FuzzCallback) -> CInt

/// SwiftPM links an executable's entry point under this name; libFuzzer's
/// driver then runs (its own `main` is not linked in place of ours).
@_cdecl("prunesweep_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc, args = argv
    _ = FuzzTarget.current
    return runDriver(&count, &args, fuzzOne)
}
#else
@main
enum Replay {
    static func main() {
        let target = FuzzTarget.current
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); exit(2) }
            target.run([UInt8](data))
            print("ok \(path)")
        }
        unlink(FuzzTarget.scratch)
        rmdir(FuzzTarget.directory)
    }
}
#endif
