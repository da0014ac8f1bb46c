import ArgumentParser
import Datasets
import Distillation
import Foundation
import NeuralNet
import Safetensors
import Sweep

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student by knowledge distillation and compare it with its teacher.",
        discussion: """
        Loss: a*T^2*KL(softmax(t/T) || softmax(s/T)) + (1-a)*CE(s, y), batch mean.

        --teacher SPEC:
          FILE.safetensors  a saved model, any architecture (trained, pruned)
          lenet5, mlp:W,..  that architecture, trained first (--teacher-seed)
          uniform           noise: every logit ~ U(0, 1), like torch.rand
          gaussian          noise: every logit ~ N(0, 1), like torch.randn
          none              no teacher: cross-entropy alone (the control)

        Noise logits of training example i (K of them) come from the stream
        RandomStream("noise-teacher", KIND, SEED, i): a fixed but meaningless
        function of the example, the same every epoch, whatever the batch
        order or rank count. --redraw-noise draws them afresh each epoch from
        ("noise-teacher", KIND, SEED, i, EPOCH). See docs/noise-teachers.md.

        Teacher logits are computed once for the training set. Functional
        metrics are taken on the test set against the teacher (when it is a
        model) or --reference; --control adds a control student's figures.
        """)

    @Option(help: "Teacher: FILE.safetensors, an architecture (lenet5, mlp:W,...), uniform, gaussian or none.")
    var teacher: String
    @Option(help: "Student architecture: lenet5, resnet20, resnet18, vgg11_bn, vgg16_bn or mlp:W1,W2,...") var student: String = "lenet5"
    @Option(help: "Distillation temperature T (> 0).") var temperature: Float = 4
    @Option(help: "Weight a of the distillation term, in [0, 1] (1 - a weighs cross-entropy).") var alpha: Float = 0.5
    @Option(name: .customLong("teacher-epochs"), help: "Epochs for a teacher trained on demand (default: --epochs).")
    var teacherEpochs: Int?
    @Option(name: .customLong("teacher-seed"), help: "Seed for a teacher trained on demand (default: --seed).")
    var teacherSeed: UInt64?
    @Flag(name: .customLong("redraw-noise"), help: "Redraw a noise teacher's logits every epoch instead of fixing them.")
    var redrawNoise = false
    @Option(help: "Saved model to measure the student against (default: the teacher, when it is a model).")
    var reference: String?
    @Option(help: "Saved control student (e.g. trained with --teacher none): adds its error-copying figures.")
    var control: String?
    @Option(help: "Write the student's accuracy and metrics as JSON here.") var metrics: String?
    @OptionGroup var training: TrainingOptions
    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Output safetensors file for the student.") var out: String

    func validate() throws {
        do { _ = try TeacherKind(parsing: teacher) } catch { throw ValidationError("--teacher: \(error)") }
        if case .parent = try TeacherKind(parsing: teacher) {
            throw ValidationError("--teacher parent only exists inside a sweep; pass the parent's .safetensors file instead")
        }
        do { _ = try Architecture(parsing: student) } catch { throw ValidationError("--student: \(error)") }
        do { try KDLoss.check(temperature: temperature, alpha: alpha) } catch { throw ValidationError("\(error)") }
        if let e = teacherEpochs, e < 0 { throw ValidationError("--teacher-epochs must be >= 0") }
    }

    func run() throws {
        let train = try dataOptions.load(.train), test = try dataOptions.load(.test)
        let kind = try TeacherKind(parsing: teacher)
        let studentArch = try Architecture(parsing: student)
        let settings = try training.settings(.recipe(for: studentArch))
        let seed = training.seed
        var teacherModel: Model?
        switch kind {
        case .file(let path): teacherModel = try loadModel(path, for: train)
        case .model(let arch):
            var t = settings
            t.epochs = teacherEpochs ?? settings.epochs
            let spec = TrainSpec(arch: arch, training: t, data: dataOptions.spec, seed: teacherSeed ?? seed)
            teacherModel = try fit(spec, train: train, test: nil, label: "teacher")
        case .none, .noise, .parent: break
        }
        if let t = teacherModel {
            print(String(format: "teacher test accuracy %.2f %%", evaluate(t, on: test).accuracy * 100))
        }

        // Teacher outputs once per training set; noise rows per (example, epoch if redrawn).
        let fixedLogits: Tensor? = try teacherModel.map { try TeacherLogits(model: $0, data: train).logits }
        var noise: (epoch: Int?, loss: LossFunction)?
        func loss(epoch: Int) -> LossFunction {
            switch kind {
            case .noise(let k):
                let e = redrawNoise ? epoch : nil
                if let n = noise, n.epoch == e { return n.loss }
                let z = noiseTeacherLogits(kind: k, count: train.count, classes: train.classes, seed: seed, epoch: e)
                let l = kdLoss(teacherLogits: z, temperature: temperature, alpha: alpha)
                noise = (e, l)
                return l
            default:
                guard let z = fixedLogits else { return crossEntropyLoss }
                return kdLoss(teacherLogits: z, temperature: temperature, alpha: alpha)
            }
        }
        let model = Model(studentArch, for: train, seed: seed)
        let report = TrainingReport("student", model: model)
        let started = Date()
        try NeuralNet.train(model, on: train, settings: settings, seed: seed, loss: loss, onBatch: report.batch) { e, s in
            report.epoch(e, s, of: settings.epochs)
        }
        let seconds = Date().timeIntervalSince(started)
        let result = evaluate(model, on: test)
        try model.save(to: out, metadata: ["seed": String(seed), "epochs": String(settings.epochs), "teacher": teacher,
                                           "temperature": String(temperature), "alpha": String(alpha)])
        print(String(format: "student test accuracy %.2f %%  loss %.4f  (%.1f s)  -> %@", result.accuracy * 100, result.loss, seconds, out))

        let ref = try reference.map { try loadModel($0, for: test) } ?? teacherModel
        var fm: FunctionalMetrics?
        if let ref {
            let controlModel = try control.map { try loadModel($0, for: test) }
            let m = controlModel.map { FunctionalMetrics.compare(teacher: ref, student: model, control: $0, on: test) }
                ?? FunctionalMetrics.compare(ref, model, on: test)
            print("functional metrics against \(reference ?? "the teacher") (A) of the student (B):")
            print(describe(m))
            fm = m
        }
        if let metrics {
            let record = DistillRecord(teacher: teacher, student: student, seed: seed, epochs: settings.epochs,
                                       temperature: temperature, alpha: alpha, redrawNoise: redrawNoise,
                                       testAccuracy: result.accuracy, testLoss: result.loss, seconds: seconds,
                                       reference: reference ?? (teacherModel == nil ? nil : teacher), metrics: fm)
            try writeJSON(record, to: metrics)
        }
    }
}

