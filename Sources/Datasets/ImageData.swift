import Foundation
import Safetensors

/// The layouts a data directory may hold, told apart by their file names.
public enum DataLayout: String, Sendable, CaseIterable {
    case mnist = "MNIST", cifar10 = "CIFAR-10", cifar100 = "CIFAR-100"

    public var cifar: CIFAR? {
        switch self {
        case .mnist: nil
        case .cifar10: .cifar10
        case .cifar100: .cifar100
        }
    }

    /// The layout's file names, as a user would look for them.
    public var expected: String {
        switch self {
        case .mnist: MNISTLayout.names.map { $0 + "[.gz]" }.joined(separator: ", ")
        case .cifar10, .cifar100: cifar!.allFiles.joined(separator: ", ")
        }
    }

    /// The layout's files present in `directory`.
    func present(in directory: String) -> [String] {
        let names = self == .mnist ? MNISTLayout.names.flatMap { [$0, $0 + ".gz"] } : cifar!.allFiles
        return names.filter { FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0)) }
    }
}

/// The one way in to a data directory: the layout is picked by what the
/// directory holds. MNIST-layout pixels stay in [0, 1] as read (results made
/// before CIFAR do not move); CIFAR's are normalised per channel by the
/// training split's statistics, the test split's too.
public enum ImageData {
    public static func layout(of directory: String) throws -> DataLayout {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw DatasetError(file: directory, problem: "data directory not found")
        }
        guard isDirectory.boolValue else { throw DatasetError(file: directory, problem: "not a directory; expected a data directory") }
        let found = DataLayout.allCases.map { ($0, $0.present(in: directory)) }.filter { !$0.1.isEmpty }
        guard found.count <= 1 else {
            throw DatasetError(file: directory, problem: "holds files of more than one layout (" +
                found.map { "\($0.0.rawValue): \($0.1.joined(separator: ", "))" }.joined(separator: "; ") + "); keep one layout per directory")
        }
        guard let (layout, _) = found.first else {
            let inside = ["cifar-10-batches-bin", "cifar-100-binary"].filter {
                FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0))
            }
            throw DatasetError(file: directory, problem: "holds none of the data layouts; looked for " +
                DataLayout.allCases.map { "\($0.rawValue) (\($0.expected))" }.joined(separator: "; ") +
                inside.map { "; it has a directory \($0): pass that one" }.joined())
        }
        return layout
    }

    /// One split, ready to train on (a CIFAR test split reads the training
    /// files too, for their statistics).
    public static func load(directory: String, split: MNISTLayout.Split, labels: LabelSet = .fine) throws -> ImageDataset {
        let layout = try checked(directory, labels)
        guard let cifar = layout.cifar else { return try MNISTLayout.load(directory: directory, split: split) }
        let (mean, std) = try cifar.trainStatistics(directory: directory)
        return try cifar.load(directory: directory, split: split, labels: labels).normalized(mean: mean, std: std)
    }

    /// Both splits, ready to train on.
    public static func load(directory: String, labels: LabelSet = .fine) throws -> (train: ImageDataset, test: ImageDataset) {
        let layout = try checked(directory, labels)
        guard let cifar = layout.cifar else {
            return (try MNISTLayout.load(directory: directory, split: .train), try MNISTLayout.load(directory: directory, split: .test))
        }
        let (mean, std) = try cifar.trainStatistics(directory: directory)
        let train = try cifar.load(directory: directory, split: .train, labels: labels).normalized(mean: mean, std: std)
        return (train, try cifar.load(directory: directory, split: .test, labels: labels).normalized(mean: mean, std: std))
    }

    /// The training images of a CIFAR directory from its file sizes alone
    /// (nil for the MNIST layout, whose count is in the data, or on any error):
    /// for estimates, not a check.
    public static func trainCount(directory: String) -> Int? {
        guard let cifar = (try? layout(of: directory))?.cifar else { return nil }
        var n = 0
        for name in cifar.files(.train) {
            guard let size = try? InputFile.regularSize((directory as NSString).appendingPathComponent(name)) else { return nil }
            n += size / cifar.recordBytes
        }
        return n
    }

    /// The directory's layout, which must have the labels asked for.
    static func checked(_ directory: String, _ labels: LabelSet) throws -> DataLayout {
        let layout = try layout(of: directory)
        guard labels == .fine || layout == .cifar100 else {
            throw DatasetError(file: directory, problem: "coarse labels are CIFAR-100's, but this directory holds \(layout.rawValue); use labels fine")
        }
        return layout
    }
}
