import Foundation
import LDAP
import Logging

/// `usersync test-bind --source NAME` for a source that is not a directory: the file or the
/// endpoint is there and answers (TLS and auth included), a CSV file has the columns the mapping
/// reads, and the first page parses and maps. Nothing is written.
public struct SourceCheck: Sendable {
    public let source: SourceSettings
    /// Records of the first page to read and map.
    public var pageLimit: Int
    /// How many mapped usernames and skip reasons to list.
    public var listLimit: Int
    public var logger: Logger

    public init(source: SourceSettings, pageLimit: Int = 1000, listLimit: Int = 10, logger: Logger = Logger(label: "usersync")) {
        self.source = source
        self.pageLimit = pageLimit
        self.listLimit = listLimit
        self.logger = logger
    }

    /// Runs the check; a failure is in `report.error`, not thrown.
    public func run() async -> SourceCheckReport {
        let started = ContinuousClock.now
        var report = SourceCheckReport(source: source.name, type: source.type.rawValue, location: source.origin)
        do {
            guard source.type != .ldap else {
                throw SyncConfigurationError(description: "an ldap source is checked by BindTest")
            }
            if case .csv(let csv) = source.kind, csv.http == nil { report.columns = try CSVFile(csv).header }
            if case .entra(let entra) = source.kind {
                // The token first: its roles say what Graph will refuse before it does.
                let permissions = try await EntraSource(settings: source, entra: entra, logger: logger).permissions()
                report.permissions = SourceCheckReport.Permissions(granted: permissions.granted, needed: entra.neededPermissions.map(\.permission),
                                                                   missing: permissions.missing)
            }
            let mapper = Mapper(source: source)
            let collected = RecordCollector()
            var attributes = mapper.requestedAttributes
            if source.groups?.membership == .memberOf { attributes.append("memberOf") }
            var reader = source.recordSource(limit: pageLimit, logger: logger)
            if var csv = reader as? CSVSource {
                csv.pageSize = pageLimit
                reader = csv
            }
            try await reader.read(attributes: attributes) { entries in collected.add(entries) }
            for entry in collected.records.prefix(pageLimit) {
                let user = mapper.map(entry)
                report.recordsRead += 1
                if let reason = user.skipReason {
                    report.skipped += 1
                    if report.skipReasons.count < listLimit { report.skipReasons.append("\(user.locator): \(reason)") }
                } else if report.samples.count < listLimit {
                    report.samples.append(user.username ?? "?")
                }
                if source.groups?.membership == .memberOf { report.groupsNamed += entry.strings("memberOf").count }
            }
            if case .scim(let endpoint) = source.kind, source.groups != nil {
                let groups = RecordCollector()
                try await SCIMSource(settings: source, endpoint: endpoint, limit: listLimit, logger: logger)
                    .readGroups(attributes: []) { entries in groups.add(entries) }
                report.groupsRead = groups.records.count
            }
            if source.type == .entra || source.type == .okta, source.groups != nil {
                let groups = RecordCollector()
                try await source.recordSource(limit: listLimit, logger: logger).readGroups(attributes: []) { entries in groups.add(entries) }
                report.groupsRead = groups.records.count
            }
        } catch {
            let failure = SyncFailure(error)
            report.error = SourceCheckReport.Failure(kind: failure.kind, message: failure.message,
                                                     hint: SourceCheck.hint(failure.kind, source))
        }
        report.durationSeconds = (ContinuousClock.now - started).secondsValue
        return report
    }

    static func hint(_ kind: FailureKind, _ source: SourceSettings) -> String? {
        switch (source.type, kind) {
        case (.csv, .unreachable) where source.http == nil: return "check the path and that the account running usersync may read the file"
        case (.csv, .malformed): return "fix the file at that place, or export it again (usersync never syncs part of a file)"
        case (.scim, .authentication), (.json, .authentication): return "check auth: the token (bearerTokenEnv/File), basic password or OAuth client secret, and the account's rights"
        case (.scim, .unreachable), (.json, .unreachable), (.csv, .unreachable):
            return "check url, that the server answers, and timeout/retries; 'curl -v' the URL from this machine"
        case (.command, .malformed): return "fix what the program prints at that line (the whole output is read before anything changes)"
        case (.command, .timeout): return "raise timeout, or make the program faster"
        case (.command, .configuration): return "check command (a list: program, then arguments), workingDirectory and that the account running usersync may run it"
        case (.entra, .authentication):
            return "check tenantId, clientId and the secret or certificate of the app registration, and that the application permissions above are granted with admin consent"
        case (.okta, .authentication): return "check apiTokenFile/apiTokenEnv (or oauth), and the rights of the admin or service app behind it"
        case (.entra, .unreachable): return "check that this machine reaches login.microsoftonline.com and graph.microsoft.com (a proxy?), and timeout/retries"
        case (_, .tls): return "give tls.caFile with the CA that signed the server's certificate"
        default: return nil
        }
    }
}

/// What `SourceCheck` found.
public struct SourceCheckReport: Codable, Sendable {
    public var source: String
    public var type: String
    /// The file (or URL) read.
    public var location: String
    /// A CSV file's header.
    public var columns: [String]?
    /// Records of the first page read (at most the check's page limit).
    public var recordsRead = 0
    /// Of those, records the mapping skips (a missing required field, no stable id).
    public var skipped = 0
    public var skipReasons: [String] = []
    /// The first usernames the mapping made.
    public var samples: [String] = []
    /// Group memberships the rows named (a CSV groups column).
    public var groupsNamed = 0
    /// SCIM with groups: groups of the first page of /Groups (Entra ID: of /groups, with their members).
    public var groupsRead: Int?
    /// Entra ID: the application permissions the token carries (its `roles` claim) against
    /// those the source needs.
    public var permissions: Permissions?
    public var durationSeconds = 0.0
    public var error: Failure?

    public init(source: String, type: String, location: String) {
        self.source = source
        self.type = type
        self.location = location
    }

    public struct Permissions: Codable, Sendable {
        public var granted: [String]
        public var needed: [String]
        /// Needed and neither granted nor included in one granted (Directory.Read.All).
        public var missing: [String]
    }

    public struct Failure: Codable, Sendable {
        /// `unreachable`, `malformed`, `configuration`, …
        public var kind: FailureKind
        public var message: String
        public var hint: String?
    }
}
