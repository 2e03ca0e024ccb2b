import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// The whole file: store, log, serve and the sources.
    mutating func configuration(_ root: Node) -> Configuration? {
        guard let top = fields(root, "", allowed: ConfigLoader.Keys.root, required: ["store", "sources"]) else { return nil }
        var store: StoreSettings?
        if let node = top["store"], let f = fields(node, "store", allowed: ConfigLoader.Keys.store) {
            store = self.store(node, f)
        }
        var log: LogSettings?
        if let node = top["log"], let f = fields(node, "log", allowed: ConfigLoader.Keys.log) {
            var settings = LogSettings()
            settings.directory = string(f["directory"], "log.directory")
            if let days = int(f["retentionDays"], "log.retentionDays", min: 1) { settings.retentionDays = days }
            log = settings
        }
        var serve = ServeSettings()
        if let node = top["serve"], let f = fields(node, "serve", allowed: ConfigLoader.Keys.serve) {
            serve = self.serve(f)
        }
        var sources: [SourceSettings] = []
        if let node = top["sources"] {
            if let list = node.sequence {
                if list.isEmpty { problem(node, "sources", "no sources: add at least one") }
                var seen: Set<String> = []
                for (i, item) in list.enumerated() {
                    if let nameNode = item.mapping?["name"], let name = nameNode.string, !seen.insert(name).inserted {
                        problem(nameNode, "sources[\(i)].name", "the name '\(name)' is used by another source")
                    }
                    if let source = source(item, "sources[\(i)]") { sources.append(source) }
                }
            } else {
                problem(node, "sources", "expected a list of sources (each starting with '- name: …')")
            }
        }
        var targets: [TargetSettings] = []
        if let node = top["targets"] {
            if let list = node.sequence {
                var seen: Set<String> = []
                let sourceNames = Set(sources.map(\.name))
                for (i, item) in list.enumerated() {
                    if let nameNode = item.mapping?["name"], let name = nameNode.string, !seen.insert(name).inserted {
                        problem(nameNode, "targets[\(i)].name", "the name '\(name)' is used by another target")
                    }
                    if let target = target(item, "targets[\(i)]", sources: sourceNames) { targets.append(target) }
                }
            } else {
                problem(node, "targets", "expected a list of targets (each starting with '- name: …')")
            }
        }
        guard let store else { return nil }
        var configuration = Configuration(store: store, log: log, serve: serve, sources: sources, file: file, locations: locations)
        configuration.targets = targets
        return configuration
    }

    /// `schedule: { every: 15m, jitter: 1m, runAtStart: true }` or `{ cron: "*/15 * * * *" }`.
    mutating func schedule(_ node: Node, _ path: String) -> Schedule? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.schedule) else { return nil }
        var kind: Schedule.Kind?
        switch (f["every"], f["cron"]) {
        case (let every?, nil):
            if let text = string(every, "\(path).every") {
                if let interval = Schedule.parseDuration(text), interval >= .seconds(1) {
                    kind = .every(interval)
                } else {
                    problem(every, "\(path).every", "expected a duration of at least 1s such as 90s, 15m, 1h or 1h30m, found '\(text)'")
                }
            }
        case (nil, let cron?):
            if let text = string(cron, "\(path).cron") {
                do {
                    kind = .cron(try CronExpression(text))
                } catch {
                    problem(cron, "\(path).cron", error.message)
                }
            }
        default:
            problem(node, path, "give every (\"15m\") or cron (\"*/15 * * * *\"), one of them")
        }
        guard let kind else { return nil }
        var schedule = Schedule(kind)
        if let node = f["jitter"], let text = string(node, "\(path).jitter") {
            if let jitter = Schedule.parseDuration(text) { schedule.jitter = jitter } else {
                problem(node, "\(path).jitter", "expected a duration such as 30s or 2m, found '\(text)'")
            }
        }
        schedule.runAtStart = bool(f["runAtStart"], "\(path).runAtStart") ?? false
        return schedule
    }
}

