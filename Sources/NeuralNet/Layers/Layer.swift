/// A layer computes forward on a batch, remembering what backward needs when
/// `training`; backward takes dLoss/dOutput, adds its parameters' gradients
/// into their grad buffers, and returns dLoss/dInput.
public protocol Layer: AnyObject {
    var parameters: [Parameter] { get }
    /// State that is not trained by gradients (BatchNorm's running statistics).
    var buffers: [Buffer] { get }
    /// Layers inside this one (a residual block's), for walks over the model.
    var children: [Layer] { get }
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    /// The side of the square output for a square input of side `side`.
    func outputSide(_ side: Int) -> Int
    /// Multiply-adds each entry of each parameter takes part in per image (see Model.multiplyAddsPerEntry).
    func multiplyAddsPerEntry(inputSide: Int) -> [Int]
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [Buffer] { children.flatMap(\.buffers) }
    public var children: [Layer] { [] }
    public func outputSide(_ side: Int) -> Int { side }
    public func multiplyAddsPerEntry(inputSide: Int) -> [Int] { parameters.map { $0.isBias ? 0 : 1 } }
}

/// A named tensor of a model that gradients do not train, saved with it under
/// PyTorch's name: F32, or I64 for a counter such as `num_batches_tracked`
/// (shape [] as in PyTorch). Values are kept as Double; F32 ones hold values
/// rounded to Float, so a save and load gives them back exactly.
public final class Buffer {
    public let name: String
    public let shape: [Int]
    public let isCounter: Bool
    public var values: [Double]

    init(name: String, shape: [Int], isCounter: Bool = false, fill: Double) {
        self.name = name; self.shape = shape; self.isCounter = isCounter
        values = [Double](repeating: fill, count: shape.reduce(1, *))
    }
}
