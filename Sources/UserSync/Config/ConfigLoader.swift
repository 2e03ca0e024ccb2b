import Foundation
import LDAP
import Yams

/// Finds and reads the configuration file.
public enum ConfigLoader {
    /// The keys each section accepts. `schemas/usersync.schema.json` must name the same ones
    /// (a test compares them).
    public enum Keys {
        public static let root = ["store", "log", "serve", "sources"]
        public static let serve = ["listen"]
        public static let schedule = ["every", "cron", "jitter", "runAtStart"]
        public static let store = ["sqlite"]
        public static let log = ["directory", "retentionDays"]
        public static let source = ["name", "type", "uri", "bindDN", "passwordFile", "passwordEnv", "startTLS",
                                    "tls", "allowInsecureBind", "connectTimeout", "timeout", "users", "groups", "mapping", "options",
                                    "path", "delimiter", "encoding", "idColumn", "groupsColumn",
                                    "url", "auth", "allowInsecure", "allowedOrigins", "retries", "pageSize", "filter", "idAttribute", "records", "paging",
                                    "schedule"]
        /// The keys each type of source takes.
        public static func source(_ type: SourceSettings.Kind) -> [String] {
            let common = ["name", "type", "mapping", "options", "schedule"]
            let http = ["url", "auth", "tls", "allowInsecure", "allowedOrigins", "connectTimeout", "timeout", "retries"]
            switch type {
            case .ldap:
                return common + ["uri", "bindDN", "passwordFile", "passwordEnv", "startTLS", "tls", "allowInsecure", "allowInsecureBind",
                                 "connectTimeout", "timeout", "users", "groups"]
            case .csv: return common + http + ["path", "delimiter", "encoding", "idColumn", "groupsColumn"]
            case .scim: return common + http + ["pageSize", "filter", "idAttribute", "groups"]
            case .json: return common + http + ["pageSize", "idAttribute", "records", "paging"]
            }
        }
        public static let groupsColumn = ["column", "separator", "pathSeparator"]
        public static let auth = ["bearerTokenEnv", "bearerTokenFile", "basic", "oauth2"]
        public static let basic = ["username", "passwordEnv", "passwordFile"]
        public static let oauth2 = ["tokenURL", "clientID", "clientSecretEnv", "clientSecretFile", "scope", "clientAuthentication"]
        public static let paging = ["nextLink", "linkHeader", "page", "firstPage", "offset", "sizeParameter"]
        public static let tls = ["caFile", "caDirectory", "certFile", "keyFile", "verify"]
        public static let users = ["base", "filter", "scope", "pageSize", "idAttribute", "memberOf", "memberOfStrategy"]
        public static let groups = ["base", "filter", "scope", "pageSize", "idAttribute", "nameAttribute", "lowercase",
                                    "include", "exclude", "tree", "membership"]
        public static let mapping = Mapping.fields + ["attributes"]
        public static let rule = ["from", "template", "lowercase", "trim", "default", "join", "rdnValue", "format"]
        public static let options = ["createUsers", "updateUsers", "deactivateMissing", "reactivateReturning",
                                     "lowercaseUsernames", "lowercaseEmails", "requiredFields", "adoptExistingBy",
                                     "maxUsers", "maxDeactivations", "maxSkipped", "disabledWhen", "keepRecords"]
        public static let disabledWhen = ["userAccountControlBit", "attribute", "values"]
    }

    /// The valid name nearest to a misspelt one, for "did you mean" hints.
    public static func suggestion(for word: String, in candidates: [String]) -> String? {
        nearest(word, in: candidates)
    }

    /// Where a configuration file is looked for when none is named: `$USERSYNC_CONFIG`,
    /// `./usersync.yaml`, `/etc/usersync/usersync.yaml`.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit { return explicit }
        if let fromEnvironment = environment["USERSYNC_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        for candidate in ["usersync.yaml", "/etc/usersync/usersync.yaml"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return nil
    }

    /// Reads and checks a file; throws `ConfigErrors` listing every problem found.
    public static func load(_ path: String) throws(ConfigErrors) -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, column: nil, path: "",
                                              message: FileManager.default.fileExists(atPath: path)
                                                  ? "cannot read the file (permissions?)" : "no such file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, column: nil, path: "", message: "the file is not UTF-8 text")])
        }
        return try parse(text, file: path)
    }

    /// Reads a configuration from text (`file` names it in messages).
    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> Configuration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigErrors([ConfigProblem(file: file, line: nil, column: nil, path: "", message: "the file is empty")])
            }
            root = node
        } catch let errors as ConfigErrors {
            throw errors
        } catch let error as YamlError {
            throw ConfigErrors([yamlProblem(error, file: file)])
        } catch {
            throw ConfigErrors([ConfigProblem(file: file, line: nil, column: nil, path: "", message: "\(error)")])
        }
        var reader = ConfigReader(file: file)
        let configuration = reader.configuration(root)
        if !reader.problems.isEmpty || configuration == nil {
            throw ConfigErrors(reader.problems)
        }
        return configuration!
    }

    static func yamlProblem(_ error: YamlError, file: String) -> ConfigProblem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigProblem(file: file, line: mark.line, column: mark.column, path: "", message: "not valid YAML: \(text)")
        default:
            return ConfigProblem(file: file, line: nil, column: nil, path: "", message: "not valid YAML: \(error)")
        }
    }
}

