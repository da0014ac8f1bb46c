import Foundation

/// The architectures prunesweep trains, named as on the command line:
/// `lenet5` or `mlp:300,100` (hidden widths; input and output come from the data).
public enum Architecture: Hashable, Sendable, CustomStringConvertible, Codable {
    case lenet5
    case mlp([Int])

    public init(parsing text: String) throws {
        if text == "lenet5" { self = .lenet5; return }
        if text.hasPrefix("mlp:") {
            let parts = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
            let widths = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if !parts.isEmpty, parts.count <= Architecture.maxLayers, widths.count == parts.count,
               widths.allSatisfy({ (1...Architecture.maxWidth).contains($0) }) {
                self = .mlp(widths); return
            }
        }
        throw ArchitectureError(text: text)
    }

    /// Widest hidden layer and most hidden layers an MLP may have (a
    /// 65,536-wide layer is already 16 GiB of weights beside another).
    public static let maxWidth = 1 << 16, maxLayers = 64

    /// Weights and biases of the model on `inputSide`-square images (nil on overflow).
    public func parameterCount(inputSide: Int, classes: Int) -> Int? {
        let widths: [Int]
        switch self {
        case .lenet5:
            let side = ((inputSide / 2) - 4) / 2
            widths = [16 * side * side, 120, 84, classes]
            return Self.dense(widths).map { $0 + 6 * 25 + 6 + 16 * 6 * 25 + 16 }
        case .mlp(let hidden): widths = [inputSide * inputSide] + hidden + [classes]
        }
        return Self.dense(widths)
    }

    static func dense(_ widths: [Int]) -> Int? {
        var total = 0
        for (a, b) in zip(widths, widths.dropFirst()) {
            let (p, o1) = (a + 1).multipliedReportingOverflow(by: b)
            let (s, o2) = total.addingReportingOverflow(p)
            if o1 || o2 { return nil }
            total = s
        }
        return total
    }

    /// The smallest image side the architecture can take (LeNet5's second
    /// pooling needs a 2x2 input).
    public var smallestSide: Int { self == .lenet5 ? 12 : 1 }

    public var description: String {
        switch self {
        case .lenet5: "lenet5"
        case .mlp(let w): "mlp:" + w.map(String.init).joined(separator: ",")
        }
    }

    /// Encoded as its name, as on the command line.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        do { try self.init(parsing: try c.decode(String.self)) } catch let e as ArchitectureError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: e.description)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

public struct ArchitectureError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "unknown architecture '\(text)': expected lenet5 or mlp:W1,W2,... (1 to \(Architecture.maxLayers) hidden widths, each 1 to \(Architecture.maxWidth))" }
}


/// A feed-forward network: layers in order, parameters in one flat store.
/// LeNet5 is the pruning paper's: conv 1->6 k5 pad 2, maxpool 2, conv 6->16 k5,
/// maxpool 2, fc 400->120->84->10, ReLU between (PyTorch names conv1..fc3).
/// Each conv's ReLU runs after its max-pool: the same function and gradients
/// (max and ReLU commute, and both pick or zero values exactly) on a quarter
/// of the values.
public final class Model {
    public let architecture: Architecture
    public let classes: Int
    /// Bounds on what a model file may claim (checked before anything is allocated).
    public static let maxClasses = 1 << 16, maxSide = 4096
    let layers: [Layer]
    /// Index of the layer whose input is the penultimate representation.
    let headIndex: Int
    public let imageSide: Int
    public let store: ParameterStore

