// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "usersync",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "usersync", targets: ["UserSyncCLI"]),
        .library(name: "LDAP", targets: ["LDAP"]),
        .library(name: "UserSync", targets: ["UserSync"]),
        .executable(name: "usersync-fuzz", targets: ["UserSyncFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // libldap / liblber from OpenLDAP, with a shim for what Swift cannot import.
        .systemLibrary(
            name: "CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap2-dev", "libsasl2-dev"]), .brew(["openldap"])]
        ),
        .target(
            name: "LDAP",
            dependencies: ["CLDAP"]
        ),
        // zlib, for the compressed copies of what each run received.
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // What Swift's Glibc module does not declare: a command source's spawn (_GNU_SOURCE
        // only) and malloc_trim (malloc.h).
        .target(name: "CGlibc"),
        // sqlite3_config, which is variadic (SQLite's global settings before the first connection).
        .systemLibrary(
            name: "CSQLiteConfig",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "UserSync",
            dependencies: [
                "LDAP",
                "CZlib",
                "CGlibc",
                "CSQLiteConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // RSA signatures of OAuth client assertions (Entra ID certificates, Okta private_key_jwt).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // `usersync serve`'s HTTP side: /healthz, /metrics and the read-only web console.
        .target(
            name: "UserSyncConsole",
            dependencies: [
                "UserSync",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "UserSyncCLI",
            dependencies: [
                "LDAP",
                "UserSync",
                "UserSyncConsole",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Coverage-guided fuzz targets for the parsers (scripts/fuzz.sh builds them with
        // libFuzzer); built plainly, `usersync-fuzz TARGET FILE…` replays inputs. Not shipped.
        .executableTarget(
            name: "UserSyncFuzz",
            dependencies: ["LDAP", "UserSync"]
        ),
        // Real directory servers (slapd, Samba AD) for the tests; not shipped.
        .target(
            name: "DirectoryFixtures",
            path: "Tests/DirectoryFixtures"
        ),
        .testTarget(
            name: "LDAPTests",
            dependencies: ["LDAP", "DirectoryFixtures"]
        ),
        .testTarget(
            name: "UserSyncTests",
            dependencies: ["UserSync", "LDAP", "DirectoryFixtures", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "UserSyncCLITests",
            dependencies: ["LDAP", "DirectoryFixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
