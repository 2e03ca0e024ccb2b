import Foundation
import LDAP
import Logging

/// Where a sync's records come from: a directory, a CSV file, a REST API or a program. A source reads
/// everything its settings select, page by page, as `SourceRecord`s with their locators, and throws if the read is not complete
/// (a page error, a size or time limit, a dropped connection): a partial read must never be
/// mistaken for a directory in which users were deleted.
public protocol RecordSource: Sendable {
    /// Reads every user record, handing each page to `page` as it arrives.
    @discardableResult
    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo

    /// Reads every group record (sources without groups read none).
    func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws
}

extension RecordSource {
    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {}
}

/// What a source says about a read beyond its records.
public struct SourceReadInfo: Sendable {
    /// The server itself limited the users to the members of `users.memberOf` (AD's in-chain
    /// matching rule); false when the engine must do it from the group tree.
    public var usersScopedByServer = false

    public init(usersScopedByServer: Bool = false) { self.usersScopedByServer = usersScopedByServer }
}

/// An LDAP or Active Directory source: connect (with failover), bind, paged search.
public struct LDAPSource: RecordSource {
    public let settings: SourceSettings
    /// The directory part of `settings`.
    public let directory: LDAPSourceSettings
    /// Stops reading after this many entries (previews); nil reads everything.
    public var limit: Int?
    /// Replaces the configured filter (previews).
    public var filter: String?
    public var logger: Logger

    public init(settings: SourceSettings, directory: LDAPSourceSettings, limit: Int? = nil, filter: String? = nil,
                logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.directory = directory
        self.limit = limit
        self.filter = filter
        self.logger = logger
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        try await withConnection { ldap in try await searchUsers(ldap, attributes: attributes, page: page) }
    }

    /// Connects (saying how, at every run: whether TLS protects the bind, and the certificate
    /// check in force with where it came from: an inherited LDAPTLS_REQCERT=never must not go
    /// unseen), binds, runs `body` and closes, whatever happens.
    func withConnection<T>(_ body: (LDAPConnection) async throws -> T) async throws -> T {
        let credentials = try directory.credentials()
        let ldap = try await LDAPConnection.connect(directory.connection)
        do {
            let verify = await ldap.certificateVerification
            let origin = await ldap.certificateVerificationOrigin
            let uri = await ldap.uri, tls = await ldap.isTLS
            logger.info("directory connected", metadata: [
                "uri": "\(uri)", "tls": "\(tls ? "on" : "off")",
                "verify": "\(tls ? verify?.rawValue ?? "demand" : "none")",
                "verifyFrom": "\(origin == .options ? "config (tls.verify)" : origin.description)",
            ])
            try await ldap.bind(credentials, allowInsecure: directory.allowInsecure)
            let result = try await body(ldap)
            await ldap.close()
            return result
        } catch {
            await ldap.close()
            throw error
        }
    }

