import Foundation
import LDAP

/// Where a sync's records come from: a directory, later a CSV file or a REST API. A source
/// reads everything its settings select, page by page, and throws if the read is not complete
/// (a page error, a size or time limit, a dropped connection): a partial read must never be
/// mistaken for a directory in which users were deleted.
public protocol RecordSource: Sendable {
    /// Reads every record, handing each page to `page` as it arrives.
    func read(attributes: [String], page: @Sendable ([LDAPEntry]) async throws -> Void) async throws
}

/// An LDAP or Active Directory source: connect (with failover), bind, paged search.
public struct LDAPSource: RecordSource {
    public let settings: SourceSettings
    /// Stops reading after this many entries (previews); nil reads everything.
    public var limit: Int?
    /// Replaces the configured filter (previews).
    public var filter: String?

    public init(settings: SourceSettings, limit: Int? = nil, filter: String? = nil) {
        self.settings = settings
        self.limit = limit
        self.filter = filter
    }

    public func read(attributes: [String], page: @Sendable ([LDAPEntry]) async throws -> Void) async throws {
        let credentials = try settings.credentials()
        let ldap = try await LDAPConnection.connect(settings.connection)
        do {
            try await ldap.bind(credentials, allowInsecure: settings.allowInsecureBind)
            let request = SearchRequest(base: settings.users.base, scope: settings.users.scope,
                                        filter: filter ?? settings.users.filter, attributes: attributes)
            // A preview reads one page of `limit` entries and stops: a size limit instead would make
            // the server end the search with sizeLimitExceeded, which a sync must treat as a failure.
            let pageSize = limit.map { min(settings.users.pageSize, $0) } ?? settings.users.pageSize
            var count = 0
            for try await result in ldap.pagedSearch(request, pageSize: pageSize) {
                count += result.entries.count
                try await page(result.entries)
                if let limit, count >= limit { break }
            }
        } catch {
            await ldap.close()
            throw error
        }
        await ldap.close()
    }
}

extension SourceSettings {
    /// The bind credentials: a simple bind with the configured DN and password, or anonymous.
    public func credentials() throws(Secrets.Unavailable) -> BindCredentials {
        let password = try Secrets.password(file: passwordFile, environmentVariable: passwordEnv)
        if let dn = bindDN, let password { return .simple(dn: dn, password: password) }
        return .anonymous
    }
}
