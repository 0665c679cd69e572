// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "election",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "election", targets: ["ElectionCLI"])
    ],
    dependencies: [
        // Exact pins: an executable with memory and start-up budgets (`make bench`)
        // pins what it links. Package.resolved stays out of git (see docs/design.md).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        // The C bridge over Debian's libzookeeper-mt-dev, nothing else.
        .systemLibrary(
            name: "CZooKeeper",
            path: "Sources/CZooKeeper",
            providers: [.apt(["libzookeeper-mt-dev"])]
        ),
        // Two Linux process calls Swift's Glibc module does not export (supervised command).
        .target(name: "CProcess", path: "Sources/CProcess"),
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
        // The daemon around the election: its wiring (`Daemon`), the supervised
        // command and its watchdog, signals, logging, HTTP, metrics and systemd.
        .target(
            name: "ElectionDaemon",
            dependencies: [
                "Election",
                "ZooKeeper",
                "CProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The `election` executable: argument parsing and `main`, nothing else.
        .executableTarget(
            name: "ElectionCLI",
            dependencies: [
                "Election",
                "ElectionDaemon",
                "ZooKeeper",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer entry points over the parsers (scripts/fuzz.sh); a plain build replays inputs.
        .executableTarget(
            name: "ElectionFuzz",
            dependencies: ["Election"]
        ),
        // The fake ZooKeeper: the state tests' server, held to a real one by the
        // contract suite (IntegrationTests/SessionContractTests).
        .target(
            name: "ElectionTestSupport",
            dependencies: ["Election", "ZooKeeper"],
            path: "Tests/ElectionTestSupport"
        ),
        .testTarget(
            name: "ElectionTests",
            dependencies: ["Election", "ElectionDaemon", "ElectionTestSupport", "ZooKeeper"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Election", "ElectionTestSupport", "ZooKeeper"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
