import Foundation
import LDAP
import Logging

/// JSON records as the engine takes them: a record whose attributes are the paths the mapping
/// reads (`userName`, `name.givenName`, `emails[primary eq true].value`), each with the values
/// found at it.
struct JSONRecords: Sendable {
    let paths: [(name: String, path: JSONPath)]

    init(attributes: [String]) throws {
        var paths: [(String, JSONPath)] = []
        for name in attributes {
            switch JSONPath.parse(name) {
            case .success(let path): paths.append((name, path))
            case .failure(let error): throw SyncConfigurationError(description: error.description)
            }
        }
        self.paths = paths
    }

    func record(_ record: Any, locator: RecordLocator) -> SourceRecord {
        var attributes: [LDAPAttribute] = []
        for (name, path) in paths {
            let values = path.values(in: record).filter { !$0.isEmpty }
            if !values.isEmpty { attributes.append(LDAPAttribute(name: name, values: values.map { LDAPValue($0) })) }
        }
        return SourceRecord(locator, attributes: attributes)
    }
}

enum URLText {
    /// `url` with `items` added to its query (percent-encoded).
    static func adding(_ items: [(String, String)], to url: String) -> String {
        guard !items.isEmpty else { return url }
        let query = items.map { "\(HTTPFetcher.formEncode($0.0))=\(HTTPFetcher.formEncode($0.1))" }.joined(separator: "&")
        return url + (url.contains("?") ? "&" : "?") + query
    }

    /// A SCIM endpoint below the base URL (`…/scim/v2` + `/Users`).
    static func endpoint(_ base: String, _ resource: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + resource
    }

    /// `next` resolved against the page it came from.
    static func resolve(_ next: String, against current: String) -> String {
        URL(string: next, relativeTo: URL(string: current))?.absoluteString ?? next
    }
}

/// A SCIM 2.0 service provider (RFC 7643/7644): `/Users` and, with `groups: true`, `/Groups`,
/// read with `startIndex`/`count` paging until `totalResults`. A user's locator is
/// `/Users/<id>`; group members point to `/Groups/<value>` when the value is a group's id (else
/// by their `type` or `$ref`), or to `/Users/<value>`, so nesting works as in a directory. `active: false` disables a user (the
/// source's default `disabledWhen`).
public struct SCIMSource: RecordSource {
    public let settings: SourceSettings
    /// The endpoint and paging part of `settings`.
    public let endpoint: RESTSourceSettings
    public var limit: Int?
    public var logger: Logger

    public init(settings: SourceSettings, endpoint: RESTSourceSettings, limit: Int? = nil,
                logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.endpoint = endpoint
        self.limit = limit
        self.logger = logger
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let records = try JSONRecords(attributes: attributes)
        let rest = endpoint.rest
        try await HTTPFetcher.with(endpoint.http, logger: logger) { fetcher in
            try await readList(fetcher, resource: "Users", filter: rest.filter, pageSize: rest.pageSize) { resources in
                try await page(resources.map { resource in
                    let id = (resource as? [String: Any])?["id"].map { "\($0)" } ?? "?"
                    return records.record(resource, locator: .resource("/Users/\(id)"))
                })
            }
        }
        return SourceReadInfo()
    }

