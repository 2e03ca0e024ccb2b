import Foundation

/// The repository's root (the fixtures' scripts live in `Tests/Servers`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A process serving HTTP on a loopback port, stopped when the test process exits.
public final class HTTPServerProcess: @unchecked Sendable {
    public let port: Int
    public let pid: pid_t
    public let log: String

    init(program: String, arguments: (Int) -> [String], what: String, port fixed: Int? = nil) throws {
        var lastError: (any Error)?
        // A port found free can be taken before the server binds it: a few tries on new ports.
        for _ in 0..<3 {
            let port = fixed ?? Shell.freePort()
            let log = "/tmp/usersync-\(what.replacingOccurrences(of: " ", with: "-"))-\(UUID().uuidString.prefix(8)).log"
            let pid = try Shell.spawn(program, arguments(port), output: log)
            do {
                try Shell.waitForPort(port, timeout: 60, what: what, log: log, process: pid)
                self.port = port
                self.pid = pid
                self.log = log
                Cleanup.atExit { kill(pid, SIGTERM); unlink(log) }
                return
            } catch {
                kill(pid, SIGKILL)
                _ = Shell.wait(pid)
                lastError = error
            }
        }
        throw lastError!
    }

    public func stop() {
        kill(pid, SIGTERM)
        _ = Shell.wait(pid)
    }
}

/// The tests' paged JSON API (`Tests/Servers/json_api.py`): users from a file the test
/// rewrites, next links, Link headers, page and offset parameters, 429 with Retry-After, 500,
/// an OAuth client-credentials token endpoint, a CSV file behind basic auth, optionally TLS.
public struct JSONAPIServer: Sendable {
    public let process: HTTPServerProcess
    public let usersFile: String
    public let tls: Bool

    public var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(process.port)" }

    public static func start(users: [[String: Any]], tls ca: TestCA? = nil, clientID: String? = nil,
                             clientSecret: String? = nil, tokenLifetime: Double? = nil, csv: String? = nil,
                             basic: String? = nil) async throws -> JSONAPIServer {
        let json = try JSONSerialization.data(withJSONObject: users, options: [.sortedKeys])
        return try await offThePool {
            let directory = try Shell.temporaryDirectory("usersync-json-api")
            Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
            let usersFile = directory.appendingPathComponent("users.json").path
            try JSONAPIServer.write(json, to: usersFile)
            let script = repositoryRoot.appendingPathComponent("Tests/Servers/json_api.py").path
            let process = try HTTPServerProcess(program: "python3", arguments: { port in
                var arguments = [script, "--port", "\(port)", "--users", usersFile]
                if let ca { arguments += ["--tls", ca.serverCertificate, ca.serverKey] }
                if let clientID, let clientSecret { arguments += ["--client-id", clientID, "--client-secret", clientSecret] }
                if let tokenLifetime { arguments += ["--token-lifetime", "\(tokenLifetime)"] }
                if let csv { arguments += ["--csv", csv] }
                if let basic { arguments += ["--basic", basic] }
                return arguments
            }, what: "json api")
            return JSONAPIServer(process: process, usersFile: usersFile, tls: ca != nil)
        }
    }

    /// Replaces the users the API serves.
    public func setUsers(_ users: [[String: Any]]) throws {
        try JSONAPIServer.write(try JSONSerialization.data(withJSONObject: users, options: [.sortedKeys]), to: usersFile)
    }

    static func write(_ data: Data, to path: String) throws {
        try data.write(to: URL(fileURLWithPath: path + ".new"))
        _ = rename(path + ".new", path)
    }

    /// The server's counters: requests per path, tokens issued, requests refused, 429s sent.
    public func stats() async throws -> [String: Any] {
        let (_, output) = try await Shell.run("python3", ["-c", """
            import json, urllib.request
            print(urllib.request.urlopen("http://127.0.0.1:\(process.port)/stats").read().decode())
            """])
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
    }
}

/// The real `scim2-server` from PyPI (installed by `scripts/install-deps.sh --tests` into
/// `.build-venv`), serving Users and Groups from memory behind a bearer token.
public final class SCIMServer: @unchecked Sendable {
    public private(set) var process: HTTPServerProcess
    public let token: String
    let configFile: String?

    public var baseURL: String { "http://127.0.0.1:\(process.port)/v2" }

    init(process: HTTPServerProcess, token: String, configFile: String?) {
        self.process = process
        self.token = token
        self.configFile = configFile
    }

    /// `serviceProviderConfig`: what its /ServiceProviderConfig announces (the server's own
    /// default when nil: every feature).
    public static func start(token: String = "scim-\(UUID().uuidString.prefix(8))",
                             serviceProviderConfig: [String: Any]? = nil) async throws -> SCIMServer {
        var configFile: String?
        if let serviceProviderConfig {
            let file = "/tmp/usersync-scim-spc-\(UUID().uuidString.prefix(8)).json"
            try JSONSerialization.data(withJSONObject: serviceProviderConfig).write(to: URL(fileURLWithPath: file))
            Cleanup.atExit { unlink(file) }
            configFile = file
        }
        let file = configFile
        let process = try await offThePool { try SCIMServer.launch(token: token, configFile: file, port: nil) }
        return SCIMServer(process: process, token: token, configFile: file)
    }

