/// A layer computes forward on a batch, remembering what backward needs when
/// `training`; backward takes dLoss/dOutput, adds its parameters' gradients
/// into their grad buffers, and returns dLoss/dInput.
public protocol Layer: AnyObject {
    var parameters: [Parameter] { get }
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
}

extension Layer {
    public var parameters: [Parameter] { [] }
}