extension ConfigReader {
    /// `store:` — `sqlite: PATH`, or `postgres:` with its URL, password, schema and TLS.
    mutating func store(_ node: Node, _ f: [String: Node]) -> StoreSettings? {
        switch (f["sqlite"], f["postgres"]) {
        case (nil, nil):
            problem(node, "store", "say where the users are kept: 'sqlite: /var/lib/usersync/users.db', or 'postgres:' with a url")
            return nil
        case (.some, .some):
            problem(f["postgres"], "store.postgres", "give sqlite or postgres, not both")
            return nil
        case let (sqlite?, nil):
            return string(sqlite, "store.sqlite").map(StoreSettings.sqlite)
        case let (nil, postgres?):
            let path = "store.postgres"
            guard let p = fields(postgres, path, allowed: ConfigLoader.Keys.postgres, required: ["url"]),
                  let url = string(p["url"], "\(path).url") else { return nil }
            var settings = PostgresStoreSettings(url: url)
            settings.passwordFile = string(p["passwordFile"], "\(path).passwordFile")
            settings.passwordEnv = string(p["passwordEnv"], "\(path).passwordEnv")
            if settings.passwordFile != nil && settings.passwordEnv != nil {
                problem(p["passwordEnv"], "\(path).passwordEnv", "give passwordFile or passwordEnv, not both")
            }
            if let schema = string(p["schema"], "\(path).schema") {
                if PostgresEndpoint.isPlainIdentifier(schema) {
                    settings.schema = schema
                } else {
                    problem(p["schema"], "\(path).schema", "'\(schema)' is not a plain schema name: use lowercase letters, digits and _, starting with a letter")
                }
            }
            if let node = p["tls"], let t = fields(node, "\(path).tls", allowed: ["caFile"]) {
                settings.caFile = string(t["caFile"], "\(path).tls.caFile")
            }
            settings.allowInsecure = bool(p["allowInsecure"], "\(path).allowInsecure") ?? false
            do {
                _ = try PostgresEndpoint(settings)
            } catch {
                problem(p["url"], "\(path).url", error.description)
            }
            return .postgres(settings)
        }
    }
}

extension ConfigReader {
    /// `serve`: the listen address, and the console with who may open it.
    mutating func serve(_ f: [String: Node]) -> ServeSettings {
        var serve = ServeSettings()
        if let listen = string(f["listen"], "serve.listen") {
            if let parsed = ServeSettings(listen: listen) {
                serve.host = parsed.host
                serve.port = parsed.port
            } else {
                problem(f["listen"], "serve.listen", "\(ServeSettings.listenForm), found '\(listen)'")
            }
        }
        serve.console = bool(f["console"], "serve.console") ?? false
        if let node = f["consoleAccess"], let a = fields(node, "serve.consoleAccess", allowed: ConfigLoader.Keys.consoleAccess) {
            var access = ConsoleAccessSettings()
            if let user = string(a["user"], "serve.consoleAccess.user") {
                if user.contains(":") {
                    problem(a["user"], "serve.consoleAccess.user", "a user name cannot contain ':' (HTTP basic auth splits there)")
                } else {
                    access.user = user
                }
            }
            access.passwordFile = string(a["passwordFile"], "serve.consoleAccess.passwordFile")
            access.passwordEnv = string(a["passwordEnv"], "serve.consoleAccess.passwordEnv")
            access.tokenFile = string(a["tokenFile"], "serve.consoleAccess.tokenFile")
            if access.passwordFile != nil && access.passwordEnv != nil {
                problem(a["passwordEnv"], "serve.consoleAccess.passwordEnv", "give passwordFile or passwordEnv, not both")
            }
            access.loopbackWithoutLogin = bool(a["loopbackWithoutLogin"], "serve.consoleAccess.loopbackWithoutLogin") ?? false
            if access.loopbackWithoutLogin && !serve.isLoopback {
                problem(a["loopbackWithoutLogin"], "serve.consoleAccess.loopbackWithoutLogin",
                        "only for a loopback listen address (127.0.0.1, ::1), not \(serve.listen): behind it, every connection could come from this machine")
            }
            serve.consoleAccess = access
        }
        if serve.console && !serve.consoleAccess.hasCredential && !serve.consoleAccess.loopbackWithoutLogin {
            problem(f["console"], "serve.console",
                    "the console needs a credential: put a password in a file only usersync can read (chmod 600) and set serve.consoleAccess.passwordFile to it (or tokenFile for scripts); or, with a loopback listen address, serve.consoleAccess.loopbackWithoutLogin: true")
        }
        return serve
    }
}
