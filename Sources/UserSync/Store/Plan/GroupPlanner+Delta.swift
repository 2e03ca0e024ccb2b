import Foundation

/// The group plan of a delta read. A full read stages every user and group, so resolving the
/// member lists against what was read gives every membership. A delta stages only what changed:
///
/// - a changed group is re-read whole, and its members are resolved against the users and
///   groups read *and* those stored (by their normalised DN, `StoredDNColumns`);
/// - for every entry re-read, the server said which groups list it (`anchor` links): those are
///   its memberships in the groups that were not re-read, added or removed to match;
/// - a user or group gone this run leaves every group not re-read, as a full read (which no
///   longer finds it among the members) would have it.
///
/// So each membership a full read would write is written by the delta too; the comparison of a
/// delta-fed store with a full-fed one (IncrementalSyncTests) checks it row by row.
extension GroupPlanner {
    /// The clause that limits "missing" to what a delta says is gone (nothing for a full read).
    func goneByDelta(_ alias: String) -> String {
        switch delta {
        case nil:
            return ""
        case .listedGone:
            return "AND EXISTS (SELECT 1 FROM staged_gone x WHERE x.external_id = \(alias).external_id)"
        case .listedPresent:
            return """
                AND (NOT EXISTS (SELECT 1 FROM staged_present p WHERE p.external_id = \(alias).external_id)
                     OR EXISTS (SELECT 1 FROM staged_gone x WHERE x.external_id = \(alias).external_id))
                """
        }
    }

