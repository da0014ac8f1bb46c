import Datasets
import Foundation

/// The architectures prunesweep trains, named as on the command line:
/// `lenet5`, `mlp:300,100` (hidden widths; input and output come from the
/// data), and the papers' BatchNorm networks on 32x32 images: `resnet20`
/// (He et al. 2016's CIFAR ResNet), `resnet18` (torchvision's, CIFAR stem),
/// `vgg11_bn` and `vgg16_bn` (torchvision's features, one Linear classifier).
/// docs/architectures.md lists every layer.
public enum Architecture: Hashable, Sendable, CustomStringConvertible, Codable {
    case lenet5
    case mlp([Int])
    case resnet20, resnet18, vgg11bn, vgg16bn

    static let named: [String: Architecture] = ["lenet5": .lenet5, "resnet20": .resnet20, "resnet18": .resnet18,
                                                "vgg11_bn": .vgg11bn, "vgg16_bn": .vgg16bn]

    public init(parsing text: String) throws {
        if let a = Self.named[text] { self = a; return }
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

    /// The side every input is brought to (smaller images are zero-padded), or
    /// nil when the network takes the data's own side.
    public var fixedSide: Int? {
        switch self {
        case .lenet5, .mlp: nil
        case .resnet20, .resnet18, .vgg11bn, .vgg16bn: 32
        }
    }

    /// Weights, biases and BatchNorm affine parameters of the model on
    /// `inputSide`-square images with `channels` channels (nil on overflow).
    public func parameterCount(inputSide: Int, channels: Int = 1, classes: Int) -> Int? {
        switch self {
        case .lenet5:
            let side = ((inputSide / 2) - 4) / 2
            return Self.dense([16 * side * side, 120, 84, classes]).map { $0 + 6 * channels * 25 + 6 + 16 * 6 * 25 + 16 }
        case .mlp(let hidden):
            let (features, o) = (inputSide * inputSide).multipliedReportingOverflow(by: channels)
            return o ? nil : Self.dense([features] + hidden + [classes])
        case .resnet20, .resnet18, .vgg11bn, .vgg16bn:
            // widths are fixed: only the first convolution and the classifier grow with the input
            let layers = Model.layers(self, side: 32, channels: channels, classes: classes)
            var total = 0
            for p in layers.flatMap(\.parameters) {
                var n = 1, o = false
                for d in p.shape where !o { (n, o) = n.multipliedReportingOverflow(by: d) }
                if !o { (total, o) = total.addingReportingOverflow(n) }
                if o { return nil }
            }
            return total
        }
    }

    /// Values every convolution outputs for one image, summed (no parameters allocated).
    public func convolutionOutputsPerImage(channels: Int) -> Int {
        var side = fixedSide ?? 28, total = 0
        for l in Model.layers(self, side: side, channels: channels, classes: 10) {
            for (p, m) in zip(l.parameters, l.multiplyAddsPerEntry(inputSide: side)) where p.shape.count == 4 { total += p.shape[0] * m }
            side = l.outputSide(side)
        }
        return total
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
    public var smallestSide: Int { fixedSide ?? (self == .lenet5 ? 12 : 1) }

    public var description: String {
        switch self {
        case .mlp(let w): "mlp:" + w.map(String.init).joined(separator: ",")
        default: Self.named.first { $0.value == self }!.key
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
    public var description: String { "unknown architecture '\(text)': expected lenet5, resnet20, resnet18, vgg11_bn, vgg16_bn or mlp:W1,W2,... (1 to \(Architecture.maxLayers) hidden widths, each 1 to \(Architecture.maxWidth))" }
}


/// A feed-forward network: layers in order, parameters in one flat store,
/// BatchNorm's running statistics in `buffers`. Names are PyTorch's
/// (torchvision's for the ResNets and VGGs), so a state_dict maps one to one.
/// LeNet5 is the pruning paper's: conv 1->6 k5 pad 2, maxpool 2, conv 6->16 k5,
/// maxpool 2, fc 400->120->84->10, ReLU between (PyTorch names conv1..fc3).
/// Each conv's ReLU runs after its max-pool: the same function and gradients
/// (max and ReLU commute, and both pick or zero values exactly) on a quarter
/// of the values.
public final class Model {
    public let architecture: Architecture
    public let classes: Int
    /// Bounds on what a model file may claim (checked before anything is allocated).
    public static let maxClasses = 1 << 16, maxSide = 4096, maxChannels = 64
    let layers: [Layer]
    /// Index of the layer whose input is the penultimate representation.
    let headIndex: Int
    /// The side the network sees: the data's, or the architecture's fixed side
    /// (smaller images are zero-padded to it).
    public let imageSide: Int
    public let inputChannels: Int
    public let store: ParameterStore
    public let buffers: [Buffer]
    let batchNorms: [BatchNorm2d]

    public init(_ architecture: Architecture, inputSide: Int = 28, channels: Int = 1, classes: Int = 10, seed: UInt64 = 0) {
        self.architecture = architecture
        self.classes = classes
        imageSide = architecture.fixedSide ?? inputSide
        inputChannels = channels
        layers = Self.layers(architecture, side: imageSide, channels: channels, classes: classes)
        headIndex = layers.count - 1
        store = ParameterStore(layers.flatMap { $0.parameters })
        buffers = layers.flatMap(\.buffers)
        func walk(_ l: Layer) -> [Layer] { [l] + l.children.flatMap(walk) }
        batchNorms = layers.flatMap(walk).compactMap { $0 as? BatchNorm2d }
        store.initialize(seed: seed)
    }

    static func layers(_ architecture: Architecture, side inputSide: Int, channels: Int, classes: Int) -> [Layer] {
        switch architecture {
        case .lenet5:
            let conv1 = Conv2d("conv1", channels, 6, kernel: 5, padding: 2)
            conv1.computesInputGrad = false
            let side = ((inputSide / 2) - 4) / 2
            return [conv1, MaxPool2d(2), ReLU(),
                    Conv2d("conv2", 6, 16, kernel: 5), MaxPool2d(2), ReLU(), Flatten(),
                    Linear("fc1", 16 * side * side, 120), ReLU(),
                    Linear("fc2", 120, 84), ReLU(),
                    Linear("fc3", 84, classes)]
        case .mlp(let hidden):
            var ls: [Layer] = []
            var width = channels * inputSide * inputSide
            for (i, h) in hidden.enumerated() {
                ls += [Linear("fc\(i + 1)", width, h), ReLU()]
                width = h
            }
            ls.append(Linear("fc\(hidden.count + 1)", width, classes))
            (ls[0] as? Linear)?.computesInputGrad = false
            return ls
        case .resnet20: return resnet(channels, classes, stem: 16, stages: [(16, 3, 1), (32, 3, 2), (64, 3, 2)])
        case .resnet18: return resnet(channels, classes, stem: 64, stages: [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)])
        case .vgg11bn: return vgg(channels, classes, [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0])
        case .vgg16bn: return vgg(channels, classes, [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0])
        }
    }

    /// conv1 (3x3, stride 1) + bn1 + relu, stages `layerK` of BasicBlocks (the
    /// first block of a stage carries its stride), global average pool, fc.
    static func resnet(_ channels: Int, _ classes: Int, stem: Int, stages: [(width: Int, blocks: Int, stride: Int)]) -> [Layer] {
        let conv1 = Conv2d("conv1", channels, stem, kernel: 3, padding: 1, bias: false, initializer: .kaimingNormal(fanOut: stem * 9))
        conv1.computesInputGrad = false
        var ls: [Layer] = [conv1, BatchNorm2d("bn1", stem), ReLU()]
        var width = stem
        for (s, stage) in stages.enumerated() {
            for b in 0..<stage.blocks {
                ls.append(BasicBlock("layer\(s + 1).\(b)", width, stage.width, stride: b == 0 ? stage.stride : 1))
                width = stage.width
            }
        }
        return ls + [GlobalAvgPool2d(), Linear("fc", width, classes)]
    }

    /// torchvision's make_layers(cfg, batch_norm=True): each width is
    /// `features.i` conv 3x3 pad 1, `features.i+1` BatchNorm, ReLU; 0 is a
    /// 2x2 max-pool; then `classifier`, one Linear from the last width.
    static func vgg(_ channels: Int, _ classes: Int, _ config: [Int]) -> [Layer] {
        var ls: [Layer] = [], width = channels, index = 0
        for v in config {
            if v == 0 { ls.append(MaxPool2d(2)); index += 1; continue }
            let conv = Conv2d("features.\(index)", width, v, kernel: 3, padding: 1, initializer: .kaimingNormal(fanOut: v * 9))
            conv.computesInputGrad = index > 0
            ls += [conv, BatchNorm2d("features.\(index + 1)", v), ReLU()]
            width = v; index += 3
        }
        return ls + [Flatten(), Linear("classifier", width, classes)]
    }

    public var parameters: [Parameter] { store.parameters }
    public var hasBatchNorm: Bool { !batchNorms.isEmpty }

    /// Width of the representation entering the last layer.
    public var penultimateWidth: Int { (layers[headIndex] as! Linear).inputs }

    /// Models of the same shape that threads train on shards of a batch
    /// (layers keep per-batch state, so threads cannot share one).
    private var replicaPool: [Model] = []
    func replicas(_ n: Int) -> [Model] {
        while replicaPool.count < n { replicaPool.append(Model(architecture, inputSide: imageSide, channels: inputChannels, classes: classes)) }
        return Array(replicaPool.prefix(n))
    }

    /// Every BatchNorm of this model normalises over the whole batch through
    /// `sync` as shard `shard` (nil: over what this model sees).
    func synchronize(_ sync: BatchSync?, shard: Int) {
        for bn in batchNorms { bn.sync = sync.map { s in { s.sum($0, shard: shard) } } }
    }

    /// An independent copy with the same values, masks and buffers.
    public func copy() -> Model {
        let m = Model(architecture, inputSide: imageSide, channels: inputChannels, classes: classes)
        for (a, b) in zip(m.parameters, parameters) { a.setMask(b.mask) }
        _ = m.store.values.update(fromContentsOf: store.values)
        for (a, b) in zip(m.buffers, buffers) { a.values = b.values }
        return m
    }

    /// Rows of C x side x side pixels (side at most imageSide, zero-padded to it)
    /// in the layout of the first layer.
    func input(_ images: [Float], batch: Int) -> Tensor {
        let features = inputChannels * imageSide * imageSide
        var rows = images
        if images.count < batch * features {
            let side = Int(Double(images.count / max(batch * inputChannels, 1)).squareRoot())
            precondition(batch * inputChannels * side * side == images.count && side < imageSide,
                         "\(images.count) values are not \(batch) images of \(inputChannels) channels up to \(imageSide)x\(imageSide)")
            rows = padded(images, planes: batch * inputChannels, from: side, to: imageSide)
        }
        if case .mlp = architecture { return Tensor(shape: [batch, features], data: rows) }
        return transposed(Tensor(shape: [batch, features], data: rows), into: [inputChannels, imageSide, imageSide, batch])
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

/// `planes` square planes of side `from`, each centred in a zero plane of side `to`
/// (an odd difference puts the extra row and column after, as a 2-pixel pad of 28 -> 32 has none).
func padded(_ x: [Float], planes: Int, from: Int, to: Int) -> [Float] {
    let before = (to - from) / 2
    var out = [Float](repeating: 0, count: planes * to * to)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for p in 0..<planes {
                for r in 0..<from {
                    (dst.baseAddress! + (p * to + r + before) * to + before).update(from: src.baseAddress! + (p * from + r) * from, count: from)
                }
            }
        }
    }
    return out
}

extension Model {
    /// The multiply-adds one entry of each parameter takes part in per image in a
    /// forward pass, in `parameters` order: a convolution weight meets every output
    /// position once (output height x width), a linear weight once (1). A bias is an
    /// add per output, not a multiply-add: 0, as ShrinkBench counts.
    public var multiplyAddsPerEntry: [Int] {
        var out: [Int] = [], side = imageSide
        for l in layers {
            out += l.multiplyAddsPerEntry(inputSide: side)
            side = l.outputSide(side)
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

extension Model {
    /// A fresh model for `data`'s images (side, channels) and classes.
    public convenience init(_ architecture: Architecture, for data: ImageDataset, seed: UInt64 = 0) {
        self.init(architecture, inputSide: data.rows, channels: data.channels, classes: data.classes, seed: seed)
    }

    /// BatchNorm's running statistics afresh: the cumulative average over
    /// `data` in order, batch by batch (PyTorch's momentum=None after
    /// reset_running_stats); weights are not touched.
    public func recomputeBatchNormStatistics(on data: ImageDataset, batchSize: Int = 250) {
        let momenta = batchNorms.map(\.momentum)
        for bn in batchNorms { bn.resetRunningStatistics(); bn.momentum = nil }
        defer { for (bn, m) in zip(batchNorms, momenta) { bn.momentum = m } }
        for lo in Swift.stride(from: 0, to: data.count, by: batchSize) {
            let hi = min(data.count, lo + batchSize)
            _ = forward(data.gather(Array(lo..<hi)[...]).images, batch: hi - lo, training: true)
        }
    }

    /// Why this model cannot take `data`'s images and labels, or nil.
    public func mismatch(with data: ImageDataset) -> String? {
        let fits = architecture.fixedSide == nil ? data.rows == imageSide : data.rows <= imageSide
        if !fits || data.rows != data.cols {
            return "model takes \(imageSide)x\(imageSide) images\(architecture.fixedSide == nil ? "" : " (smaller ones zero-padded)") but the data has \(data.rows)x\(data.cols)"
        }
        if data.channels != inputChannels { return "model takes \(inputChannels)-channel images but the data has \(data.channels) channels" }
        if data.classes != classes { return "model has \(classes) classes but the data has \(data.classes)" }
        return nil
    }
}
