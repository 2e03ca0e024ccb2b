import Foundation
import LDAP

/// What a delta read of the groups found beyond their records.
struct GroupDelta: Sendable {
    /// Stable ids of changed entries that are not (or no longer) groups the source reads, and
    /// of deleted entries: a group among them is gone.
    var gone: [String] = []
    /// Which groups list each entry re-read (users and groups), as links of kind `anchor`:
    /// the group's normalised DN (empty when no group lists it) and the member's.
    var anchors: [(group: String, member: String, kind: String)] = []
}

extension LDAPSource {
    /// The groups' side of a delta. A changed group is re-read whole (its members ranged, as a
    /// full read reads them), so its member list is again the truth for it. A group that did
    /// not change can still gain or lose a member without its entry changing in a way a delta
    /// sees: a user moves back into the base, or (on a server without referential integrity) a
    /// renamed user's old DN stays in the list. So for every entry re-read, the server is asked
    /// which groups list it: those answers are the truth for that entry's memberships in the
    /// groups not re-read, and a full read would find exactly them.
    func readChangedGroups(_ users: IncrementalOutcome, attributes: [String],
                           page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> GroupDelta {
        guard let groups = directory.groups, let mapping = settings.groups else { return GroupDelta() }
        let idAttribute = mapping.idAttribute ?? settings.stableID
        let filter = groups.effectiveFilter(mapping.membership)
        return try await withConnection { ldap in
            var delta = GroupDelta()
            let found = FoundIDs()
            let changed = users.changedIDs
            for clause in Self.idFilters(idAttribute, changed) {
                // completeRangedAttributes: AD sends at most 1,500 values of member per entry.
                let request = SearchRequest(base: groups.base, scope: groups.scope, filter: "(&\(filter)\(clause))",
                                            attributes: attributes, completeRangedAttributes: true)
                for try await result in ldap.pagedSearch(request, pageSize: groups.pageSize) {
                    found.add(result.entries.compactMap { SourceRecord($0).stableID(idAttribute)?.lowercased() },
                              dns: result.entries.map(\.dn))
                    try await page(result.entries.map(SourceRecord.init))
                }
            }
            let seen = found.ids
            delta.gone = users.deletedIDs + changed.filter { !seen.contains($0.lowercased()) }
            // Which groups list each entry re-read: one search each, for the group's DN only.
            let attribute = mapping.membership.attribute
            for dn in users.rereadDNs + found.dns {
                let member = StagedRecord.normalize(dn)
                let request = SearchRequest(base: groups.base, scope: groups.scope,
                                            filter: "(&\(filter)(\(attribute)=\(LDAPFilter.escape(dn))))", attributes: ["1.1"])
                var listed = false
                for try await result in ldap.pagedSearch(request, pageSize: groups.pageSize) {
                    for entry in result.entries {
                        delta.anchors.append((StagedRecord.normalize(entry.dn), member, "anchor"))
                        listed = true
                    }
                }
                if !listed { delta.anchors.append(("", member, "anchor")) }
            }
            logger.info("groups changed since the watermark", metadata: [
                "reread": "\(seen.count)", "entriesAskedForTheirGroups": "\(users.rereadDNs.count + found.dns.count)",
            ])
            return delta
        }
    }
}
