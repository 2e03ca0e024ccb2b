import Foundation

/// A store group as a push sees it.
struct GroupCandidate: Sendable {
    var objectId: Int64
    /// Nil when the group is gone from the store or from the target's sources.
    var name: String?
    var externalId: String?
    var active: Bool
    var remote: PushCandidate.Remote?
}

/// One membership to add to or remove from a group on the target.
struct MemberChange: Sendable, Hashable {
    var groupId: Int64
    var memberType: String
    var memberId: Int64
    /// The member's id on the target (nil: it is not there any more, nothing to send).
    var memberRemoteId: String?
}

extension TargetBook {
    /// Every group of the sources, and every group pushed that is no longer among them.
    static func groupCandidates(_ db: any SQLSession, target: String, sources: [String]) throws -> [GroupCandidate] {
        let rows = try db.rows("""
            SELECT g.id, g.name, g.external_id, g.state, t.remote_id, t.sent, t.state AS remote_state, t.failures, t.quarantined_at
            FROM groups g LEFT JOIN target_objects t ON t.target = ? AND t.object_type = 'group' AND t.object_id = g.id
            WHERE g.source IN \(placeholders(sources.count))
            ORDER BY g.id
            """, [target.sqlValue] + sources.map(\.sqlValue))
        var candidates = rows.map { row in
            GroupCandidate(objectId: row["id"], name: row["name"], externalId: row["external_id"],
                           active: (row["state"] as String) == "active", remote: remoteState(row))
        }
        let departed = try db.rows("""
            SELECT t.object_id, t.remote_id, t.sent, t.state AS remote_state, t.failures, t.quarantined_at
            FROM target_objects t
            WHERE t.target = ? AND t.object_type = 'group' AND t.state IN ('active', 'deactivated', 'pending')
              AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = t.object_id AND g.source IN \(placeholders(sources.count)))
            """, [target.sqlValue] + sources.map(\.sqlValue))
        candidates += departed.map { GroupCandidate(objectId: $0["object_id"], name: nil, externalId: nil, active: false, remote: remoteState($0)) }
        return candidates
    }

    static func remoteState(_ row: SQLRow) -> PushCandidate.Remote? {
        guard let state = row["remote_state"] as String? else { return nil }
        return PushCandidate.Remote(id: row["remote_id"], sent: SCIMAttributes(stored: row["sent"]), state: state,
                                    failures: row["failures"], quarantined: (row["quarantined_at"] as String?) != nil)
    }

    /// The memberships the target should have: of each group active there, its direct members
    /// and child groups that are there (`nested`), or the users in it through nesting.
    private static func desiredMembers(nested: Bool) -> String {
        let onTarget = "JOIN target_objects tg ON tg.target = ? AND tg.object_type = 'group' AND tg.object_id = %@ AND tg.state = 'active' AND tg.remote_id IS NOT NULL"
        let userThere = "JOIN target_objects tu ON tu.target = ? AND tu.object_type = 'user' AND tu.object_id = m.user_id AND tu.state IN ('active', 'deactivated') AND tu.remote_id IS NOT NULL"
        if nested {
            return """
                SELECT m.group_id, 'user' AS member_type, m.user_id AS member_id FROM group_members m
                \(onTarget.replacingOccurrences(of: "%@", with: "m.group_id")) \(userThere)
                UNION ALL
                SELECT p.parent_id, 'group', p.group_id FROM group_parents p
                \(onTarget.replacingOccurrences(of: "%@", with: "p.parent_id"))
                JOIN target_objects tc ON tc.target = ? AND tc.object_type = 'group' AND tc.object_id = p.group_id AND tc.state = 'active' AND tc.remote_id IS NOT NULL
                """
        }
        return """
            SELECT m.group_id, 'user' AS member_type, m.user_id AS member_id FROM effective_group_members m
            \(onTarget.replacingOccurrences(of: "%@", with: "m.group_id")) \(userThere)
            """
    }

    /// What the target's groups lack and hold too much of, against what was last sent
    /// (`target_members`), by group.
    static func memberChanges(_ db: any SQLSession, target: String, nested: Bool) throws -> (adds: [MemberChange], removes: [MemberChange]) {
        let desiredArguments: [SQLValue] = Array(repeating: target.sqlValue, count: nested ? 4 : 2)
        func change(_ row: SQLRow) -> MemberChange {
            MemberChange(groupId: row["group_id"], memberType: row["member_type"], memberId: row["member_id"], memberRemoteId: row["member_remote"])
        }
        let adds = try db.rows("""
            WITH desired AS (\(desiredMembers(nested: nested)))
            SELECT d.group_id, d.member_type, d.member_id, o.remote_id AS member_remote
            FROM desired d JOIN target_objects o ON o.target = ? AND o.object_type = d.member_type AND o.object_id = d.member_id
            WHERE NOT EXISTS (SELECT 1 FROM target_members x WHERE x.target = ? AND x.group_id = d.group_id
                                AND x.member_type = d.member_type AND x.member_id = d.member_id)
            ORDER BY d.group_id, d.member_type, d.member_id
            """, desiredArguments + [target.sqlValue, target.sqlValue]).map(change)
        let removes = try db.rows("""
            WITH desired AS (\(desiredMembers(nested: nested)))
            SELECT x.group_id, x.member_type, x.member_id, o.remote_id AS member_remote
            FROM target_members x LEFT JOIN target_objects o ON o.target = x.target AND o.object_type = x.member_type AND o.object_id = x.member_id
            WHERE x.target = ? AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.group_id = x.group_id
                                                AND d.member_type = x.member_type AND d.member_id = x.member_id)
            ORDER BY x.group_id, x.member_type, x.member_id
            """, desiredArguments + [target.sqlValue]).map(change)
        return (adds, removes)
    }

    /// Keeps the memberships sent (added) and those no longer there (removed).
    static func recordMembers(_ db: any SQLSession, target: String, added: [MemberChange], removed: [MemberChange]) throws {
        for chunk in stride(from: 0, to: added.count, by: 400).map({ Array(added[$0..<min($0 + 400, added.count)]) }) {
            try db.execute("""
                INSERT INTO target_members (target, group_id, member_type, member_id)
                VALUES \(Array(repeating: "(?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                ON CONFLICT DO NOTHING
                """, chunk.flatMap { [target.sqlValue, $0.groupId.sqlValue, $0.memberType.sqlValue, $0.memberId.sqlValue] })
        }
        for change in removed {
            try db.execute("DELETE FROM target_members WHERE target = ? AND group_id = ? AND member_type = ? AND member_id = ?",
                           target, change.groupId, change.memberType, change.memberId)
        }
    }

    /// An object's memberships sent are forgotten when its id on the target changes (created
    /// again after the target lost it): the target's groups do not hold the new id yet.
    static func forgetMemberships(_ db: any SQLSession, target: String, objectType: String, ids: [Int64]) throws {
        for chunk in stride(from: 0, to: ids.count, by: 400).map({ Array(ids[$0..<min($0 + 400, ids.count)]) }) {
            try db.execute("DELETE FROM target_members WHERE target = ? AND member_type = ? AND member_id IN \(placeholders(chunk.count))",
                           [target.sqlValue, objectType.sqlValue] + chunk.map(\.sqlValue))
            if objectType == "group" {
                try db.execute("DELETE FROM target_members WHERE target = ? AND group_id IN \(placeholders(chunk.count))",
                               [target.sqlValue] + chunk.map(\.sqlValue))
            }
        }
    }
}
