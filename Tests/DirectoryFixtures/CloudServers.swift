import Foundation

/// Microsoft Entra ID's token endpoint and Microsoft Graph's users, groups and members, as
/// `Tests/Servers/graph_api.py` serves them over HTTPS from a data file the test rewrites:
/// paging with opaque skip tokens, `$select` defaults, `$filter`, 403 for a token without the
/// permission, 401 for an expired token, 429 with Retry-After on demand.
public struct GraphServer: Sendable {
    public let process: HTTPServerProcess
    public let dataFile: String
    public let ca: TestCA
    public let tenant: String
    public let clientID: String
    /// The client secret (nil when the server takes a certificate credential instead).
    public let clientSecret: String?

    public var url: String { "https://127.0.0.1:\(process.port)" }

    /// Starts the server; with `clientCertificate` (PEM) it takes client assertions signed by
    /// that certificate's key instead of a secret.
    public static func start(data: [String: Any], ca: TestCA, clientCertificate: String? = nil,
                             roles: [String] = ["User.Read.All", "GroupMember.Read.All"], pageCap: Int = 999) async throws -> GraphServer {
        let json = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
        let tenant = UUID().uuidString.lowercased()
        let clientID = UUID().uuidString.lowercased()
        let secret = clientCertificate == nil ? "secret~\(UUID().uuidString.prefix(12))" : nil
        return try await offThePool {
            let directory = try Shell.temporaryDirectory("usersync-graph")
            Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
            let dataFile = directory.appendingPathComponent("directory.json").path
            try JSONAPIServer.write(json, to: dataFile)
            let script = repositoryRoot.appendingPathComponent("Tests/Servers/graph_api.py").path
            let process = try HTTPServerProcess(program: "python3", arguments: { port in
                var arguments = [script, "--port", "\(port)", "--data", dataFile, "--tls", ca.serverCertificate, ca.serverKey,
                                 "--tenant", tenant, "--client-id", clientID, "--roles", roles.joined(separator: ","),
                                 "--page-cap", "\(pageCap)"]
                if let secret { arguments += ["--client-secret", secret] }
                if let clientCertificate { arguments += ["--client-cert", clientCertificate] }
                return arguments
            }, what: "graph api")
            return GraphServer(process: process, dataFile: dataFile, ca: ca, tenant: tenant, clientID: clientID, clientSecret: secret)
        }
    }

    /// Replaces what the directory holds.
    public func setData(_ data: [String: Any]) throws {
        try JSONAPIServer.write(try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]), to: dataFile)
    }

    /// The server's test controls: throttleEvery, retryAfter, roles, expireTokens, tokenLifetime, usesPerToken.
    public func control(_ settings: [String: Any]) async throws {
        let (body, url, ca) = (try TestControls.encode(settings), "\(url)/_control", ca)
        try await offThePool { try TestControls.post(body, to: url, ca: ca) }
    }

    /// Every request so far: method, path (with its query) and status.
    public func requests() async throws -> [(method: String, path: String, status: Int)] {
        let (url, ca) = ("\(url)/_log", ca)
        return try TestControls.parse(try await offThePool { try TestControls.log(url, ca: ca) }).map { ($0["method"] as? String ?? "", $0["path"] as? String ?? "", $0["status"] as? Int ?? 0) }
    }

    /// An RSA key and a self-signed certificate, as an administrator uploads to an app
    /// registration for a certificate credential.
    public static func makeAppCertificate(in directory: URL) async throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("app.pem").path
        let key = directory.appendingPathComponent("app.key").path
        try await offThePool {
            try Shell.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                      "-days", "2", "-subj", "/CN=usersync-app"])
        }
        return (certificate, key)
    }
}

/// An Okta org's Management API as `Tests/Servers/okta_api.py` serves it over HTTPS: users
/// and groups from a data file, cursor paging by `Link` headers, SSWS tokens or OAuth
/// (private_key_jwt), and rate limits with Okta's headers.
public struct OktaServer: Sendable {
    public let process: HTTPServerProcess
    public let dataFile: String
    public let ca: TestCA
    public let apiToken: String?
    public let clientID: String?

    public var domain: String { "127.0.0.1:\(process.port)" }
    public var url: String { "https://\(domain)" }

    /// With `clientPublicKey` (PEM) it takes OAuth client assertions instead of an API token.
    public static func start(data: [String: Any], ca: TestCA, clientPublicKey: String? = nil, grantedScopes: [String]? = nil,
                             rateLimit: Int = 600, rateWindow: Double = 60) async throws -> OktaServer {
        let json = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
        let token = clientPublicKey == nil ? "00" + UUID().uuidString.replacingOccurrences(of: "-", with: "") : nil
        let clientID = clientPublicKey == nil ? nil : "0oa" + UUID().uuidString.prefix(8).lowercased()
        return try await offThePool {
            let directory = try Shell.temporaryDirectory("usersync-okta")
            Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
            let dataFile = directory.appendingPathComponent("org.json").path
            try JSONAPIServer.write(json, to: dataFile)
            let script = repositoryRoot.appendingPathComponent("Tests/Servers/okta_api.py").path
            let process = try HTTPServerProcess(program: "python3", arguments: { port in
                var arguments = [script, "--port", "\(port)", "--data", dataFile, "--tls", ca.serverCertificate, ca.serverKey,
                                 "--rate-limit", "\(rateLimit)", "--rate-window", "\(rateWindow)"]
                if let token { arguments += ["--api-token", token] }
                if let clientID, let clientPublicKey { arguments += ["--client-id", clientID, "--client-public-key", clientPublicKey] }
                if let grantedScopes { arguments += ["--granted-scopes", grantedScopes.joined(separator: ",")] }
                return arguments
            }, what: "okta api")
            return OktaServer(process: process, dataFile: dataFile, ca: ca, apiToken: token, clientID: clientID)
        }
    }

    public func setData(_ data: [String: Any]) throws {
        try JSONAPIServer.write(try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]), to: dataFile)
    }

    /// The server's test controls: force429.
    public func control(_ settings: [String: Any]) async throws {
        let (body, url, ca) = (try TestControls.encode(settings), "\(url)/_control", ca)
        try await offThePool { try TestControls.post(body, to: url, ca: ca) }
    }

    /// Every request so far: method, path, status and time (epoch seconds).
    public func requests() async throws -> [(method: String, path: String, status: Int, time: Double)] {
        let (url, ca) = ("\(url)/_log", ca)
        return try TestControls.parse(try await offThePool { try TestControls.log(url, ca: ca) }).map {
            ($0["method"] as? String ?? "", $0["path"] as? String ?? "", $0["status"] as? Int ?? 0, $0["time"] as? Double ?? 0)
        }
    }
}

/// The test servers' own endpoints over HTTPS (trusting the test CA): a control POST and the
/// request log. They run python3, so callers go off the cooperative pool.
enum TestControls {
    static func encode(_ settings: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self)
    }

    static func post(_ body: String, to url: String, ca: TestCA) throws {
        try Shell.run("python3", ["-c", """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[2])
            urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[3].encode(), method="POST"), context=context).read()
            """, url, ca.caFile, body])
    }

    static func parse(_ text: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
    }

    static func log(_ url: String, ca: TestCA) throws -> String {
        let (_, output) = try Shell.run("python3", ["-c", """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[2])
            print(urllib.request.urlopen(sys.argv[1], context=context).read().decode())
            """, url, ca.caFile])
        return output
    }
}
