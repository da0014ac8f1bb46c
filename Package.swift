// swift-tools-version:6.0
import PackageDescription

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
        .systemLibrary(name: "CRados", providers: [.apt(["librados-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),

        .target(name: "Datasets", dependencies: ["CZlib"]),
        .target(name: "NeuralNet", dependencies: ["CBLAS", "CKernels", "Datasets", "TensorStore"]),
        .target(name: "Cluster", dependencies: ["CMPIShim"]),
        .target(name: "TensorStore", dependencies: ["CRados", "CZlib", "CISAL"]),
        .target(name: "Pruning", dependencies: ["NeuralNet", "Datasets"]),
        .target(name: "Distillation", dependencies: ["NeuralNet", "Datasets", "TensorStore"]),
        .target(name: "Sweep", dependencies: [
            "NeuralNet", "Datasets", "Pruning", "Distillation", "Cluster", "TensorStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Reports", dependencies: ["Distillation", "Sweep"]),
        .executableTarget(name: "prunesweep", dependencies: [
            "NeuralNet", "Datasets", "Pruning", "Distillation", "Cluster", "TensorStore", "Sweep", "Reports",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Datasets", "TensorStore"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "TensorStoreTests", dependencies: ["TensorStore"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NeuralNet"]),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation", "NeuralNet", "TensorStore", "Datasets"]),
        .testTarget(name: "SweepTests", dependencies: ["Sweep"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports"]),
    ],
    swiftLanguageModes: [.v5]
)