struct DistillRecord: Codable {
    var teacher: String, student: String, seed: UInt64, epochs: Int, temperature: Float, alpha: Float, redrawNoise: Bool
    var testAccuracy: Double, testLoss: Double, seconds: Double
    var reference: String?
    var metrics: FunctionalMetrics?
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Functional metrics between two saved models on the test set (A is the reference, e.g. the teacher).")
    @Argument(help: "Model A (.safetensors), the reference.") var a: String
    @Argument(help: "Model B (.safetensors).") var b: String
    @Option(help: "A control student (.safetensors): adds its error-copying figures against A.") var control: String?
    @Option(help: "Also write the metrics as JSON here.") var json: String?
    @Option(help: "The architecture of files that do not name it (PyTorch state_dicts under PyTorch's names).") var arch: Architecture?
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let test = try dataOptions.load(.test)
        let ma = try loadModel(a, for: test, arch: arch), mb = try loadModel(b, for: test, arch: arch)
        let start = Date(), cpuStart = cpuSeconds()
        let fm = try control.map { FunctionalMetrics.compare(teacher: ma, student: mb, control: try loadModel($0, for: test, arch: arch), on: test) }
            ?? FunctionalMetrics.compare(ma, mb, on: test)
        print("A = \(a) (\(ma.architecture)), B = \(b) (\(mb.architecture)), \(fm.examples) test examples, \(String(format: "%.2f s (%.2f s CPU)", Date().timeIntervalSince(start), cpuSeconds() - cpuStart))")
        print(describe(fm))
        if let json { try writeJSON(fm, to: json) }
    }
}

/// Loads a model and checks it fits the data (image side and class count), so
/// a mismatch is a message rather than a trap in the forward pass.
/// With `arch`, a file without prunesweep's metadata (a PyTorch state_dict) loads as that architecture.
func loadModel(_ path: String, for data: ImageDataset, arch: Architecture? = nil) throws -> Model {
    let m: Model
    // the header alone says whether the file names its architecture
    if let arch, let c = try? Checkpoint.open(path), c.shards.allSatisfy({ $0.layout.metadata["architecture"] == nil }) {
        m = try Model(checkpoint: c, architecture: arch, for: data)
    } else {
        m = try Model.load(path: path)
    }
    try check(m, fits: data, path: path)
    return m
}

func check(_ m: Model, fits data: ImageDataset, path: String) throws {
    if let problem = m.mismatch(with: data) { throw DistillationError("\(path): \(problem)") }
}

/// CPU time of this process: a timing that other jobs on the machine do not inflate.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try AtomicFile.write(Array(try encoder.encode(value)) + [0x0A], to: path)
}

func describe(_ m: FunctionalMetrics) -> String {
    var lines = [
        String(format: "  accuracy A %.2f %%  B %.2f %%", m.accuracyA * 100, m.accuracyB * 100),
        String(format: "  agreement (same argmax)      %.4f", m.agreement),
        String(format: "  Jensen-Shannon (bits)        %.4f", m.jensenShannon),
        String(format: "  activation distance (L2)     %.4f", m.activationDistance),
        String(format: "  linear CKA (penultimate)     %.4f", m.linearCKA),
        String(format: "  normalised Bures similarity  %.4f", m.normalizedBures),
        String(format: "  B copies A's errors          %.4f  (of %d examples A gets wrong)", m.errorCopy, m.wrongByA),
        String(format: "  B agrees where A is right    %.4f", m.rightAgreement),
    ]
    if let c = m.controlErrorCopy, let r = m.controlRightAgreement {
        lines.append(String(format: "  control: copies errors %.4f, agrees where right %.4f", c, r))
    }
    return lines.joined(separator: "\n")
}
