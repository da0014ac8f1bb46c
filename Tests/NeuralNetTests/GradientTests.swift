import CKernels
import Datasets
@testable import NeuralNet
import SeededRandom
import XCTest

/// Every layer's backward against central finite differences of
/// L = sum(forward(x) * r) for a fixed random r, and the whole LeNet5 on a batch.
final class GradientTests: XCTestCase {
    var rng = RandomStream("gradient-test", 0)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.uniform(-scale, scale) })
    }

    func dot(_ a: Tensor, _ b: Tensor) -> Double { zip(a.data, b.data).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    /// Checks dx and every parameter gradient of `layer` at `samples` entries each.
    /// `training`: the loss is taken in training mode (BatchNorm's batch statistics).
    func checkLayer(_ layer: Layer, input: Tensor, checkInput: Bool = true, training: Bool = false, samples: Int = 40, eps: Float = 1e-2,
                    file: StaticString = #filePath, line: UInt = #line) {
        // the store owns the buffers the layer's parameters view: keep it alive
        let store = ParameterStore(layer.parameters)
        defer { withExtendedLifetime(store) {} }
        store.initialize(seed: 1)
        var x = input
        let r = random(layer.forward(x, training: false).shape)
        func loss() -> Double { dot(layer.forward(x, training: training), r) }

        store.zeroGrads()
        _ = layer.forward(x, training: true)
        let dx = layer.backward(r)

        if checkInput {
            for _ in 0..<samples {
                let i = Int(rng.next() % UInt64(x.count))
                let numeric = centralDifference(x.data[i], eps, set: { x.data[i] = $0 }, loss)
                assertClose(Double(dx.data[i]), numeric, "dx[\(i)]", file: file, line: line)
            }
        }
        for p in layer.parameters {
            for _ in 0..<min(samples, p.count) {
                let i = Int(rng.next() % UInt64(p.count))
                let numeric = centralDifference(p.value[i], eps, set: { p.value[i] = $0 }, loss)
                assertClose(Double(p.grad[i]), numeric, "\(p.name)[\(i)]", file: file, line: line)
            }
        }
    }

    /// (L(v + eps) - L(v - eps)) / 2 eps, restoring v afterwards.
    func centralDifference(_ v: Float, _ eps: Float, set: (Float) -> Void, _ loss: () -> Double) -> Double {
        set(v + eps); let up = loss()
        set(v - eps); let down = loss()
        set(v)
        return (up - down) / Double(2 * eps)
    }

    func assertClose(_ analytic: Double, _ numeric: Double, _ what: String, file: StaticString, line: UInt) {
        let tol = 2e-3 + 1e-2 * max(abs(analytic), abs(numeric))
        XCTAssertLessThanOrEqual(abs(analytic - numeric), tol, "\(what): analytic \(analytic) numeric \(numeric)", file: file, line: line)
    }

    func testLinear() { checkLayer(Linear("fc", 7, 5), input: random([4, 7])) }

    // Inputs are [C, H, W, B]; batches of 17 and more run a full 16-image vector step and a partial one.
    func testConv2dPadded() { checkLayer(Conv2d("c", 2, 3, kernel: 3, padding: 1), input: random([2, 6, 6, 18])) }

    func testConv2dStrided() { checkLayer(Conv2d("c", 3, 2, kernel: 3, stride: 2, padding: 2), input: random([3, 7, 5, 2])) }

    /// Channel counts that leave partial blocks in every kernel loop (8 outputs per
    /// forward step, 4 per weight-gradient step, 8 input channels per input-gradient step).
    func testConv2dOddChannelCounts() { checkLayer(Conv2d("c", 10, 9, kernel: 2, padding: 1), input: random([10, 4, 5, 3]), samples: 60) }

    func testConv2dLeNetShapes() {
        checkLayer(Conv2d("c", 6, 16, kernel: 5), input: random([6, 9, 9, 17]), samples: 20)
        checkLayer(Conv2d("c", 1, 6, kernel: 5, padding: 2), input: random([1, 12, 12, 2]), samples: 20)
    }

    func testReLU() {
        // keep inputs away from the kink so finite differences are exact
        var x = random([3, 8])
        x.data = x.data.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        checkLayer(ReLU(), input: x)
    }

    func testMaxPool() {
        // distinct values spaced wider than 2 eps: the argmax cannot flip
        // an odd height leaves a row outside every window; 19 images fill one vector step and part of another
        let n = 2 * 5 * 4 * 19
        let x = Tensor(shape: [2, 5, 4, 19], data: rng.permutation(n).map { Float($0) * 0.05 })
        checkLayer(MaxPool2d(2), input: x)
    }

    /// LeNet5 pools before its ReLU: exactly the same outputs and input gradients as the other order.
    func testPoolThenReLUEqualsReLUThenPool() {
        let x = random([3, 6, 6, 20]), dy = random([3, 3, 3, 20])   // windows of all-negative values included
        let (relu1, pool1, pool2, relu2) = (ReLU(), MaxPool2d(2), MaxPool2d(2), ReLU())
        let a = pool1.forward(relu1.forward(x, training: true), training: true)
        let b = relu2.forward(pool2.forward(x, training: true), training: true)
        XCTAssertEqual(a.data, b.data)
        XCTAssertEqual(relu1.backward(pool1.backward(dy)).data, pool2.backward(relu2.backward(dy)).data)
    }

    /// Training mode: the gradient flows through the batch's mean and variance too.
    func testBatchNorm2dTraining() {
        let bn = BatchNorm2d("bn", 3)
        checkLayer(bn, input: random([3, 4, 3, 18]), training: true, samples: 60)
        // non-trivial weight and bias: the store initialised them to 1 and 0
        let store = ParameterStore(bn.parameters)
        defer { withExtendedLifetime(store) {} }
        checkLayerKeepingValues(bn, store: store, input: random([3, 2, 5, 17]))
    }

    /// Wide layers take a matrix-product kernel: Winograd's F(2x2, 3x3) for 3x3, stride 1,
    /// padding 1 on even planes (im2col on odd ones), im2col otherwise. Each against finite
    /// differences, and against the direct kernel's outputs and gradients on the same weights.
    func testConv2dMatrixProductKernels() {
        let strided = Conv2d("c", 64, 128, kernel: 3, stride: 2, padding: 1)
        XCTAssertEqual(strided.method, .im2col)
        checkLayer(strided, input: random([64, 5, 4, 3]), samples: 15)
        let tiled = Conv2d("c", 64, 128, kernel: 3, padding: 1)
        XCTAssertEqual(tiled.method, .winograd)
        checkLayer(tiled, input: random([64, 4, 6, 3]), samples: 15)
        XCTAssertEqual(Conv2d("c", 2, 3, kernel: 3).method, .direct)
        // (method, plane, bias, tile rows per band): one band, and bands of 1 and 2 of 3 or 4 tile rows
        for (method, h, w, bias, band) in [(Conv2d.Method.im2col, 6, 5, false, 0), (.winograd, 6, 4, true, 0), (.winograd, 2, 2, false, 0),
                                           (.winograd, 5, 4, true, 0), (.winograd, 6, 4, true, 1), (.winograd, 8, 6, false, 2)] {
            let layer = Conv2d("c", 64, 128, kernel: 3, padding: 1, bias: bias)
            layer.method = method
            if band > 0 { layer.winogradBandFloats = band * 16 * 128 * w / 2 * 17 }
            compareWithDirectKernel(layer, x: random([64, h, w, 17]), dy: random([128, h, w, 17]), "\(method) \(h)x\(w) band \(band)")
        }
    }

    /// The same layer's outputs and gradients through ps_conv_* on its own weights, to 1e-4 relative.
    func compareWithDirectKernel(_ layer: Conv2d, x: Tensor, dy: Tensor, _ label: String) {
        let store = ParameterStore(layer.parameters)
        defer { withExtendedLifetime(store) {} }
        store.initialize(seed: 7)
        let (c, h, w, b, o) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[0])
        var s = ps_conv_shape(batch: Int64(b), inChannels: Int64(c), height: Int64(h), width: Int64(w), outChannels: Int64(o),
                              outHeight: Int64(h), outWidth: Int64(w), kernel: 3, stride: 1, padding: 1)
        let bias = layer.bias.map(\.values) ?? [Float](repeating: 0, count: o)
        var yDirect = [Float](repeating: 0, count: dy.count), dxDirect = [Float](repeating: 0, count: x.count)
        var dwDirect = [Float](repeating: 0, count: layer.weight.count), dbDirect = [Float](repeating: 0, count: o)
        ps_conv_forward(&s, x.data, layer.weight.value.baseAddress!, bias, &yDirect)
        ps_conv_backward_input(&s, dy.data, layer.weight.value.baseAddress!, &dxDirect)
        ps_conv_backward_weight(&s, x.data, dy.data, &dwDirect, &dbDirect)
        store.zeroGrads()
        let y = layer.forward(x, training: true), dx = layer.backward(dy)
        func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max()! }
        XCTAssertLessThan(maxDiff(y.data, yDirect), 1e-4, label)
        XCTAssertLessThan(maxDiff(dx.data, dxDirect), 1e-4, label)
        XCTAssertLessThan(maxDiff(Array(layer.weight.grad), dwDirect), 1e-4, label)
        if let bias = layer.bias { XCTAssertLessThan(maxDiff(bias.grad.map { $0 }, dbDirect), 1e-4, label) }
    }

    /// The direct kernels' register blocks for 16 and for 32 vector registers add
    /// every term in the same order: the same bits, whatever the CPU.
    func testRegisterBlocksGiveTheSameBits() {
        defer { ps_set_wide_registers(-1) }
        for (c, o, stride) in [(3, 16, 1), (16, 32, 2), (13, 7, 1)] {
            let (oh, ow) = stride == 1 ? (7, 6) : (4, 3)
            var s = ps_conv_shape(batch: 37, inChannels: Int64(c), height: 7, width: 6, outChannels: Int64(o), outHeight: Int64(oh),
                                  outWidth: Int64(ow), kernel: 3, stride: Int64(stride), padding: 1)
            let x = random([c, 7, 6, 37]), w = random([o, c, 3, 3]), b = random([o])
            let dy = random([o, oh, ow, 37])
            func run(wide: Int32) -> [[Float]] {
                ps_set_wide_registers(wide)
                var y = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
                var dw = [Float](repeating: 0, count: w.count), db = [Float](repeating: 0, count: o)
                ps_conv_forward(&s, x.data, w.data, b.data, &y)
                ps_conv_backward_input(&s, dy.data, w.data, &dx)
                ps_conv_backward_weight(&s, x.data, dy.data, &dw, &db)
                return [y, dx, dw, db]
            }
            XCTAssertEqual(run(wide: 1), run(wide: 0), "\(c) -> \(o), stride \(stride)")
        }
    }

    func testGlobalAvgPool() { checkLayer(GlobalAvgPool2d(), input: random([5, 3, 2, 17])) }

    func testBasicBlockIdentityShortcut() {
        checkLayer(BasicBlock("b", 4, 4, stride: 1), input: random([4, 5, 5, 3]), training: true, samples: 30, eps: 1e-3)
    }

    func testBasicBlockProjection() {
        checkLayer(BasicBlock("b", 3, 5, stride: 2), input: random([3, 6, 6, 3]), training: true, samples: 30, eps: 1e-3)
    }

    /// As checkLayer, with weight and bias set to random values first.
    func checkLayerKeepingValues(_ bn: BatchNorm2d, store: ParameterStore, input: Tensor) {
        for i in 0..<3 { bn.weight.value[i] = rng.uniform(0.5, 2); bn.bias.value[i] = rng.uniform(-1, 1) }
        var x = input
        let r = random(x.shape)
        func loss() -> Double { dot(bn.forward(x, training: true), r) }
        store.zeroGrads()
        _ = bn.forward(x, training: true)
        let dx = bn.backward(r)
        for _ in 0..<40 {
            let i = Int(rng.next() % UInt64(x.count))
            assertClose(Double(dx.data[i]), centralDifference(x.data[i], 1e-2, set: { x.data[i] = $0 }, loss), "dx[\(i)]", file: #filePath, line: #line)
        }
        for p in bn.parameters {
            for i in 0..<p.count {
                assertClose(Double(p.grad[i]), centralDifference(p.value[i], 1e-2, set: { p.value[i] = $0 }, loss), "\(p.name)[\(i)]", file: #filePath, line: #line)
            }
        }
    }

    func testFlatten() { checkLayer(Flatten(), input: random([3, 2, 2, 2])) }

    func testFlattenOrderIsPyTorchs() {
        // [C, H, W, B] in, [B, C*H*W] out with (c, h, w) order
        let x = Tensor(shape: [2, 1, 2, 2], data: [0, 1, 2, 3, 4, 5, 6, 7])  // c0: w0 (b0 0, b1 1), w1 (2, 3); c1: w0 (4, 5), w1 (6, 7)
        XCTAssertEqual(Flatten().forward(x, training: false).data, [0, 2, 4, 6, 1, 3, 5, 7])
    }

    func testConvMatchesDirectSum() {
        // the vector kernel against the definition of cross-correlation
        let conv = Conv2d("c", 2, 3, kernel: 3, stride: 2, padding: 1)
        let store = ParameterStore(conv.parameters)
        defer { withExtendedLifetime(store) {} }
        store.initialize(seed: 4)
        let (c, b, h, w) = (2, 18, 5, 6)
        let x = random([c, h, w, b])
        let y = conv.forward(x, training: false)
        let (oh, ow) = (y.shape[1], y.shape[2])
        XCTAssertEqual([oh, ow], [3, 3])
        for o in 0..<3 { for bi in 0..<b { for oy in 0..<oh { for ox in 0..<ow {
            var s = Double(conv.bias!.value[o])
            for ci in 0..<c { for ki in 0..<3 { for kj in 0..<3 {
                let iy = oy * 2 - 1 + ki, ix = ox * 2 - 1 + kj
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                s += Double(conv.weight.value[((o * c + ci) * 3 + ki) * 3 + kj]) * Double(x.data[((ci * h + iy) * w + ix) * b + bi])
            }}}
            XCTAssertEqual(Double(y.data[((o * oh + oy) * ow + ox) * b + bi]), s, accuracy: 1e-5)
        }}}}
    }

    /// A batch of 19 (a full 16-image vector step and a partial one) equals
    /// the images one at a time: outputs and input gradients match, weight gradients add.
    func testConvBatchMatchesSingleImages() {
        let conv = Conv2d("c", 2, 6, kernel: 5, padding: 2)
        let store = ParameterStore(conv.parameters)
        defer { withExtendedLifetime(store) {} }
        store.initialize(seed: 5)
        let (b, side) = (19, 12)
        let x = random([2, side, side, b]), r = random([6, side, side, b])
        func image(_ t: Tensor, _ i: Int) -> Tensor {
            let per = t.count / b
            return Tensor(shape: Array(t.shape.dropLast()) + [1], data: (0..<per).map { t.data[$0 * b + i] })
        }
        func maxDifference(_ a: Tensor, _ b: Tensor) -> Float { zip(a.data, b.data).map { abs($0 - $1) }.max()! }
        store.zeroGrads()
        let y = conv.forward(x, training: true)
        let dx = conv.backward(r)
        let batchGrads = Array(store.grads)
        store.zeroGrads()
        for i in 0..<b {
            let yi = conv.forward(image(x, i), training: true)
            XCTAssertLessThan(maxDifference(image(y, i), yi), 1e-5, "output of image \(i)")
            XCTAssertLessThan(maxDifference(image(dx, i), conv.backward(image(r, i))), 1e-5, "input gradient of image \(i)")
        }
        let err = zip(batchGrads, Array(store.grads)).map { abs($0 - $1) / max(1, abs($1)) }.max()!
        XCTAssertLessThan(err, 1e-4)
    }

    func testCrossEntropy() {
        var z = random([4, 10], scale: 3)
        let y: [Int32] = [3, 0, 9, 3]
        let (_, g) = CrossEntropy.lossAndGrad(z, y[...])
        for i in 0..<z.count {
            let saved = z.data[i]
            z.data[i] = saved + 1e-2; let up = CrossEntropy.lossAndGrad(z, y[...]).loss
            z.data[i] = saved - 1e-2; let down = CrossEntropy.lossAndGrad(z, y[...]).loss
            z.data[i] = saved
            assertClose(Double(g.data[i]), (up - down) / 2e-2, "dz[\(i)]", file: #filePath, line: #line)
        }
        // closed form: uniform logits give log K
        XCTAssertEqual(CrossEntropy.lossAndGrad(Tensor(zeros: [2, 10]), [1, 2]).loss, log(10), accuracy: 1e-6)
    }

    func testWholeLeNet5() {
        let model = Model(.lenet5, seed: 3)
        let x = (0..<3 * 784).map { _ in rng.nextUnit() }
        let y: [Int32] = [1, 7, 4]
        func loss() -> Double { CrossEntropy.lossAndGrad(model.forward(x, batch: 3), y[...]).loss }
        model.store.zeroGrads()
        let logits = model.forward(x, batch: 3, training: true)
        model.backward(CrossEntropy.lossAndGrad(logits, y[...]).grad)
        let center = loss()
        var checked = 0
        for p in model.parameters {
            for _ in 0..<15 {
                let i = Int(rng.next() % UInt64(p.count))
                let saved = p.value[i]
                p.value[i] = saved + 2e-3; let up = loss()
                p.value[i] = saved - 2e-3; let down = loss()
                p.value[i] = saved
                // one-sided slopes that disagree mean a ReLU kink inside the step: not differentiable there
                if abs((up - center) - (center - down)) / 2e-3 > 1e-3 { continue }
                checked += 1
                let numeric = (up - down) / 4e-3
                XCTAssertLessThanOrEqual(abs(Double(p.grad[i]) - numeric), 1e-3 + 2e-2 * abs(numeric), "\(p.name)[\(i)]")
            }
        }
        XCTAssertGreaterThan(checked, 120, "most sampled entries are away from kinks")
    }
}
