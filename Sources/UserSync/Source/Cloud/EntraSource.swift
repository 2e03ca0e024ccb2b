import Foundation
import LDAP
import Logging

/// Microsoft Entra ID through Microsoft Graph v1.0 (`type: entra`).
///
/// Users: `GET /users?$select=…&$top=…[&$filter=…]`, following `@odata.nextLink` to the end.
/// `$select` names every property the mapping reads: without it Graph returns only a default
/// set, which lacks `accountEnabled` ("By default, only a limited set of properties are
/// returned", Graph's user-list reference). A user's locator is `/users/<id>`.
///
/// Groups: `GET /groups`, then each group's `GET /groups/{id}/members` (direct members; a
/// nested group is a member whose `@odata.type` is `#microsoft.graph.group`), as records whose
/// `member` values are `/users/<id>` and `/groups/<id>`: the same DAG as a directory's groups.
/// Devices, service principals and contacts among the members are left out.
///
/// A 403 names the Graph permission to grant. Throttling (429 with Retry-After) and the token
/// (fetched again after a 401) are `HTTPFetcher`'s.
public struct EntraSource: RecordSource {
    public let settings: SourceSettings
    public let entra: EntraSettings
    public var limit: Int?
    public var logger: Logger
    /// Groups whose members are read at once.
    static let memberConcurrency = 4

    public init(settings: SourceSettings, entra: EntraSettings, limit: Int? = nil, logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.entra = entra
        self.limit = limit
        self.logger = logger
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let records = try JSONRecords(attributes: attributes)
        var query = [("$select", Self.select(attributes + [settings.stableID, "id"]).joined(separator: ",")),
                     ("$top", "\(limit.map { min($0, entra.pageSize) } ?? entra.pageSize)")]
        if let filter = entra.userFilter { query.append(("$filter", filter)) }
        try await HTTPFetcher.with(entra.http, logger: logger) { fetcher in
            var read = 0
            try await list(fetcher, URLText.adding(query, to: entra.graphBase + "/users"), need: "User.Read.All", what: "users") { objects in
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
        guard entra.groups else { return }
        var query = [("$select", "id,displayName"), ("$top", "\(entra.pageSize)")]
        if let filter = entra.groupFilter { query.append(("$filter", filter)) }
        let pageSize = entra.pageSize
        try await HTTPFetcher.with(entra.http, logger: logger) { fetcher in
            var groups: [CloudGroups.Group] = []
            try await list(fetcher, URLText.adding(query, to: entra.graphBase + "/groups"), need: "GroupMember.Read.All", what: "groups") { objects in
                for object in objects {
                    guard let object = object as? [String: Any], let id = object["id"].map({ "\($0)" }) else { continue }
                    groups.append(CloudGroups.Group(id: id, name: object["displayName"] as? String))
                }
                return limit.map { groups.count < $0 } ?? true
            }
            logger.info("Entra ID groups listed; reading their members", metadata: ["groups": "\(groups.count)"])
            try await CloudGroups.read(groups, concurrency: Self.memberConcurrency, nameAttribute: "displayName",
                                       members: { id in try await self.members(of: id, fetcher: fetcher, pageSize: pageSize) }, page: page)
        }
    }

    /// A group's direct members as `/users/<id>` and `/groups/<id>`.
    private func members(of group: String, fetcher: HTTPFetcher, pageSize: Int) async throws -> [String] {
        let url = URLText.adding([("$select", "id"), ("$top", "\(pageSize)")], to: entra.graphBase + "/groups/\(group)/members")
        var links: [String] = []
        try await list(fetcher, url, need: "GroupMember.Read.All", what: "group members") { objects in
            for object in objects {
                guard let object = object as? [String: Any], let id = object["id"].map({ "\($0)" }) else { continue }
                switch object["@odata.type"] as? String {
                case "#microsoft.graph.user": links.append("/users/\(id)")
                case "#microsoft.graph.group": links.append("/groups/\(id)")
                default: continue  // devices, service principals, contacts: not users
                }
            }
            return true
        }
        return links
    }

    /// Every page of a Graph collection: `value`, then `@odata.nextLink` until there is none
    /// (Graph's paging guide: "continue to call the @odata.nextLink URL until it is no longer
    /// returned"). `page` returns false to stop early (previews).
    private func list(_ fetcher: HTTPFetcher, _ first: String, need permission: String, what: String,
                      _ page: ([Any]) async throws -> Bool) async throws {
        try await PageChain.follow(from: first) { url in
            let json: Any
            do {
                json = try await fetcher.get(url).json()
            } catch let error as HTTPSourceError where error.status == 403 {
                throw Self.forbidden(error, permission: permission, what: what, clientID: entra.clientID)
            }
            guard let object = json as? [String: Any], let values = object["value"] as? [Any] else {
                throw HTTPSourceError(kind: .malformed, url: url, message: "expected a Graph collection (an object with a value list)")
            }
            guard try await page(values) else { return nil }
            return object["@odata.nextLink"] as? String
        }
    }

    /// Graph's 403 (Authorization_RequestDenied): the token lacks an application permission.
    static func forbidden(_ error: HTTPSourceError, permission: String, what: String, clientID: String) -> HTTPSourceError {
        let code = graphErrorCode(error.body) ?? "Forbidden"
        return HTTPSourceError(kind: .authentication, url: error.url,
                               message: "403 \(code): the application may not read \(what). Grant it the Microsoft Graph application permission \(permission) (Entra admin center → App registrations → \(clientID) → API permissions → Add a permission → Microsoft Graph → Application permissions), then 'Grant admin consent'; 'usersync test-bind' lists the permissions its token carries",
                               status: 403, body: error.body)
    }

    /// `error.code` of a Graph error body.
    static func graphErrorCode(_ body: String?) -> String? {
        guard let body, let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let error = json["error"] as? [String: Any] else { return nil }
        return error["code"] as? String
    }

    /// The properties to `$select`: the first name of each path the mapping reads
    /// (`onPremisesExtensionAttributes.extensionAttribute1` → `onPremisesExtensionAttributes`).
    static func select(_ paths: [String]) -> [String] {
        var seen: Set<String> = []
        var result: [String] = []
        for path in paths {
            let first = path.prefix { $0 != "." && $0 != "[" }
            let name = String(first)
            if !name.isEmpty, seen.insert(name.lowercased()).inserted { result.append(name) }
        }
        return result
    }

    /// The application permissions (`roles`) the source's token carries, and those it needs
    /// that are missing: for test-bind.
    public func permissions() async throws -> (granted: [String], missing: [String]) {
        let token = try await HTTPFetcher.with(entra.http, logger: logger) { fetcher in try await fetcher.accessToken() }
        let roles = token.flatMap(ClientAssertion.claims(ofJWT:))?["roles"] as? [String] ?? []
        let missing = entra.neededPermissions.filter { need in !need.orAnyOf.contains { roles.contains($0) } }.map(\.permission)
        return (roles.sorted(), missing)
    }
}