    public init(_ architecture: Architecture, inputSide: Int = 28, classes: Int = 10, seed: UInt64 = 0) {
        self.architecture = architecture
        self.classes = classes
        imageSide = inputSide
        switch architecture {
        case .lenet5:
            let conv1 = Conv2d("conv1", 1, 6, kernel: 5, padding: 2)
            conv1.computesInputGrad = false
            let side = ((inputSide / 2) - 4) / 2
            layers = [conv1, MaxPool2d(2), ReLU(),
                      Conv2d("conv2", 6, 16, kernel: 5), MaxPool2d(2), ReLU(), Flatten(),
                      Linear("fc1", 16 * side * side, 120), ReLU(),
                      Linear("fc2", 120, 84), ReLU(),
                      Linear("fc3", 84, classes)]
        case .mlp(let hidden):
            var ls: [Layer] = []
            var width = inputSide * inputSide
            for (i, h) in hidden.enumerated() {
                ls += [Linear("fc\(i + 1)", width, h), ReLU()]
                width = h
            }
            ls.append(Linear("fc\(hidden.count + 1)", width, classes))
            layers = ls
        }
        headIndex = layers.count - 1
        store = ParameterStore(layers.flatMap { $0.parameters })
        store.initialize(seed: seed)
    }

    public var parameters: [Parameter] { store.parameters }

    /// Width of the representation entering the last layer.
    public var penultimateWidth: Int { (layers[headIndex] as! Linear).inputs }

    /// Models of the same shape that threads train on shards of a batch
    /// (layers keep per-batch state, so threads cannot share one).
    private var replicaPool: [Model] = []
    func replicas(_ n: Int) -> [Model] {
        while replicaPool.count < n { replicaPool.append(Model(architecture, inputSide: imageSide, classes: classes)) }
        return Array(replicaPool.prefix(n))
    }

    /// An independent copy with the same values and masks.
    public func copy() -> Model {
        let m = Model(architecture, inputSide: imageSide, classes: classes)
        for (a, b) in zip(m.parameters, parameters) { a.setMask(b.mask) }
        _ = m.store.values.update(fromContentsOf: store.values)
        return m
    }

    func input(_ images: [Float], batch: Int) -> Tensor {
        switch architecture {
        case .lenet5: transposed(Tensor(shape: [batch, imageSide * imageSide], data: images), into: [1, imageSide, imageSide, batch])
        case .mlp: Tensor(shape: [batch, imageSide * imageSide], data: images)
        }
    }

    /// Logits [batch, classes] for `batch` images given as rows of pixels.
    public func forward(_ images: [Float], batch: Int, training: Bool = false) -> Tensor {
        var x = input(images, batch: batch)
        for l in layers { x = l.forward(x, training: training) }
        return x
    }

    /// The activations entering the last linear layer [batch, width], and the logits.
    public func forwardWithPenultimate(_ images: [Float], batch: Int) -> (penultimate: Tensor, logits: Tensor) {
        var x = input(images, batch: batch)
        for l in layers[..<headIndex] { x = l.forward(x, training: false) }
        return (x, layers[headIndex].forward(x, training: false))
    }

    /// Adds dLoss/dParameters into the grad buffers, from dLoss/dLogits.
    public func backward(_ dLogits: Tensor) {
        var d = dLogits
        for l in layers.reversed() { d = l.backward(d) }
    }
}

extension Model {
    /// The multiply-adds one entry of each parameter takes part in per image in a
    /// forward pass, in `parameters` order: a convolution weight meets every output
    /// position once (output height x width), a linear weight once (1). A bias is an
    /// add per output, not a multiply-add: 0, as ShrinkBench counts.
    public var multiplyAddsPerEntry: [Int] {
        var out: [Int] = [], side = imageSide
        for l in layers {
            var perWeight = 0
            if let c = l as? Conv2d {
                side = c.outputSize(side)
                perWeight = side * side
            } else if l is Linear {
                perWeight = 1
            } else if let p = l as? MaxPool2d {
                side /= p.size
            }
            for p in l.parameters { out.append(p.isBias ? 0 : perWeight) }
        }
        return out
    }

    /// Multiply-adds x 2 per image for one forward pass, and for a training step
    /// (forward, weight gradients, and input gradients for all but the first layer).
    public var flopsPerImage: (forward: Double, training: Double) {
        let flops = zip(parameters, multiplyAddsPerEntry).map { 2 * Double($0.count * $1) }
        let forward = flops.reduce(0, +), firstLayer = flops.prefix(layers[0].parameters.count).reduce(0, +)
        return (forward, 2 * forward + (forward - firstLayer))
    }
}
