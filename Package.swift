// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "usersync",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "usersync", targets: ["UserSyncCLI"]),
        .library(name: "LDAP", targets: ["LDAP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        .executableTarget(
            name: "UserSyncCLI",
            dependencies: [
                "LDAP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "LDAPTests",
            dependencies: ["LDAP"]
        ),
        .testTarget(
            name: "UserSyncCLITests",
            dependencies: ["LDAP"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
