// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "election",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "election", targets: ["election"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The C bridge over Debian's libzookeeper-mt-dev, nothing else.
        .systemLibrary(
            name: "CZooKeeper",
            path: "Sources/CZooKeeper",
            providers: [.apt(["libzookeeper-mt-dev"])]
        ),
        // The ZKSession actor and typed errors; no election logic.
        .target(
            name: "ZooKeeper",
            dependencies: [
                "CZooKeeper",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Configuration, states, runner, file store.
        .target(
            name: "Election",
            dependencies: [
                "ZooKeeper",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "election",
            dependencies: [
                "Election",
                "ZooKeeper",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ElectionTests",
            dependencies: ["Election", "ZooKeeper"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Election", "ZooKeeper"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
