import DirectoryFixtures
import Foundation
import Logging
import Testing
@testable import UserSync

/// A sync harness (real slapd, real store) with a real SCIM server as the target, reached
/// directly or through the fault proxy, and the target configured as an administrator writes it.
struct PushHarness {
    let sync: SyncHarness
    let server: SCIMServer
    let proxy: SCIMFaultProxy?
    let tokenFile: String

    static func start(users: Int = 30, store: StoreKind = .sqlite, extraLDIF: String = "",
                      serviceProviderConfig: [String: Any]? = nil,
                      proxy: ((SCIMServer) async throws -> SCIMFaultProxy)? = nil) async throws -> PushHarness {
        let sync = try await SyncHarness.start(users: users, extraLDIF: extraLDIF, store: store)
        let server = try await SCIMServer.start(serviceProviderConfig: serviceProviderConfig)
        let tokenFile = sync.directory.appendingPathComponent("scim.token").path
        try "\(server.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        return PushHarness(sync: sync, server: server, proxy: try await proxy?(server), tokenFile: tokenFile)
    }

    var url: String { proxy?.baseURL ?? server.baseURL }
    var store: UserStore { sync.store }

    /// The configuration: the harness's LDAP source (`options` lines under its options) and
    /// the target `app` (`target` lines under it).
    func configuration(target: String = "", options: String = "      maxDeactivations: 100%") throws -> Configuration {
        let text = sync.yaml(options: options) + """

            targets:
              - name: app
                type: scim
                url: \(url)
                allowInsecure: true
                auth: { bearerTokenFile: \(tokenFile) }
                sources: [ldap]
                retries: 3
            \(target)
            """
        return try ConfigLoader.parse(text, file: "test.yaml")
    }

    func syncAll(_ configuration: Configuration) async -> SyncReport {
        await sync.sync(configuration.sources[0])
    }

    func push(_ configuration: Configuration, _ options: PushEngine.Options = .init()) async -> PushReport {
        await PushEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), lockTimeout: .seconds(5))
            .push(configuration.targets[0], options: options)
    }

    /// The server's users by userName, and how many there are (a duplicate would make them differ).
    func serverUsers() async throws -> (byName: [String: [String: Any]], count: Int) {
        let all = try await server.all("Users")
        var byName: [String: [String: Any]] = [:]
        for user in all { byName[(user["userName"] as? String ?? "").lowercased()] = user }
        return (byName, all.count)
    }

    /// The target holds each of the source's users, field by field as the default mapping
    /// sends them (users never pushed because they were deactivated before are not there), and
    /// no user twice.
    func expectServerMatchesStore(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (remote, count) = try await serverUsers()
        #expect(remote.count == count, "no userName twice on the server", sourceLocation: sourceLocation)
        let users = try await store.users().filter { $0.source == "ldap" }
        var checked = 0
        for user in users {
            guard let there = remote[user.username.lowercased()] else {
                #expect(user.state == "deactivated", "\(user.username) is missing on the server", sourceLocation: sourceLocation)
                continue
            }
            checked += 1
            let name = there["name"] as? [String: Any] ?? [:]
            let work = (there["emails"] as? [[String: Any]] ?? []).first { $0["type"] as? String == "work" }
            let problems = [
                ("userName", there["userName"] as? String, user.username),
                ("externalId", there["externalId"] as? String, user.externalId),
                ("name.givenName", name["givenName"] as? String, user.fields[.firstName]),
                ("name.familyName", name["familyName"] as? String, user.fields[.lastName]),
                ("displayName", there["displayName"] as? String, user.fields[.displayName]),
                ("emails[work]", work?["value"] as? String, user.fields[.email]),
                ("active", (there["active"] as? Bool).map { $0 ? "active" : "deactivated" }, user.state),
            ].filter { $0.1 != $0.2 }
            #expect(problems.isEmpty, "\(user.username): \(problems.map { "\($0.0) is \($0.1 ?? "∅"), the store has \($0.2 ?? "∅")" })",
                    sourceLocation: sourceLocation)
        }
        #expect(checked == remote.count, "the server has only the store's users", sourceLocation: sourceLocation)
    }

    /// The requests the proxy saw that change something.
    func writes() async throws -> [String] {
        try await (proxy?.requests() ?? []).filter { $0.method != "GET" }.map { "\($0.method) \($0.path) \($0.status)" }
    }
}