/// Walks the YAML tree, building the configuration and collecting every problem with its line.
struct ConfigReader {
    let file: String
    var problems: [ConfigProblem] = []
    /// Where each key was found: `sources[0].mapping.email` → line and column.
    var locations: [String: ConfigLocation] = [:]

    init(file: String) { self.file = file }

    mutating func problem(_ node: Node?, _ path: String, _ message: String, suggestion: String? = nil) {
        problems.append(ConfigProblem(file: file, line: node?.mark?.line, column: node?.mark?.column, path: path,
                                      message: message, suggestion: suggestion))
    }

    // MARK: Shapes

    /// The mapping's values by key; reports keys not in `allowed` (with the nearest valid one),
    /// duplicated keys, and required keys that are missing.
    mutating func fields(_ node: Node, _ path: String, allowed: [String], required: [String] = []) -> [String: Node]? {
        guard let mapping = node.mapping else {
            problem(node, path, "expected a mapping of keys (\(allowed.prefix(4).joined(separator: ", ")), …), found \(describe(node))")
            return nil
        }
        var result: [String: Node] = [:]
        var suggested: Set<String> = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                problem(keyNode, path, "keys must be plain words")
                continue
            }
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if let mark = keyNode.mark { locations[keyPath] = ConfigLocation(line: mark.line, column: mark.column) }
            guard allowed.contains(key) else {
                let suggestion = nearest(key, in: allowed)
                if let suggestion { suggested.insert(suggestion) }
                problem(keyNode, keyPath, "unknown key (valid here: \(allowed.joined(separator: ", ")))",
                        suggestion: suggestion)
                continue
            }
            if result[key] != nil {
                problem(keyNode, keyPath, "given twice")
            }
            result[key] = value
        }
        // A required key that a misspelt one already points to is not reported twice.
        for key in required where result[key] == nil && !suggested.contains(key) {
            problem(node, path.isEmpty ? key : "\(path).\(key)", "missing (required)")
        }
        return result
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    mutating func string(_ node: Node?, _ path: String, allowEmpty: Bool = false) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(node, path, "expected a text value, found \(describe(node))")
            return nil
        }
        if scalar.string.isEmpty && !allowEmpty && scalar.style == .plain {
            problem(node, path, "empty value")
            return nil
        }
        return scalar.string
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let node else { return nil }
        if let value = node.bool { return value }
        problem(node, path, "expected true or false, found \(describe(node))")
        return nil
    }

    mutating func int(_ node: Node?, _ path: String, min: Int = 0) -> Int? {
        guard let node else { return nil }
        guard let value = node.int, value >= min else {
            problem(node, path, "expected a whole number of at least \(min), found \(describe(node))")
            return nil
        }
        return value
    }

    mutating func seconds(_ node: Node?, _ path: String) -> Duration? {
        guard let node else { return nil }
        guard let value = node.float, value > 0 else {
            problem(node, path, "expected a number of seconds above 0, found \(describe(node))")
            return nil
        }
        return .milliseconds(Int(value * 1000))
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node?, _ path: String, _: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, path) else { return nil }
        if let value = T(rawValue: text) { return value }
        let names = T.allCases.map(\.rawValue)
        problem(node, path, "'\(text)' is not one of \(names.joined(separator: ", "))", suggestion: nearest(text, in: names))
        return nil
    }

    /// A list of strings; a single string is accepted as a list of one (or split on spaces
    /// when `splitSpaces`, as a URI list).
    /// A guard's limit: a count (25) or a percentage ("10%").
    mutating func limit(_ node: Node?, _ path: String, of what: String) -> SyncOptions.Limit? {
        guard let node else { return nil }
        if let count = node.int, count >= 0 { return .absolute(count) }
        if let text = node.string, text.hasSuffix("%"), let share = Double(text.dropLast()), share >= 0, share <= 100 {
            return .percent(share)
        }
        problem(node, path, "expected a number of \(what) (25) or a percentage (\"10%\"), found \(describe(node))")
        return nil
    }

    mutating func strings(_ node: Node?, _ path: String, splitSpaces: Bool = false) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node {
            guard let text = string(node, path) else { return nil }
            return splitSpaces ? text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) : [text]
        }
        guard let sequence = node.sequence else {
            problem(node, path, "expected a list, found \(describe(node))")
            return nil
        }
        var values: [String] = []
        for (i, item) in sequence.enumerated() {
            if let text = string(item, "\(path)[\(i)]") { values.append(text) }
        }
        return values
    }

    // MARK: Sections

    mutating func configuration(_ root: Node) -> Configuration? {
        guard let top = fields(root, "", allowed: ConfigLoader.Keys.root, required: ["store", "sources"]) else { return nil }
        var store: StoreSettings?
        if let node = top["store"], let f = fields(node, "store", allowed: ConfigLoader.Keys.store, required: ["sqlite"]) {
            if let path = string(f["sqlite"], "store.sqlite") { store = StoreSettings(sqlite: path) }
        }
        var log: LogSettings?
        if let node = top["log"], let f = fields(node, "log", allowed: ConfigLoader.Keys.log) {
            var settings = LogSettings()
            settings.directory = string(f["directory"], "log.directory")
            if let days = int(f["retentionDays"], "log.retentionDays", min: 1) { settings.retentionDays = days }
            log = settings
        }
        var serve = ServeSettings()
        if let node = top["serve"], let f = fields(node, "serve", allowed: ConfigLoader.Keys.serve),
           let listen = string(f["listen"], "serve.listen") {
            if let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) {
                var host = String(listen[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                serve.host = host.isEmpty ? "0.0.0.0" : host
                serve.port = port
            } else {
                problem(f["listen"], "serve.listen", "expected host:port (\"127.0.0.1:9464\"; \"0.0.0.0:9464\" for every address), found '\(listen)'")
            }
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
        guard let store else { return nil }
        return Configuration(store: store, log: log, serve: serve, sources: sources, file: file, locations: locations)
    }

    mutating func source(_ node: Node, _ path: String) -> SourceSettings? {
        let declared = node.mapping?["type"]?.string.flatMap(SourceSettings.Kind.init(rawValue:))
        let required: [String]
        switch declared {
        case .csv?: required = ["name", "type", "idColumn", "mapping"]
        case .scim?, .json?: required = ["name", "type", "url", "mapping"]
        case .ldap?, nil: required = ["name", "type", "uri", "users", "mapping"]
        }
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.source, required: required) else {
            return nil
        }
        let problemsBefore = problems.count
        let name = string(f["name"], "\(path).name")
        if let name, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            problem(f["name"], "\(path).name", "use letters, digits, '-', '_' and '.' only")
        }
        let type = choice(f["type"], "\(path).type", SourceSettings.Kind.self)
        let takes = ConfigLoader.Keys.source(type ?? .ldap)
        for key in ConfigLoader.Keys.source where f[key] != nil && !takes.contains(key) {
            let owners = SourceSettings.Kind.allCases.filter { ConfigLoader.Keys.source($0).contains(key) }.map(\.rawValue)
            problem(f[key], "\(path).\(key)",
                    "'\(key)' is not a key of \(type?.rawValue ?? "ldap") sources (\(owners.joined(separator: ", ")) sources take it)")
        }
        let schedule = f["schedule"].flatMap { self.schedule($0, "\(path).schedule") }
        switch type {
        case .csv?:
            var settings = csvSource(f, path, name: name, problemsBefore: problemsBefore)
            settings?.schedule = schedule
            return settings
        case .scim?, .json?:
            var settings = restSource(f, path, type: type!, name: name, problemsBefore: problemsBefore)
            settings?.schedule = schedule
            return settings
        case .ldap?, nil: break
        }
        let uris = strings(f["uri"], "\(path).uri", splitSpaces: true) ?? []
        for (i, uri) in uris.enumerated() {
            let lower = uri.lowercased()
            if !(lower.hasPrefix("ldap://") || lower.hasPrefix("ldaps://") || lower.hasPrefix("ldapi://")) {
                problem(f["uri"], "\(path).uri" + (uris.count > 1 ? "[\(i)]" : ""),
                        "'\(uri)' is not an LDAP URI (ldap://, ldaps:// or ldapi://)")
            }
        }
        var connection = LDAPConnectionOptions(uris: uris)
        if let startTLS = bool(f["startTLS"], "\(path).startTLS") { connection.startTLS = startTLS }
        if let value = seconds(f["connectTimeout"], "\(path).connectTimeout") { connection.connectTimeout = value }
        if let value = seconds(f["timeout"], "\(path).timeout") { connection.operationTimeout = value }
        if let node = f["tls"], let t = fields(node, "\(path).tls", allowed: ConfigLoader.Keys.tls) {
            connection.tls = TLSOptions(verify: choice(t["verify"], "\(path).tls.verify", TLSOptions.Verify.self),
                                        caFile: string(t["caFile"], "\(path).tls.caFile"),
                                        caDirectory: string(t["caDirectory"], "\(path).tls.caDirectory"),
                                        certificateFile: string(t["certFile"], "\(path).tls.certFile"),
                                        keyFile: string(t["keyFile"], "\(path).tls.keyFile"))
            if (connection.tls.certificateFile == nil) != (connection.tls.keyFile == nil) {
                problem(node, "\(path).tls", "certFile and keyFile go together")
            }
        }
        let bindDN = string(f["bindDN"], "\(path).bindDN")
        let passwordFile = string(f["passwordFile"], "\(path).passwordFile")
        let passwordEnv = string(f["passwordEnv"], "\(path).passwordEnv")
        if passwordFile != nil && passwordEnv != nil {
            problem(f["passwordEnv"], "\(path).passwordEnv", "give passwordFile or passwordEnv, not both")
        }
        if bindDN != nil && passwordFile == nil && passwordEnv == nil {
            problem(f["bindDN"], "\(path).bindDN", "a bind DN needs a password: add passwordFile or passwordEnv")
        }
        // allowInsecure, as on HTTP sources (allowInsecureBind: its older name, still read).
        if f["allowInsecure"] != nil && f["allowInsecureBind"] != nil {
            problem(f["allowInsecureBind"], "\(path).allowInsecureBind", "give allowInsecure only (allowInsecureBind is its older name)")
        }
        let allowInsecure = bool(f["allowInsecure"], "\(path).allowInsecure") ?? bool(f["allowInsecureBind"], "\(path).allowInsecureBind") ?? false
        // As on HTTP sources: whoever answers would get the bind password and could hand over any users.
        if let verify = connection.tls.verify, verify == .never || verify == .allow, !allowInsecure {
            problem((f["tls"]?.mapping?["verify"]) ?? f["tls"], "\(path).tls.verify",
                    "\(verify.rawValue) accepts any server's certificate, so the bind password would go to whoever answers and any users could come back: give tls.caFile instead, or set allowInsecure: true (test servers only)")
        }
        let users = f["users"].flatMap { self.userSearch($0, "\(path).users") }
        let groups = f["groups"].flatMap { self.groupSearch($0, "\(path).groups") }
        if let users, !users.memberOf.isEmpty, users.memberOfStrategy == .tree, f["groups"] == nil {
            problem(f["users"], "\(path).users.memberOfStrategy", "tree needs a 'groups' section to read the group tree from")
        }
        let mapping = f["mapping"].flatMap { self.mapping($0, "\(path).mapping") }
        let options = f["options"].flatMap { self.options($0, "\(path).options") } ?? SyncOptions()
        if let mapping {
            for field in options.requiredFields where mapping[field] == nil {
                problem(f["options"], "\(path).options.requiredFields", "'\(field)' is required but the mapping does not set it")
            }
        }
        guard problems.count == problemsBefore, let name, let type, let users, let mapping else { return nil }
        return SourceSettings(name: name, type: type, connection: connection, bindDN: bindDN, passwordFile: passwordFile,
                              passwordEnv: passwordEnv, allowInsecureBind: allowInsecure, users: users, groups: groups, mapping: mapping,
                              options: options, schedule: schedule)
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

    /// A `type: csv` source.
    mutating func csvSource(_ f: [String: Node], _ path: String, name: String?, problemsBefore: Int) -> SourceSettings? {
        let http = f["url"] != nil ? httpSettings(f, path) : nil
        if f["path"] == nil && f["url"] == nil {
            problem(f["type"], "\(path).path", "missing (required): give path (a local file) or url (https://…)")
        } else if f["path"] != nil && f["url"] != nil {
            problem(f["url"], "\(path).url", "give path or url, not both")
        }
        let file = string(f["path"], "\(path).path") ?? http?.url
        let idColumn = string(f["idColumn"], "\(path).idColumn")
        var csv = CSVSettings(path: file ?? "", idColumn: idColumn ?? "")
        if let node = f["delimiter"], let text = string(node, "\(path).delimiter", allowEmpty: true) {
            let named = ["tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"]
            let value = named[text.lowercased()] ?? text
            if value.unicodeScalars.count == 1, let scalar = value.unicodeScalars.first, scalar.isASCII,
               !["\"", "\r", "\n"].contains(scalar) {
                csv.delimiter = scalar
            } else {
                problem(node, "\(path).delimiter", "expected one character such as ',', ';', '|' or tab, found \(describe(node))")
            }
        }
        if let encoding = choice(f["encoding"], "\(path).encoding", CSVSettings.Encoding.self) { csv.encoding = encoding }
        if let node = f["groupsColumn"] {
            if case .scalar = node, let column = string(node, "\(path).groupsColumn") {
                csv.groupsColumn = CSVSettings.GroupsColumn(column: column)
            } else if let g = fields(node, "\(path).groupsColumn", allowed: ConfigLoader.Keys.groupsColumn, required: ["column"]),
                      let column = string(g["column"], "\(path).groupsColumn.column") {
                var groups = CSVSettings.GroupsColumn(column: column)
                if let separator = string(g["separator"], "\(path).groupsColumn.separator") { groups.separator = separator }
                if let node = g["pathSeparator"] {
                    // An empty value or null: flat group names, no tree.
                    if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" {
                        groups.pathSeparator = nil
                    } else {
                        groups.pathSeparator = string(node, "\(path).groupsColumn.pathSeparator")
                    }
                }
                if groups.pathSeparator == groups.separator {
                    problem(node, "\(path).groupsColumn", "separator and pathSeparator must differ")
                }
                csv.groupsColumn = groups
            }
        }
        let mapping = f["mapping"].flatMap { self.mapping($0, "\(path).mapping") }
        var options = SyncOptions()
        // A file has no userAccountControl: disabled rows come from disabledWhen.attribute.
        options.disabledUserAccountControlBit = 0
        if let node = f["options"], let read = self.options(node, "\(path).options", defaults: options) { options = read }
        if let mapping {
            for field in options.requiredFields where mapping[field] == nil {
                problem(f["options"], "\(path).options.requiredFields", "'\(field)' is required but the mapping does not set it")
            }
        }
        guard problems.count == problemsBefore, let name, let mapping, file != nil, idColumn != nil else { return nil }
        var users = UserSearch(base: "")
        users.idAttribute = csv.idColumn
        return SourceSettings(name: name, type: .csv, connection: LDAPConnectionOptions(uris: []), bindDN: nil, passwordFile: nil,
                              passwordEnv: nil, allowInsecureBind: false, users: users,
                              groups: csv.groupsColumn.map(CSVSource.groupSearch), mapping: mapping, options: options, csv: csv,
                              http: http)
    }

    /// The HTTP endpoint of a source: url, auth, tls, allowInsecure, timeouts, retries.
    mutating func httpSettings(_ f: [String: Node], _ path: String) -> HTTPSettings? {
        guard let url = string(f["url"], "\(path).url") else { return nil }
        var http = HTTPSettings(url: url)
        if let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), parsed.host != nil {
            // checked
        } else {
            problem(f["url"], "\(path).url", "'\(url)' is not an https:// URL")
        }
        http.allowInsecure = bool(f["allowInsecure"], "\(path).allowInsecure") ?? false
        if url.lowercased().hasPrefix("http://") && !http.allowInsecure {
            problem(f["url"], "\(path).url", "plain http:// would send credentials and users unencrypted: use https://, or set allowInsecure: true (test servers on loopback only)")
        }
        if let origins = strings(f["allowedOrigins"], "\(path).allowedOrigins") {
            for origin in origins {
                let parsed = URLComponents(string: origin)
                if Origin(origin) == nil || !(parsed?.path ?? "").isEmpty && parsed?.path != "/" || parsed?.query != nil {
                    problem(f["allowedOrigins"], "\(path).allowedOrigins", "'\(origin)' is not an origin: give the scheme, host and port only (https://api2.example.com:8443)")
                } else if origin.lowercased().hasPrefix("http://") && !http.allowInsecure {
                    problem(f["allowedOrigins"], "\(path).allowedOrigins", "'\(origin)' is plain http://: credentials would travel unencrypted; use https://, or set allowInsecure: true (test servers only)")
                }
            }
            http.allowedOrigins = origins
        }
        if let value = seconds(f["connectTimeout"], "\(path).connectTimeout") { http.connectTimeout = value }
        if let value = seconds(f["timeout"], "\(path).timeout") { http.timeout = value }
        if let retries = int(f["retries"], "\(path).retries", min: 0) { http.maxAttempts = retries + 1 }
        if let node = f["tls"], let t = fields(node, "\(path).tls", allowed: ["caFile", "verify"]) {
            http.caFile = string(t["caFile"], "\(path).tls.caFile")
            if let verify = choice(t["verify"], "\(path).tls.verify", TLSOptions.Verify.self) {
                http.verify = verify == .demand || verify == .try
                if !http.verify && !http.allowInsecure {
                    problem(t["verify"], "\(path).tls.verify", "\(verify.rawValue) accepts any server's certificate: give tls.caFile instead, or set allowInsecure: true (test servers only)")
                }
            }
        }
        if let node = f["auth"], let a = fields(node, "\(path).auth", allowed: ConfigLoader.Keys.auth) {
            let given = ConfigLoader.Keys.auth.filter { a[$0] != nil }
            if given.count > 1 && !(given == ["bearerTokenEnv", "bearerTokenFile"]) {
                problem(node, "\(path).auth", "give one kind of auth: \(given.joined(separator: " or "))")
            }
            if a["bearerTokenEnv"] != nil && a["bearerTokenFile"] != nil {
                problem(node, "\(path).auth", "give bearerTokenEnv or bearerTokenFile, not both")
            }
            if a["bearerTokenEnv"] != nil || a["bearerTokenFile"] != nil {
                http.auth = .bearer(tokenFile: string(a["bearerTokenFile"], "\(path).auth.bearerTokenFile"),
                                    tokenEnv: string(a["bearerTokenEnv"], "\(path).auth.bearerTokenEnv"))
            } else if let node = a["basic"],
                      let b = fields(node, "\(path).auth.basic", allowed: ConfigLoader.Keys.basic, required: ["username"]),
                      let username = string(b["username"], "\(path).auth.basic.username") {
                if (b["passwordEnv"] == nil) == (b["passwordFile"] == nil) {
                    problem(node, "\(path).auth.basic", "give passwordEnv or passwordFile (one of them)")
                }
                http.auth = .basic(username: username, passwordFile: string(b["passwordFile"], "\(path).auth.basic.passwordFile"),
                                   passwordEnv: string(b["passwordEnv"], "\(path).auth.basic.passwordEnv"))
            } else if let node = a["oauth2"],
                      let o = fields(node, "\(path).auth.oauth2", allowed: ConfigLoader.Keys.oauth2, required: ["tokenURL", "clientID"]),
                      let tokenURL = string(o["tokenURL"], "\(path).auth.oauth2.tokenURL"),
                      let clientID = string(o["clientID"], "\(path).auth.oauth2.clientID") {
                if (o["clientSecretEnv"] == nil) == (o["clientSecretFile"] == nil) {
                    problem(node, "\(path).auth.oauth2", "give clientSecretEnv or clientSecretFile (one of them)")
                }
                if tokenURL.lowercased().hasPrefix("http://") && !http.allowInsecure {
                    problem(o["tokenURL"], "\(path).auth.oauth2.tokenURL", "plain http:// would send the client secret unencrypted: use https://, or set allowInsecure: true (test servers only)")
                }
                var oauth = HTTPSettings.OAuth2(tokenURL: tokenURL, clientID: clientID,
                                                clientSecretFile: string(o["clientSecretFile"], "\(path).auth.oauth2.clientSecretFile"),
                                                clientSecretEnv: string(o["clientSecretEnv"], "\(path).auth.oauth2.clientSecretEnv"),
                                                scope: string(o["scope"], "\(path).auth.oauth2.scope"))
                if let method = choice(o["clientAuthentication"], "\(path).auth.oauth2.clientAuthentication",
                                       HTTPSettings.OAuth2.ClientAuthentication.self) {
                    oauth.clientAuthentication = method
                }
                http.auth = .oauth2(oauth)
            }
        }
        return http
    }

    /// A `type: scim` or `type: json` source.
    mutating func restSource(_ f: [String: Node], _ path: String, type: SourceSettings.Kind, name: String?,
                             problemsBefore: Int) -> SourceSettings? {
        let http = httpSettings(f, path)
        var rest = RESTSettings()
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { rest.pageSize = size }
        rest.filter = string(f["filter"], "\(path).filter")
        var users = UserSearch(base: "")
        users.idAttribute = string(f["idAttribute"], "\(path).idAttribute") ?? "id"
        if case .failure(let error) = JSONPath.parse(users.idAttribute) { problem(f["idAttribute"], "\(path).idAttribute", error.description) }
        var groups: GroupSearch?
        if let node = f["groups"] {
            if let enabled = bool(node, "\(path).groups"), enabled {
                var search = GroupSearch(base: "")
                search.idAttribute = "id"
                search.nameAttribute = "displayName"
                search.membership = .member
                groups = search
                rest.groups = true
            }
        }
        if let node = f["records"], let pointer = string(node, "\(path).records", allowEmpty: true) {
            if !pointer.isEmpty && !pointer.hasPrefix("/") {
                problem(node, "\(path).records", "a JSON pointer starts with '/' (\"/value\", \"/data/users\"); \"\" is the page itself")
            }
            rest.records = pointer
        }
        if let node = f["paging"], let p = fields(node, "\(path).paging", allowed: ConfigLoader.Keys.paging) {
            let kinds = ["nextLink", "linkHeader", "page", "offset"].filter { p[$0] != nil }
            if kinds.count != 1 {
                problem(node, "\(path).paging", "give one of nextLink (a field with the next URL), linkHeader: true, page (a parameter) or offset (a parameter)")
            }
            let size = string(p["sizeParameter"], "\(path).paging.sizeParameter")
            if let field = string(p["nextLink"], "\(path).paging.nextLink") {
                rest.paging = .nextLink(field: field)
            } else if let link = bool(p["linkHeader"], "\(path).paging.linkHeader"), link {
                rest.paging = .linkHeader
            } else if let parameter = string(p["page"], "\(path).paging.page") {
                rest.paging = .page(parameter: parameter, start: int(p["firstPage"], "\(path).paging.firstPage") ?? 1, sizeParameter: size)
            } else if let parameter = string(p["offset"], "\(path).paging.offset") {
                rest.paging = .offset(parameter: parameter, limitParameter: size)
            }
        }
        let mapping = f["mapping"].flatMap { self.mapping($0, "\(path).mapping") }
        var options = SyncOptions()
        options.disabledUserAccountControlBit = 0
        // SCIM's active attribute (RFC 7643 section 4.1.1): false means disabled.
        if type == .scim { options.disabledWhenValue = SyncOptions.DisabledValue(attribute: "active", values: ["false"]) }
        if let node = f["options"], let read = self.options(node, "\(path).options", defaults: options) { options = read }
        if let mapping {
            for field in options.requiredFields where mapping[field] == nil {
                problem(f["options"], "\(path).options.requiredFields", "'\(field)' is required but the mapping does not set it")
            }
            for field in Mapping.fields + mapping.attributes.keys.sorted() {
                guard let rule = mapping[field] else { continue }
                for attribute in rule.attributeNames {
                    if case .failure(let error) = JSONPath.parse(attribute) {
                        problem(f["mapping"], "\(path).mapping.\(field)", error.description)
                    }
                }
            }
        }
        guard problems.count == problemsBefore, let name, let mapping, let http else { return nil }
        return SourceSettings(name: name, type: type, connection: LDAPConnectionOptions(uris: []), bindDN: nil, passwordFile: nil,
                              passwordEnv: nil, allowInsecureBind: false, users: users, groups: groups, mapping: mapping,
                              options: options, http: http, rest: rest)
    }

    /// A DN value (the empty root DN allowed), with a problem reported if it does not parse.
    mutating func distinguishedName(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path, allowEmpty: true) else { return nil }
        checkDN(text, node, path)
        return text
    }

    mutating func checkDN(_ text: String, _ node: Node?, _ path: String) {
        do {
            _ = try DistinguishedName(text)
        } catch {
            problem(node, path, error.reason)
        }
    }

    /// An RFC 4515 filter, or nil (with a problem reported) if it is malformed.
    mutating func filter(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        do {
            return try LDAPFilter.check(text)
        } catch {
            problem(node, path, error.reason)
            return nil
        }
    }

    mutating func userSearch(_ node: Node, _ path: String) -> UserSearch? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.users, required: ["base"]) else { return nil }
        guard let base = distinguishedName(f["base"], "\(path).base") else { return nil }
        var search = UserSearch(base: base)
        if let filter = filter(f["filter"], "\(path).filter") { search.filter = filter }
        if let scope = choice(f["scope"], "\(path).scope", SearchRequest.Scope.self) { search.scope = scope }
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { search.pageSize = size }
        if let id = string(f["idAttribute"], "\(path).idAttribute") { search.idAttribute = id }
        if let groups = strings(f["memberOf"], "\(path).memberOf") {
            for (i, dn) in groups.enumerated() { checkDN(dn, f["memberOf"], "\(path).memberOf[\(i)]") }
            search.memberOf = groups
        }
        if let strategy = choice(f["memberOfStrategy"], "\(path).memberOfStrategy", UserSearch.MemberOfStrategy.self) {
            search.memberOfStrategy = strategy
        }
        return search
    }

    mutating func groupSearch(_ node: Node, _ path: String) -> GroupSearch? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.groups, required: ["base"]) else { return nil }
        guard let base = distinguishedName(f["base"], "\(path).base") else { return nil }
        var search = GroupSearch(base: base)
        if let filter = filter(f["filter"], "\(path).filter") { search.filter = filter }
        if let scope = choice(f["scope"], "\(path).scope", SearchRequest.Scope.self) { search.scope = scope }
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { search.pageSize = size }
        search.idAttribute = string(f["idAttribute"], "\(path).idAttribute")
        if let name = string(f["nameAttribute"], "\(path).nameAttribute") { search.nameAttribute = name }
        if let lowercase = bool(f["lowercase"], "\(path).lowercase") { search.lowercase = lowercase }
        for key in ["include", "exclude"] {
            guard let pattern = string(f[key], "\(path).\(key)") else { continue }
            do {
                _ = try NSRegularExpression(pattern: pattern)
                if key == "include" { search.include = pattern } else { search.exclude = pattern }
            } catch {
                problem(f[key], "\(path).\(key)", "not a valid regular expression: \(pattern)")
            }
        }
        if let tree = bool(f["tree"], "\(path).tree") { search.tree = tree }
        if let membership = choice(f["membership"], "\(path).membership", GroupSearch.Membership.self) { search.membership = membership }
        return search
    }

    mutating func mapping(_ node: Node, _ path: String) -> Mapping? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.mapping) else { return nil }
        var mapping = Mapping()
        mapping.username = f["username"].flatMap { rule($0, "\(path).username") }
        mapping.email = f["email"].flatMap { rule($0, "\(path).email") }
        mapping.firstName = f["firstName"].flatMap { rule($0, "\(path).firstName") }
        mapping.lastName = f["lastName"].flatMap { rule($0, "\(path).lastName") }
        mapping.displayName = f["displayName"].flatMap { rule($0, "\(path).displayName") }
        mapping.manager = f["manager"].flatMap { rule($0, "\(path).manager") }
        if let node = f["attributes"] {
            if let extra = node.mapping {
                for (key, value) in extra {
                    guard let name = key.string, !name.isEmpty else {
                        problem(key, "\(path).attributes", "attribute names must be plain words")
                        continue
                    }
                    if let mark = key.mark { locations["\(path).attributes.\(name)"] = ConfigLocation(line: mark.line, column: mark.column) }
                    if let rule = rule(value, "\(path).attributes.\(name)") { mapping.attributes[name] = rule }
                }
            } else {
                problem(node, "\(path).attributes", "expected a mapping of name: attribute")
            }
        }
        return mapping
    }

    /// A field rule: `givenName` (the attribute), or `{ from: …, lowercase: true, … }`.
    mutating func rule(_ node: Node, _ path: String) -> FieldRule? {
        if case .scalar = node {
            guard let attribute = string(node, path) else { return nil }
            return FieldRule(from: attribute)
        }
        let problemsBefore = problems.count
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.rule) else { return nil }
        let keysMisspelt = problems.count > problemsBefore
        var rule = FieldRule(from: string(f["from"], "\(path).from"), template: string(f["template"], "\(path).template"))
        if rule.from == nil && rule.template == nil && f["default"] == nil && !keysMisspelt {
            problem(node, path, "give 'from' (an attribute) or 'template' (\"{givenName} {sn}\")")
        }
        if rule.from != nil && rule.template != nil {
            problem(f["template"], "\(path).template", "give 'from' or 'template', not both")
        }
        if let template = rule.template, TemplateParts(template) == nil {
            problem(f["template"], "\(path).template", "unbalanced braces in the template")
        }
        rule.lowercase = bool(f["lowercase"], "\(path).lowercase") ?? false
        rule.trim = bool(f["trim"], "\(path).trim") ?? true
        rule.defaultValue = string(f["default"], "\(path).default", allowEmpty: true)
        rule.join = string(f["join"], "\(path).join", allowEmpty: true)
        rule.rdnValue = bool(f["rdnValue"], "\(path).rdnValue") ?? false
        if let format = choice(f["format"], "\(path).format", FieldRule.Format.self) { rule.format = format }
        return rule
    }

    mutating func options(_ node: Node, _ path: String, defaults: SyncOptions = SyncOptions()) -> SyncOptions? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.options) else { return nil }
        var o = defaults
        if let v = bool(f["createUsers"], "\(path).createUsers") { o.createUsers = v }
        if let v = bool(f["updateUsers"], "\(path).updateUsers") { o.updateUsers = v }
        if let v = bool(f["deactivateMissing"], "\(path).deactivateMissing") { o.deactivateMissing = v }
        if let v = bool(f["reactivateReturning"], "\(path).reactivateReturning") { o.reactivateReturning = v }
        if let v = bool(f["lowercaseUsernames"], "\(path).lowercaseUsernames") { o.lowercaseUsernames = v }
        if let v = bool(f["lowercaseEmails"], "\(path).lowercaseEmails") { o.lowercaseEmails = v }
        if let fields = strings(f["requiredFields"], "\(path).requiredFields") {
            for field in fields where !Mapping.fields.contains(field) {
                problem(f["requiredFields"], "\(path).requiredFields", "'\(field)' is not a user field (\(Mapping.fields.joined(separator: ", ")))",
                        suggestion: nearest(field, in: Mapping.fields))
            }
            o.requiredFields = fields
        }
        if let v = choice(f["adoptExistingBy"], "\(path).adoptExistingBy", SyncOptions.AdoptBy.self) { o.adoptExistingBy = v }
        if let v = int(f["maxUsers"], "\(path).maxUsers", min: 1) { o.maxUsers = v }
        if let limit = limit(f["maxDeactivations"], "\(path).maxDeactivations", of: "users") { o.maxDeactivations = limit }
        if let limit = limit(f["maxSkipped"], "\(path).maxSkipped", of: "records") { o.maxSkipped = limit }
        if let node = f["disabledWhen"], let d = fields(node, "\(path).disabledWhen", allowed: ConfigLoader.Keys.disabledWhen) {
            if let bit = int(d["userAccountControlBit"], "\(path).disabledWhen.userAccountControlBit", min: 0) {
                if bit != 0 && bit & (bit - 1) != 0 {
                    problem(d["userAccountControlBit"], "\(path).disabledWhen.userAccountControlBit", "expected one bit's value (2 for ACCOUNTDISABLE)")
                }
                o.disabledUserAccountControlBit = bit
            }
            let attribute = string(d["attribute"], "\(path).disabledWhen.attribute")
            let values = strings(d["values"], "\(path).disabledWhen.values")
            if let attribute, let values, !values.isEmpty {
                o.disabledWhenValue = SyncOptions.DisabledValue(attribute: attribute, values: values)
            } else if (attribute == nil) != (values == nil) || values?.isEmpty == true {
                problem(node, "\(path).disabledWhen", "attribute and values go together: { attribute: status, values: [inactive] }")
            }
        }
        if let v = int(f["keepRecords"], "\(path).keepRecords") { o.keepRecords = v }
        return o
    }
}

/// A template split into literal text and `{attribute}` references.
struct TemplateParts: Equatable {
    enum Part: Equatable {
        case text(String)
        case attribute(String)
    }

    let parts: [Part]

    init?(_ template: String) {
        var parts: [Part] = []
        var current = ""
        var inBraces = false
        for c in template {
            switch c {
            case "{":
                if inBraces { return nil }
                if !current.isEmpty { parts.append(.text(current)) }
                current = ""
                inBraces = true
            case "}":
                if !inBraces || current.isEmpty { return nil }
                parts.append(.attribute(current.trimmingCharacters(in: .whitespaces)))
                current = ""
                inBraces = false
            default:
                current.append(c)
            }
        }
        if inBraces { return nil }
        if !current.isEmpty { parts.append(.text(current)) }
        self.parts = parts
    }
}
