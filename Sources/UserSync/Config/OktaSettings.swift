import Foundation

/// A `type: okta` source: an Okta org's users and groups through its Management API
/// (`https://<domain>/api/v1/…`), with an API token (SSWS) or OAuth 2.0 for Okta
/// (client credentials with a private key, scopes okta.users.read and okta.groups.read).
public struct OktaSettings: Sendable, Equatable {
    /// `https://<domain>`; its auth, TLS, timeouts and retries, and the rate-limit pacing, are
    /// in `http`.
    public var http: HTTPSettings
    /// `filter` on /api/v1/users (`status eq "ACTIVE"`, `lastUpdated gt "…"`).
    public var userFilter: String?
    /// `search` on /api/v1/users (`profile.department eq "Sales"`); unlike a plain listing it
    /// also returns DEPROVISIONED users.
    public var userSearch: String?
    /// `limit`: users (and groups, members) per page, at most 200.
    public var pageSize = 200
    /// Read /api/v1/groups and their members.
    public var groups = false
    /// `filter` on /api/v1/groups (`type eq "OKTA_GROUP"`).
    public var groupFilter: String?
    /// `search` on /api/v1/groups (`profile.name sw "Sales"`).
    public var groupSearch: String?

    public init(http: HTTPSettings) { self.http = http }

    /// `https://example.okta.com`.
    public var base: String { http.url }
}