    /// The users' search: the configured base, scope and filter, narrowed by `users.memberOf`
    /// on servers that match nested membership themselves, and by `and` when given (a delta
    /// re-reading the entries that changed).
    func searchUsers(_ ldap: LDAPConnection, attributes: [String], and extra: String? = nil,
                     page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        var info = SourceReadInfo()
        var userFilter = filter ?? directory.users.filter
        let memberOf = directory.users.memberOf
        if !memberOf.isEmpty && directory.users.memberOfStrategy != .tree {
            var inChain = directory.users.memberOfStrategy == .inChain
            if !inChain { inChain = try await ldap.rootDSE().supportsInChainMatchingRule }
            if inChain {
                // LDAP_MATCHING_RULE_IN_CHAIN walks nested groups on the server: one search
                // returns the direct and nested members of the chosen groups.
                let clauses = memberOf.map { "(memberOf:\(ActiveDirectoryOIDs.matchingRuleInChain):=\(LDAPFilter.escape($0)))" }
                userFilter = "(&\(userFilter)" + (clauses.count == 1 ? clauses[0] : "(|\(clauses.joined()))") + ")"
                info.usersScopedByServer = true
            }
        }
        if let extra { userFilter = "(&\(userFilter)\(extra))" }
        let request = SearchRequest(base: directory.users.base, scope: directory.users.scope,
                                    filter: userFilter, attributes: attributes)
        // A preview reads one page of `limit` entries and stops: a size limit instead would make
        // the server end the search with sizeLimitExceeded, which a sync must treat as a failure.
        let pageSize = limit.map { min(directory.users.pageSize, $0) } ?? directory.users.pageSize
        var count = 0
        for try await result in ldap.pagedSearch(request, pageSize: pageSize) {
            count += result.entries.count
            try await page(result.entries.map(SourceRecord.init))
            if let limit, count >= limit { break }
        }
        return info
    }

    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        guard let groups = directory.groups, let mapping = settings.groups else { return }
        let ldap = try await LDAPConnection.connect(directory.connection)
        do {
            try await ldap.bind(try directory.credentials(), allowInsecure: directory.allowInsecure)
            // completeRangedAttributes: AD sends at most 1,500 values of member per entry
            // (member;range=0-1499); the search asks for the rest before handing the entry on.
            let request = SearchRequest(base: groups.base, scope: groups.scope, filter: groups.effectiveFilter(mapping.membership),
                                        attributes: attributes, completeRangedAttributes: true)
            for try await result in ldap.pagedSearch(request, pageSize: groups.pageSize) {
                try await page(result.entries.map(SourceRecord.init))
            }
        } catch {
            await ldap.close()
            throw error
        }
        await ldap.close()
    }
}

extension LDAPSourceSettings {
    /// The bind credentials: a simple bind with the configured DN and password, or anonymous.
    public func credentials() throws(Secrets.Unavailable) -> BindCredentials {
        let password = try Secrets.password(file: passwordFile, environmentVariable: passwordEnv)
        if let dn = bindDN, let password { return .simple(dn: dn, password: password) }
        return .anonymous
    }
}

extension SourceSettings {
    /// The source these settings describe; `limit` stops after that many records (previews).
    public func recordSource(limit: Int? = nil, logger: Logger = Logger(label: "usersync")) -> any RecordSource {
        switch kind {
        case .ldap(let directory): return LDAPSource(settings: self, directory: directory, limit: limit, logger: logger)
        case .csv(let csv): return CSVSource(settings: self, csv: csv, limit: limit, logger: logger)
        case .scim(let rest): return SCIMSource(settings: self, endpoint: rest, limit: limit, logger: logger)
        case .json(let rest): return JSONSource(settings: self, endpoint: rest, limit: limit, logger: logger)
        case .command(let command): return CommandSource(settings: self, command: command, limit: limit, logger: logger)
        case .entra(let entra): return EntraSource(settings: self, entra: entra, limit: limit, logger: logger)
        case .okta(let okta): return OktaSource(settings: self, okta: okta, limit: limit, logger: logger)
        }
    }

    /// Where the records come from, for logs and messages.
    public var origin: String {
        switch kind {
        case .ldap(let d): return "\(d.connection.uris.joined(separator: " ")) base '\(d.users.base)' filter '\(d.users.filter)'"
        case .csv(let csv): return csv.http.map { "file \($0.url)" } ?? "file \(csv.path)"
        case .scim(let r): return "SCIM \(r.http.url)" + (r.rest.filter.map { " filter '\($0)'" } ?? "")
        case .json(let r): return "JSON \(r.http.url)"
        case .command(let c): return "command \(c.command.display)"
        case .entra(let e): return "Entra ID tenant \(e.tenantID) via \(e.graphBase)" + (e.userFilter.map { " filter '\($0)'" } ?? "")
        case .okta(let o): return "Okta \(o.base)" + ((o.userFilter ?? o.userSearch).map { " users '\($0)'" } ?? "")
        }
    }
}