    /// Reads every group before handing any on: a member is a group when its `value` is the id
    /// of a group read, whatever its `type` or `$ref` say or omit (RFC 7643 section 4.2 makes
    /// both optional, and servers such as PyPI's scim2-server send neither; ids are unique
    /// across a service provider's resources, section 3.1). Only a member whose id matches no
    /// group falls back to the hints, for the unresolved count. The groups are kept as the
    /// entries they become (ids, names and member ids), not as their JSON.
    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        guard settings.groups != nil else { return }
        let rest = endpoint.rest
        var groups: [SCIMGroup] = []
        try await HTTPFetcher.with(endpoint.http, logger: logger) { fetcher in
            try await readList(fetcher, resource: "Groups", filter: nil, pageSize: rest.pageSize) { resources in
                groups += resources.map(SCIMGroup.init)
            }
        }
        let ids = Set(groups.compactMap(\.id))
        var start = 0
        while start < groups.count {
            let end = min(start + rest.pageSize, groups.count)
            try await page(groups[start..<end].map { $0.record(groupIDs: ids) })
            start = end
        }
    }

    /// Pages of a resource type, until `totalResults`. A total that changes between pages means
    /// the list shifted under the read (index paging would skip or repeat someone): the read
    /// fails rather than miss a user.
    func readList(_ fetcher: HTTPFetcher, resource: String, filter: String?, pageSize: Int,
                  _ page: ([Any]) async throws -> Void) async throws {
        let endpoint = URLText.endpoint(endpoint.http.url, resource)
        var start = 1
        var total: Int?
        var read = 0
        while true {
            var query = [("startIndex", "\(start)"), ("count", "\(pageSize)")]
            if let filter { query.append(("filter", filter)) }
            let url = URLText.adding(query, to: endpoint)
            let json = try await fetcher.get(url, accept: "application/scim+json, application/json").json()
            guard let list = json as? [String: Any] else {
                throw HTTPSourceError(kind: .malformed, url: url, message: "expected a SCIM ListResponse (a JSON object with totalResults and Resources)")
            }
            guard let totalResults = (list["totalResults"] as? NSNumber)?.intValue else {
                throw HTTPSourceError(kind: .malformed, url: url, message: "the ListResponse has no totalResults (keys: \(list.keys.sorted().joined(separator: ", ")))")
            }
            let resources: [Any]
            if let given = list["Resources"] ?? list["resources"] {
                guard let array = given as? [Any] else {
                    throw HTTPSourceError(kind: .malformed, url: url, message: "Resources is not a list")
                }
                resources = array
            } else {
                resources = []
            }
            if let total, total != totalResults {
                throw HTTPSourceError(kind: .unreachable, url: url,
                                      message: "totalResults went from \(total) to \(totalResults) during the read: \(resource) changed while they were paged through, so some may have been skipped. Nothing was changed; run again")
            }
            total = totalResults
            if resources.isEmpty && read < totalResults {
                throw HTTPSourceError(kind: .malformed, url: url,
                                      message: "an empty page after \(read) of \(totalResults) \(resource): the read is incomplete")
            }
            try await page(resources)
            read += resources.count
            start += resources.count
            if let limit, read >= limit { return }
            if read >= totalResults { return }
        }
    }
}

/// What a group resource brings: its id, name and members (each with its type hint); as an
/// entry for the group planner, `id`, `displayName` and `member` links to `/Users/<id>` or
/// `/Groups/<id>`.
struct SCIMGroup: Sendable {
    let id: String?
    let displayName: String?
    /// The member's `value`, and whether `type` or `$ref` say it is a group (nil: neither says).
    let members: [(value: String, hintsGroup: Bool?)]

    init(_ resource: Any) {
        let object = resource as? [String: Any] ?? [:]
        id = object["id"].map { "\($0)" }
        displayName = JSONPath.member("displayName", of: object) as? String
        var members: [(String, Bool?)] = []
        for member in (JSONPath.member("members", of: object) as? [Any]) ?? [] {
            guard let member = member as? [String: Any], let value = member["value"].map({ "\($0)" }) else { continue }
            let type = (member["type"] as? String)?.lowercased()
            let ref = member["$ref"] as? String
            let hint: Bool? = type.map { $0 == "group" } ?? ref.map { $0.contains("/Groups/") }
            members.append((value, hint))
        }
        self.members = members
    }

    func record(groupIDs: Set<String>) -> SourceRecord {
        var attributes: [LDAPAttribute] = []
        if let id { attributes.append(LDAPAttribute(name: "id", values: [LDAPValue(id)])) }
        if let displayName { attributes.append(LDAPAttribute(name: "displayName", values: [LDAPValue(displayName)])) }
        let values = members.map { member in
            let isGroup = groupIDs.contains(member.value) || (member.hintsGroup ?? false)
            return LDAPValue(isGroup ? "/Groups/\(member.value)" : "/Users/\(member.value)")
        }
        if !values.isEmpty { attributes.append(LDAPAttribute(name: "member", values: values)) }
        return SourceRecord(.resource("/Groups/\(id ?? "?")"), attributes: attributes)
    }
}
