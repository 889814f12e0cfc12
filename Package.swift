// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "argus",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "argus-server", targets: ["ArgusServerMain"]),
        .executable(name: "argus-tui", targets: ["ArgusTUIMain"]),
        .executable(name: "argus-agent", targets: ["ArgusAgentMain"]),
        .executable(name: "argus-bench", targets: ["ArgusBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // Wire types, JSON, timestamps and the SSE codec: shared by server, client and TUI.
        .target(name: "Shared", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        // ncursesw: wide-character curses; macros and globals wrapped in shim.h.
        .systemLibrary(name: "CNcursesw", providers: [.apt(["libncursesw5-dev"])]),
        // Blocking libcurl HTTP + SSE client (simulator, tests, TUI).
        .target(name: "ArgusClient", dependencies: ["Shared", "CCurl"]),
        .target(
            name: "ArgusServer",
            dependencies: [
                "Shared",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // `simulate`'s HTTP client (`SimulatorClient`): NIO and NIOSSL come with Hummingbird and PostgresNIO.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // The web page's HTML, CSS and JS, compiled into the binary (no files beside it; see WebAssets), and the
            // OpenAPI document served at /openapi.json.
            resources: [.embedInCode("Web/Assets"), .embedInCode("OpenAPI")]),
        .target(
            name: "ArgusTUI",
            dependencies: [
                "Shared", "ArgusClient", "CNcursesw",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "ArgusTUIMain", dependencies: ["ArgusTUI"], path: "Sources/ArgusTUIMain"),
        // argus-agent: carries out Rerun and Stop on a training host.
        .target(
            name: "ArgusAgent",
            dependencies: ["Shared", "ArgusClient", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "ArgusAgentMain", dependencies: ["ArgusAgent", "Shared"], path: "Sources/ArgusAgentMain"),
        .executableTarget(
            name: "ArgusServerMain",
            dependencies: ["ArgusServer", "Shared", .product(name: "Logging", package: "swift-log")],
            path: "Sources/ArgusServerMain"),
        // Benchmarks that need a real client (SSE fan-out latency); see bench/run.sh.
        .executableTarget(
            name: "ArgusBench",
            dependencies: [
                "ArgusClient", "ArgusTUI", "Shared", "ArgusServer",
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]),
        // Fuzz targets (Tests/Fuzz): the parsing entry points with their properties, shared by the libFuzzer harness
        // and FuzzRegressionTests. The harness is a libFuzzer binary only when scripts/fuzz.sh builds it (with
        // -sanitize=fuzzer,address -D ARGUS_LIBFUZZER); an ordinary build makes it a replayer of saved inputs.
        .target(
            name: "FuzzTargets",
            dependencies: ["ArgusServer", "Shared", .product(name: "HummingbirdCore", package: "hummingbird")],
            path: "Tests/Fuzz/Targets"),
        .executableTarget(name: "ArgusFuzz", dependencies: ["FuzzTargets"], path: "Tests/Fuzz/Harness"),
        // Test helpers: run the real argus-server on --port 0, build events, collect SSE.
        .target(
            name: "TestSupport", dependencies: ["ArgusClient", "Shared"], path: "Tests/TestSupport"),
        .testTarget(name: "SharedTests", dependencies: ["Shared"]),
        .testTarget(
            name: "ArgusServerTests",
            dependencies: [
                "ArgusServer", "ArgusClient", "Shared", "TestSupport", "FuzzTargets",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ArgusTUITests", dependencies: ["ArgusTUI", "ArgusClient", "Shared", "TestSupport"]),
    ]
)
