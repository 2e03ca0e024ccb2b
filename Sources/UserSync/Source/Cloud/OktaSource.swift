import Foundation
import LDAP
import Logging

/// An Okta org through its Management API (`type: okta`).
///
/// Users: `GET /api/v1/users?limit=…[&filter=…|&search=…]`, following the `Link: <…>;
/// rel="next"` header (Okta's cursor paging: "the next link is absent on the last page"). A
/// plain listing leaves out DEPROVISIONED users, who are then missing and deactivated as any
/// missing user is; `status` becomes the user's state (the source's default `disabledWhen`).
/// A user's locator is `/users/<id>`.
///
/// Groups: `GET /api/v1/groups`, then each group's `GET /api/v1/groups/{id}/users`. Okta's
/// groups do not nest.
///
/// Okta's rate limits are per endpoint and per minute; every answer says what is left
/// (`X-Rate-Limit-Remaining`) and when the window ends (`X-Rate-Limit-Reset`): the fetcher
/// waits for the end of a spent window instead of running into a 429 (Okta's guide "Rate
/// limit best practices"), and after a 429 waits until the reset it names.
public struct OktaSource: RecordSource {
    public let settings: SourceSettings
    public let okta: OktaSettings
    public var limit: Int?
    public var logger: Logger
    static let memberConcurrency = 2

    public init(settings: SourceSettings, okta: OktaSettings, limit: Int? = nil, logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.okta = okta
        self.limit = limit
        self.logger = logger
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let records = try JSONRecords(attributes: attributes)
        var query = [("limit", "\(limit.map { min($0, okta.pageSize) } ?? okta.pageSize)")]
        if let filter = okta.userFilter { query.append(("filter", filter)) }
        if let search = okta.userSearch { query.append(("search", search)) }
        try await HTTPFetcher.with(okta.http, logger: logger) { fetcher in
            var read = 0
            try await list(fetcher, URLText.adding(query, to: okta.base + "/api/v1/users"), what: "users", scope: "okta.users.read") { objects in
                try await page(objects.map { user in
                    let id = (user as? [String: Any])?["id"].map { "\($0)" } ?? "?"
                    return records.record(user, locator: .resource("/users/\(id)"))
                })
                read += objects.count
                return limit.map { read < $0 } ?? true
            }
        }
        return SourceReadInfo()
    }

    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        guard okta.groups else { return }
        var query = [("limit", "\(okta.pageSize)")]
        if let filter = okta.groupFilter { query.append(("filter", filter)) }
        if let search = okta.groupSearch { query.append(("search", search)) }
        let pageSize = okta.pageSize
        try await HTTPFetcher.with(okta.http, logger: logger) { fetcher in
            var groups: [CloudGroups.Group] = []
            try await list(fetcher, URLText.adding(query, to: okta.base + "/api/v1/groups"), what: "groups", scope: "okta.groups.read") { objects in
                for object in objects {
                    guard let object = object as? [String: Any], let id = object["id"].map({ "\($0)" }) else { continue }
                    groups.append(CloudGroups.Group(id: id, name: JSONPath.member("profile", of: object).flatMap { ($0 as? [String: Any])?["name"] as? String }))
                }
                return limit.map { groups.count < $0 } ?? true
            }
            logger.info("Okta groups listed; reading their members", metadata: ["groups": "\(groups.count)"])
            try await CloudGroups.read(groups, concurrency: Self.memberConcurrency, nameAttribute: "name", members: { id in
                var links: [String] = []
                let url = URLText.adding([("limit", "\(pageSize)")], to: okta.base + "/api/v1/groups/\(id)/users")
                try await list(fetcher, url, what: "group members", scope: "okta.groups.read") { objects in
                    links += objects.compactMap { ($0 as? [String: Any])?["id"].map { "/users/\($0)" } }
                    return true
                }
                return links
            }, page: page)
        }
    }

    /// Every page of a listing: a JSON array, then the `rel="next"` link until there is none.
    private func list(_ fetcher: HTTPFetcher, _ first: String, what: String, scope: String,
                      _ page: ([Any]) async throws -> Bool) async throws {
        let oauth: Bool
        if case .oauth2? = okta.http.auth { oauth = true } else { oauth = false }
        try await PageChain.follow(from: first) { url in
            let fetched: HTTPFetcher.Page
            do {
                fetched = try await fetcher.get(url)
            } catch let error as HTTPSourceError where error.status == 401 || error.status == 403 {
                throw Self.refused(error, what: what, scope: scope, oauth: oauth)
            }
            guard let values = try fetched.json() as? [Any] else {
                throw HTTPSourceError(kind: .malformed, url: url, message: "expected a JSON list of \(what)")
            }
            guard try await page(values) else { return nil }
            return JSONSource.nextLink(fetched.headers[canonicalForm: "Link"].map(String.init))
        }
    }

    /// Okta's 401 (E0000011, an invalid token) and 403 (E0000006; with OAuth, a scope not
    /// granted), with what to do.
    static func refused(_ error: HTTPSourceError, what: String, scope: String, oauth: Bool) -> HTTPSourceError {
        let body = (error.body.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
        let code = body["errorCode"] as? String
        let summary = body["errorSummary"] as? String
        let said = [code, summary].compactMap { $0 }.joined(separator: " ")
        let advice: String
        if error.status == 401 {
            advice = oauth ? "the access token was refused: check oauth.clientId and that keyFile is the key registered for the service app"
                           : "the API token was refused: it may be revoked, expired (30 days unused) or mistyped; create one under Security → API → Tokens"
        } else if oauth {
            advice = "the service app may not read \(what): grant it the scope \(scope) (Applications → the app → Okta API Scopes) and an admin role that can read them"
        } else {
            advice = "the API token's administrator may not read \(what): tokens act with the rights of the admin who made them; use one from an admin with a read-only administrator role or better"
        }
        return HTTPSourceError(kind: .authentication, url: error.url, message: "\(error.status ?? 0) \(said.isEmpty ? "refused" : said): \(advice)",
                               status: error.status, body: error.body)
    }
}
