// swift-tools-version:6.0
import PackageDescription

// Modules from the bottom up: C libraries; SeededRandom, Safetensors and
// ProgressOutput (services with no dependencies of their own); Datasets ->
// NeuralNet -> Pruning / Distillation -> Sweep -> Reports; Cluster and
// TensorStore beside them. A module never imports one above it.
let package = Package(
    name: "prunesweep",
    platforms: [.macOS(.v13)],
    products: [.executable(name: "prunesweep", targets: ["prunesweep"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries: one system-library target each, plus the MPI shim.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        .target(name: "CKernels"),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // librados is dlopen'd by CRados when a rados:// store is opened: not needed to build or for file stores.
        .target(name: "CRados", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),

        .target(name: "SeededRandom"),
        .target(name: "Safetensors"),
        .target(name: "ProgressOutput"),
        .target(name: "Datasets", dependencies: ["CZlib", "SeededRandom", "Safetensors"]),
        .target(name: "NeuralNet", dependencies: ["CBLAS", "CKernels", "Datasets", "Safetensors", "SeededRandom"]),
        .target(name: "Cluster", dependencies: ["CMPIShim"]),
        .target(name: "TensorStore", dependencies: ["CRados", "CZlib", "CISAL", "Safetensors"]),
        .target(name: "Pruning", dependencies: ["NeuralNet", "Datasets", "SeededRandom", "Safetensors", "CKernels"]),
        .target(name: "Distillation", dependencies: ["CBLAS", "NeuralNet", "Datasets", "Safetensors", "SeededRandom"]),
        .target(name: "Sweep", dependencies: [
            "NeuralNet", "Datasets", "Pruning", "Distillation", "Cluster", "TensorStore", "Safetensors", "SeededRandom", "ProgressOutput",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Reports", dependencies: ["Sweep", "Pruning", "Distillation", "NeuralNet", "SeededRandom", "Safetensors"]),
        .executableTarget(name: "prunesweep", dependencies: [
            "NeuralNet", "Datasets", "Pruning", "Distillation", "Cluster", "TensorStore", "Safetensors", "ProgressOutput", "Sweep", "Reports",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Fuzz targets of the input readers (make fuzz builds them with libFuzzer; plainly built, a replayer).
        .executableTarget(name: "prunesweep-fuzz", dependencies: ["Sweep", "Safetensors", "Datasets", "NeuralNet"]),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Datasets", "Safetensors"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "TensorStoreTests", dependencies: ["TensorStore", "Safetensors"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NeuralNet"]),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation", "NeuralNet", "Safetensors", "Datasets", "TestSupport"]),
        .testTarget(name: "SweepTests", dependencies: ["Sweep", "Pruning", "Distillation", "NeuralNet", "Cluster", "Datasets", "SeededRandom", "Safetensors", "TensorStore", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Sweep", "Pruning", "Distillation", "NeuralNet", "SeededRandom", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
