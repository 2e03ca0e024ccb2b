import Foundation
import LDAP

/// Turns group entries into staged groups and membership links, as a source's `groups` says.
struct GroupMapper: Sendable {
    let mapping: GroupMapping
    let idAttribute: String

    init(mapping: GroupMapping, userIDAttribute: String) {
        self.mapping = mapping
        self.idAttribute = mapping.idAttribute ?? userIDAttribute
    }

    var requestedAttributes: [String] {
        var names = [idAttribute, mapping.nameAttribute]
        names.append(mapping.membership == .memberOf ? "memberOf" : mapping.membership.attribute)
        return names
    }

    /// A group as staged: `locator` the text kept in `groups.dn` (a DN, a SCIM path, a CSV group
    /// path), `linkKey` what members' links to it are matched on (`RecordLocator.linkKey`).
    /// `fingerprint` its record's (`GroupFingerprint`), nil when not taken; `identical` when
    /// that is the fingerprint stored for the group: its links are then not staged.
    typealias StagedGroup = (externalId: String?, locator: String, linkKey: String, name: String?, skip: String?,
                             fingerprint: UInt64?, identical: Bool)
    typealias Link = (group: String, member: String, kind: String)
    /// A member resolved as it was read: the group (by link key) holds this user.
    typealias Member = (group: String, userId: Int64)

    /// What a page of groups maps to.
    struct Mapped {
        var groups: [StagedGroup] = []
        var links: [Link] = []
        /// Members by DN that `members` resolved: not among the links.
        var members: [Member] = []
        var excluded = 0
    }

    /// The groups of a page that pass include/exclude, and their links: all of them, or, for
    /// the groups `known` holds exactly as read, none (`fingerprint` hashes each record). A
    /// member by DN that `members` holds comes back resolved, not as a link.
    func map(_ entries: [SourceRecord], fingerprint: GroupFingerprint? = nil,
             known: KnownGroups = KnownGroups(), members index: MemberIndex? = nil) -> Mapped {
        let include = mapping.include.flatMap { try? NSRegularExpression(pattern: $0) }
        let exclude = mapping.exclude.flatMap { try? NSRegularExpression(pattern: $0) }
        func matches(_ regex: NSRegularExpression, _ text: String) -> Bool {
            regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
        var mapped = Mapped()
        for entry in entries {
            var name = entry.string(mapping.nameAttribute)
            if mapping.lowercase { name = name?.lowercased() }
            if let name {
                if let include, !matches(include, name) { mapped.excluded += 1; continue }
                if let exclude, matches(exclude, name) { mapped.excluded += 1; continue }
            }
            let id = Mapper.stableID(entry[idAttribute], attribute: idAttribute)
            var skip: String?
            if id == nil { skip = "no \(idAttribute) (the group's stable id)" }
            else if name == nil { skip = "no \(mapping.nameAttribute) (the group's name)" }
            let norm = entry.locator.linkKey
            let print = fingerprint?(entry)
            let identical = skip == nil && print != nil && !known.isEmpty && known.isUnchanged(id!, fingerprint: print!)
            mapped.groups.append((id, entry.locator.description, norm, name, skip, print, identical))
            if identical { continue }
            switch mapping.membership {
            case .member, .uniqueMember:
                for value in entry.strings(mapping.membership.attribute) {
                    let member = StagedRecord.normalize(GroupMapper.stripUID(value))
                    if let index, let user = index.userId(linkKey: member) {
                        mapped.members.append((norm, user))
                    } else {
                        mapped.links.append((norm, member, "dn"))
                    }
                }
            case .memberUid:
                for value in entry.strings("memberUid") { mapped.links.append((norm, value.lowercased(), "uid")) }
            case .memberOf:
                for parent in entry.strings("memberOf") { mapped.links.append((StagedRecord.normalize(parent), norm, "dn")) }
            }
        }
        return mapped
    }

    /// uniqueMember is a NameAndOptionalUID (RFC 4517 section 3.3.21): `dn#'0101'B`.
    static func stripUID(_ value: String) -> String {
        guard value.hasSuffix("'B"), let hash = value.range(of: "#'", options: .backwards) else { return value }
        return String(value[..<hash.lowerBound])
    }

    /// Links from users' memberOf (the memberOf strategy).
    static func userLinks(_ entries: [SourceRecord]) -> [Link] {
        entries.flatMap { entry in
            entry.strings("memberOf").map { (StagedRecord.normalize($0), entry.locator.linkKey, "dn") }
        }
    }
}

/// Group and membership counts of a run.
public struct GroupCounts: Codable, Sendable, Equatable {
    public var created = 0
    public var updated = 0
    public var deactivated = 0
    public var reactivated = 0
    public var unchanged = 0

    public init() {}
}

public struct MembershipCounts: Codable, Sendable, Equatable {
    public var added = 0
    public var removed = 0

    public init() {}
}

/// The group part of a run, inside the same transaction as the users: groups like users
/// (identity by stable id, deactivated when missing), then nesting edges and direct members of
/// the groups read, then the effective (nested) membership of the source's groups.

/// A page of groups cut into slices to map and stage in turn: at most 50 groups, and no more
/// groups once their member values reach 10,000 (a slice holds one group however big it is).
/// Two slices' links are in memory at once (one staged while the next is mapped): a few
/// megabytes, where 50 groups of an Active Directory's size (tens of thousands of members
/// each) would be hundreds.
struct GroupSlices: Sequence {
    static let groups = 50
    static let members = 10_000

    let records: [SourceRecord]
    let attribute: String

    init(_ records: [SourceRecord], attribute: String) {
        self.records = records
        self.attribute = attribute
    }

    func makeIterator() -> AnyIterator<Range<Int>> {
        var start = 0
        return AnyIterator {
            guard start < records.count else { return nil }
            var end = start
            var members = 0
            while end < records.count && end - start < GroupSlices.groups && (end == start || members < GroupSlices.members) {
                members += records[end].withValues(attribute) { $0.underestimatedCount }
                end += 1
            }
            defer { start = end }
            return start..<end
        }
    }
}
