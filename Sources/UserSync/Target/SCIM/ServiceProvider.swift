import Foundation

/// What a target's `/ServiceProviderConfig` (RFC 7643 section 5) says it supports, as far as a
/// push adapts to it. RFC 7643 makes `patch`, `bulk`, `filter`, `changePassword`, `sort`, `etag`
/// and `authenticationSchemes` required; a push needs the first three and `etag`, and refuses a
/// configuration without them rather than guess (a PATCH sent to a server that does not do
/// PATCH, or a filter to one that ignores it, would do harm).
public struct ServiceProvider: Sendable, Equatable {
    /// PATCH supported (else a GET and a PUT of the whole resource).
    public var patch: Bool
    /// Filters on GET supported (else a lookup lists every resource).
    public var filter: Bool
    /// The most resources a query returns (0: not given).
    public var maxResults: Int
    /// Bulk's maxOperations (0: bulk not supported): the default size of a members PATCH.
    public var bulkMaxOperations: Int
    /// ETags: a PUT carries `If-Match`, so that it never overwrites a change it did not see.
    public var etag: Bool

    /// Resources per page when listing: the server's maxResults, at most 1,000 (100 when not given).
    var pageSize: Int { maxResults > 0 ? min(maxResults, 1000) : 100 }

    public init(patch: Bool, filter: Bool, maxResults: Int = 0, bulkMaxOperations: Int = 0, etag: Bool = false) {
        self.patch = patch
        self.filter = filter
        self.maxResults = maxResults
        self.bulkMaxOperations = bulkMaxOperations
        self.etag = etag
    }

    public struct Unreadable: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Reads the configuration's JSON; throws `Unreadable` saying what is missing.
    static func parse(_ json: Any, url: String) throws -> ServiceProvider {
        guard let object = json as? [String: Any] else {
            throw Unreadable(description: "\(url): the ServiceProviderConfig is not a JSON object")
        }
        func section(_ name: String) throws -> [String: Any] {
            guard let value = object.first(where: { $0.key.caseInsensitiveCompare(name) == .orderedSame })?.value else {
                throw Unreadable(description: "\(url): the ServiceProviderConfig has no '\(name)' (RFC 7643 section 5 requires it): usersync cannot tell what the server supports, and does not guess")
            }
            guard let section = value as? [String: Any] else {
                throw Unreadable(description: "\(url): the ServiceProviderConfig's '\(name)' is not an object with 'supported'")
            }
            return section
        }
        func supported(_ name: String) throws -> Bool {
            let s = try section(name)
            guard let flag = s["supported"] as? Bool ?? (s["supported"] as? String).flatMap({ Bool($0.lowercased()) }) else {
                throw Unreadable(description: "\(url): the ServiceProviderConfig's '\(name).supported' is not true or false")
            }
            return flag
        }
        func number(_ value: Any?) -> Int { (value as? Int) ?? (value as? NSNumber)?.intValue ?? Int(value as? String ?? "") ?? 0 }
        let patch = try supported("patch")
        let filter = try supported("filter")
        let bulk = try supported("bulk")
        let etag = (try? supported("etag")) ?? false
        return ServiceProvider(patch: patch, filter: filter, maxResults: number(try section("filter")["maxResults"]),
                               bulkMaxOperations: bulk ? number(try section("bulk")["maxOperations"]) : 0, etag: etag)
    }
}