    /// `known_users` and `known_groups`: each normalised DN a member value may name, with its
    /// row: what was read this run, and what is stored and was not read (users only when a
    /// changed group has DN members to resolve: finding them scans the source's users).
    func knownDNs(_ db: any SQLSession) throws {
        let s = source
        let memberLinks = try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM staged_links WHERE member_kind = 'dn')") ?? false
        try db.execute("""
            CREATE TEMP TABLE known_users AS
            SELECT dn_norm, user_id FROM staged WHERE dn_norm IS NOT NULL AND user_id IS NOT NULL
            UNION ALL
            SELECT u.dn_norm, u.id FROM users u
            WHERE ? = 1 AND u.source = ? AND u.dn_norm IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staged x WHERE x.user_id = u.id)
            """, memberLinks, s)
        try db.execute("CREATE INDEX known_users_dn ON known_users (dn_norm, user_id)")
        try db.execute("""
            CREATE TEMP TABLE known_groups AS
            SELECT dn_norm, group_id FROM staged_groups WHERE group_id IS NOT NULL
            UNION ALL
            SELECT g.dn_norm, g.id FROM groups g
            WHERE g.source = ? AND g.state = 'active' AND g.dn_norm IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM staged_groups x WHERE x.group_id = g.id)
            """, s)
        try db.execute("CREATE INDEX known_groups_dn ON known_groups (dn_norm, group_id)")
    }

    /// The memberships of the entries re-read (and of those gone) in the groups that were not
    /// re-read: exactly the groups the server listed for each. Returns the links added and removed.
    func applyAnchors(_ db: any SQLSession) throws -> (added: Int, removed: Int) {
        let r = runId
        // Each anchored entry's groups, resolved; a group re-read is left to its member list.
        try db.execute("""
            CREATE TEMP TABLE anchored AS
            SELECT DISTINCT l.member, l.group_dn, u.user_id, c.group_id AS child_id
            FROM staged_links l
            LEFT JOIN staged u ON u.dn_norm = l.member AND u.user_id IS NOT NULL
            LEFT JOIN staged_groups c ON c.dn_norm = l.member AND c.group_id IS NOT NULL
            WHERE l.member_kind = 'anchor'
            """)
        try db.execute("""
            CREATE TEMP TABLE anchor_members AS
            SELECT DISTINCT k.group_id, a.user_id FROM anchored a JOIN known_groups k ON k.dn_norm = a.group_dn
            WHERE a.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staged_groups x WHERE x.group_id = k.group_id)
            """)
        // Whose memberships outside the groups re-read are decided here: the users anchored,
        // and those found gone this run.
        try db.execute("""
            CREATE TEMP TABLE anchor_users AS
            SELECT user_id FROM anchored WHERE user_id IS NOT NULL
            UNION
            SELECT object_id FROM changes WHERE run_id = ? AND object_type = 'user' AND action = 'deactivate'
              AND new_value = 'missing from the directory'
            """, r)
        let users = Edge(table: "group_members", member: "user_id", group: "group_id", field: "user", records: "users")
        var (added, removed) = try settle(db, users, desired: "anchor_members", scope: "anchor_users")
        var drops = ["DROP TABLE anchor_members", "DROP TABLE anchor_users"]
        if tree {
            // The same for nesting: the parents of each group re-read, outside the groups re-read.
            try db.execute("""
                CREATE TEMP TABLE anchor_parents AS
                SELECT DISTINCT a.child_id AS group_id, k.group_id AS parent_id FROM anchored a JOIN known_groups k ON k.dn_norm = a.group_dn
                WHERE a.child_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staged_groups x WHERE x.group_id = k.group_id)
                """)
            try db.execute("""
                CREATE TEMP TABLE anchor_children AS
                SELECT child_id AS group_id FROM anchored WHERE child_id IS NOT NULL
                UNION
                SELECT object_id FROM changes WHERE run_id = ? AND object_type = 'group' AND action = 'deactivate'
                  AND new_value = 'missing from the directory'
                """, r)
            let nesting = Edge(table: "group_parents", member: "group_id", group: "parent_id", field: "group", records: "groups")
            let (a, b) = try settle(db, nesting, desired: "anchor_parents", scope: "anchor_children")
            (added, removed) = (added + a, removed + b)
            drops += ["DROP TABLE anchor_parents", "DROP TABLE anchor_children"]
        }
        try db.executeAll(drops + ["DROP TABLE anchored"])
        return (added, removed)
    }

    /// A kind of membership row: users in groups, or groups in parent groups.
    struct Edge {
        /// The table, its member and group columns, the changes' `field`, and where the
        /// member's DN (the change's record) is.
        let table: String, member: String, group: String, field: String, records: String
    }

    /// Makes the rows of `edge` for the members in `scope`, in the source's active groups that
    /// were not re-read, exactly the `desired` ones (columns named as the edge's), each
    /// addition and removal recorded as a change. Returns how many of each.
    func settle(_ db: any SQLSession, _ edge: Edge, desired: String, scope: String) throws -> (added: Int, removed: Int) {
        let (s, r) = (source, runId)
        let (table, member, group) = (edge.table, edge.member, edge.group)
        let added = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', d.\(group), 'add', '\(edge.field)', NULL, CAST(d.\(member) AS TEXT), m.dn
            FROM \(desired) d JOIN \(edge.records) m ON m.id = d.\(member)
            WHERE NOT EXISTS (SELECT 1 FROM \(table) x WHERE x.\(group) = d.\(group) AND x.\(member) = d.\(member))
            """, r)
        try db.execute("INSERT INTO \(table) (\(group), \(member)) SELECT \(group), \(member) FROM \(desired) WHERE true ON CONFLICT DO NOTHING")
        try db.execute("""
            CREATE TEMP TABLE settled_away AS
            SELECT x.\(group), x.\(member) FROM \(table) x
            JOIN \(scope) a ON a.\(member) = x.\(member)
            JOIN groups g ON g.id = x.\(group) AND g.source = ? AND g.state = 'active'
            WHERE NOT EXISTS (SELECT 1 FROM staged_groups sg WHERE sg.group_id = x.\(group))
              AND NOT EXISTS (SELECT 1 FROM \(desired) d WHERE d.\(group) = x.\(group) AND d.\(member) = x.\(member))
            """, s)
        let removed = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', x.\(group), 'remove', '\(edge.field)', CAST(x.\(member) AS TEXT), NULL, m.dn
            FROM settled_away x JOIN \(edge.records) m ON m.id = x.\(member)
            """, r)
        try db.execute("""
            DELETE FROM \(table) WHERE EXISTS
                (SELECT 1 FROM settled_away x WHERE x.\(group) = \(table).\(group) AND x.\(member) = \(table).\(member))
            """)
        try db.execute("DROP TABLE settled_away")
        return (added, removed)
    }
}
