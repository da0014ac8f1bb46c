import Foundation
import NeuralNet
import Sweep

/// A (dataset, architecture) pair: the unit a report analyses on its own.
/// Results of several sweeps merge into one report, one study per pair.
public struct Study: Hashable, Sendable, CustomStringConvertible {
    /// The data directory's name (e.g. "fashion-mnist").
    public var dataset: String
    public var architecture: Architecture

    public init(dataset: String, architecture: Architecture) {
        self.dataset = dataset; self.architecture = architecture
    }

    public init(_ parent: TrainSpec) {
        self.init(dataset: URL(fileURLWithPath: parent.data.dir).standardizedFileURL.lastPathComponent, architecture: parent.arch)
    }

    public var description: String { "\(dataset) / \(architecture)" }

    /// For file names and HTML ids: ASCII letters, digits and '-' (mlp:300,100 -> mlp-300-100).
    public var slug: String {
        "\(dataset)-\(architecture)".map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0.lowercased() : "-" }.joined()
    }

    static func order(_ a: Study, _ b: Study) -> Bool { (a.dataset, a.architecture.description) < (b.dataset, b.architecture.description) }
}