    private static func launch(token: String, configFile: String?, port: Int?) throws -> HTTPServerProcess {
        let venv = repositoryRoot.appendingPathComponent(".build-venv/bin/scim2-server").path
        let program = FileManager.default.isExecutableFile(atPath: venv) ? venv : "scim2-server"
        guard (try? Shell.which(program)) != nil else {
            throw FixtureError("scim2-server is not installed: run scripts/install-deps.sh --tests (it installs it into .build-venv)")
        }
        return try HTTPServerProcess(program: program, arguments: { port in
            ["--hostname", "127.0.0.1", "--port", "\(port)", "--bearer-token", token]
                + (configFile.map { ["--service-provider-config", $0] } ?? [])
        }, what: "scim2-server", port: port)
    }

    /// Kills the server (`kill -9`: it keeps nothing) and starts an empty one on the same port.
    public func restartEmpty() async throws {
        let old = process
        kill(old.pid, SIGKILL)
        _ = await Shell.wait(old.pid)
        let token = self.token, configFile = self.configFile
        process = try await offThePool { try SCIMServer.launch(token: token, configFile: configFile, port: old.port) }
    }

    /// Every resource of a type (`Users`, `Groups`), through the API, page by page.
    public func all(_ resource: String) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var start = 1
        while true {
            let page = try await get("/\(resource)?startIndex=\(start)&count=1000")
            let resources = page["Resources"] as? [[String: Any]] ?? []
            all += resources
            start += resources.count
            if resources.isEmpty || start > (page["totalResults"] as? Int ?? 0) { return all }
        }
    }

    /// A resource as the server lists it (`/Groups/<id>`), through its API.
    public func get(_ path: String) async throws -> [String: Any] {
        let token = self.token, url = baseURL + path
        let output = try await offThePool {
            try Shell.run("python3", ["-c", """
                import sys, urllib.request
                request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
                print(urllib.request.urlopen(request).read().decode())
                """, url, token]).output
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw FixtureError("GET \(url): not a JSON object: \(output.prefix(200))")
        }
        return object
    }

    /// Sends SCIM requests through its API, in order; `"$N"` in a body or as a path's last
    /// part is the id the N-th request returned. Returns the ids returned (nil for DELETE).
    @discardableResult
    public func send(_ operations: [[String: Any]]) async throws -> [String?] {
        let token = self.token, base = baseURL
        let json = try JSONSerialization.data(withJSONObject: operations)
        return try await offThePool {
            let file = "/tmp/usersync-scim-ops-\(UUID().uuidString).json"
            try json.write(to: URL(fileURLWithPath: file))
            defer { unlink(file) }
            let script = repositoryRoot.appendingPathComponent("Tests/Servers/scim_client.py").path
            let (_, output) = try Shell.run("python3", [script, base, token, file])
            let line = output.split(separator: "\n").last.map(String.init) ?? "[]"
            let ids = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Any] ?? []
            return ids.map { $0 as? String }
        }
    }
}

/// `Tests/Servers/scim_faults.py` in front of a SCIM server: 429s with Retry-After, 500s for one
/// user, a create whose answer is lost, and a log of every request it saw.
public struct SCIMFaultProxy: Sendable {
    public let process: HTTPServerProcess

    public var baseURL: String { "http://127.0.0.1:\(process.port)/v2" }

    public static func start(upstream: SCIMServer, throttleEvery: Int? = nil, retryAfter: String = "1",
                             failUsers: [String] = [], loseAnswers: [String] = []) async throws -> SCIMFaultProxy {
        let upstreamURL = "http://127.0.0.1:\(upstream.process.port)"
        return try await offThePool {
            let script = repositoryRoot.appendingPathComponent("Tests/Servers/scim_faults.py").path
            let process = try HTTPServerProcess(program: "python3", arguments: { port in
                var arguments = [script, "--port", "\(port)", "--upstream", upstreamURL, "--retry-after", retryAfter]
                if let throttleEvery { arguments += ["--throttle-every", "\(throttleEvery)"] }
                for user in failUsers { arguments += ["--fail-user", user] }
                for user in loseAnswers { arguments += ["--lose-answer", user] }
                return arguments
            }, what: "scim fault proxy")
            return SCIMFaultProxy(process: process)
        }
    }

    /// The requests seen: method, path (with its query) and the status answered.
    public func requests() async throws -> [(method: String, path: String, status: Int)] {
        let port = process.port
        let output = try await offThePool {
            try Shell.run("python3", ["-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:\(port)/_log').read().decode())"]).output
        }
        let list = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Any]] ?? []
        return list.map { ($0[0] as? String ?? "", $0[1] as? String ?? "", $0[2] as? Int ?? 0) }
    }
}
