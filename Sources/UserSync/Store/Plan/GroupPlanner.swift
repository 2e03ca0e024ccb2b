import Foundation
import LDAP

struct GroupPlanner {
    let source: String
    let runId: Int64
    let now: String
    let tree: Bool
    /// A delta: only the groups that changed were read, with `anchor` links for each entry
    /// re-read (`GroupPlanner+Delta.swift`).
    var delta: DeltaScope? = nil
    /// `PlanRequest.membersResolvedAsRead`: the members naming identical users are in
    /// `staged_members`, and no link names one.
    var membersResolvedAsRead = false

    typealias Outcome = GroupOutcome

    /// Where members' DNs are resolved: what was read (a full read reads every user and group:
    /// the records staged, and those identical to their rows, which stay in `identical` unless
    /// the group read resolved their members already), or, for a delta, that and the users and
    /// groups stored (`GroupPlanner+Delta.swift`).
    var userDNs: [(table: String, index: String)] {
        guard delta == nil else { return [("known_users", "known_users_dn")] }
        return [("staged", "staged_dn_user")] + (identicalResolved ? [] : [("identical", "identical_dn_user")])
    }
    private var identicalResolved: Bool { delta == nil && membersResolvedAsRead }
    var groupDNs: String { delta == nil ? "staged_groups" : "known_groups" }

    func activeGroups(_ db: any SQLSession) throws -> Int {
        try db.value(Int.self, "SELECT count(*) FROM groups WHERE source = ? AND state = 'active'", source) ?? 0
    }

    /// The group plan, in named steps, inside the run's transaction (the staging tables are the
    /// writer connection's temporary tables).
    func apply(_ db: any SQLSession) throws -> Outcome {
        if delta == nil, try GroupFingerprintTables.everyGroupIdentical(db) { return try unchanged(db) }
        var outcome = Outcome()
        // Members named by uid (memberUid) are matched on the lowercased username, which only
        // the users' rows hold for the identical records: those join the staged ones
        // (`StagingTables.stageIdenticalRecords`), and the index is built only when there are
        // such members. Members named by DN resolve against the identical records where they
        // are, by their normalised DN and user id: copying 100,000 of them into `staged` with
        // their usernames cost a first group import 0.2 s.
        let uidLinks = try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM staged_links WHERE member_kind = 'uid')") ?? false
        if uidLinks || delta != nil { try StagingTables.stageIdenticalRecords(db, indexDNs: false) }
        try applyGroups(db)
        if uidLinks {
            try db.execute("CREATE INDEX IF NOT EXISTS staged_lower_username ON staged (lower(username))")
        }
        // The users' DNs with their ids, so that resolving a member reads the index alone.
        try db.execute("CREATE INDEX IF NOT EXISTS staged_dn_user ON staged (dn_norm, user_id)")
        if delta == nil && !identicalResolved {
            try db.execute("CREATE INDEX IF NOT EXISTS identical_dn_user ON identical (dn_norm, user_id)")
            if db.dialect == .postgres { try db.execute("ANALYZE identical") }
        }
        if delta != nil { try knownDNs(db) }
        let nesting = try applyNesting(db)
        let direct = try applyDirectMembers(db, uidLinks: uidLinks)
        outcome.memberships.added = nesting.added + direct.added
        outcome.memberships.removed = nesting.removed + direct.removed
        if delta != nil {
            let anchored = try applyAnchors(db)
            outcome.memberships.added += anchored.added
            outcome.memberships.removed += anchored.removed
        }
        try recomputeEffectiveMembers(db)
        outcome.cycles = try cycles(db)
        (outcome.unresolved, outcome.unresolvedSamples) = try unresolvedMembers(db, uidLinks: uidLinks)
        if delta == nil {
            try GroupFingerprintTables.save(db, source: source)
        } else {
            try GroupFingerprintTables.forget(db, source: source)
        }
        try db.execute("DROP TABLE unresolved")
        outcome.groups = try counts(db)
        return outcome
    }

    /// Every user and every group read as the store last had them (`GroupFingerprintTables`):
    /// nothing changes; the report's cycles and unresolved members are what they were.
    private func unchanged(_ db: any SQLSession) throws -> Outcome {
        var outcome = Outcome()
        outcome.cycles = try cycles(db)
        (outcome.unresolved, outcome.unresolvedSamples) = try GroupFingerprintTables.unresolved(db, source: source)
        outcome.groups.unchanged = try db.value(Int.self, "SELECT count(*) FROM staged_groups") ?? 0
        return outcome
    }

    /// The groups read against the source's groups: renamed, moved, reactivated, deactivated, created, skipped.
    private func applyGroups(_ db: any SQLSession) throws {
        let (s, r, t) = (source, runId, now)
        try db.execute("""
            UPDATE staged_groups SET group_id = g.id, action = 'match'
            FROM groups g WHERE g.source = ? AND g.external_id = staged_groups.external_id AND staged_groups.skip IS NULL
            """, s)
        for (column, staged) in [("name", "s.name"), ("dn", "s.dn")] {
            try db.execute("""
                INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
                SELECT ?, 'group', g.id, 'update', '\(column)', g.\(column), \(staged), s.dn
                FROM staged_groups s JOIN groups g ON g.id = s.group_id WHERE s.action = 'match' AND g.\(column) IS DISTINCT FROM \(staged)
                """, r)
        }
        try db.execute("""
            UPDATE groups SET name = s.name, dn = s.dn, updated_at = ?
            FROM staged_groups s WHERE groups.id = s.group_id AND s.action = 'match' AND (groups.name IS DISTINCT FROM s.name OR groups.dn IS DISTINCT FROM s.dn)
            """, t)
        // The normalised DN member lists name it by (a delta resolves nested groups it did not read with it).
        try db.execute("""
            UPDATE groups SET dn_norm = s.dn_norm
            FROM staged_groups s WHERE groups.id = s.group_id AND s.action = 'match' AND groups.dn_norm IS DISTINCT FROM s.dn_norm
            """)
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'group', g.id, 'reactivate', NULL, NULL, 'back in the directory', s.dn
            FROM staged_groups s JOIN groups g ON g.id = s.group_id WHERE s.action = 'match' AND g.state = 'deactivated'
            """, r)
        try db.execute("""
            UPDATE groups SET state = 'active', deactivated_at = NULL, updated_at = ?
            FROM staged_groups s WHERE groups.id = s.group_id AND s.action = 'match' AND groups.state = 'deactivated'
            """, t)
        // Missing from a full read, or gone by a delta's word (as for users); its normalised DN
        // goes with it, as no member list in the directory names it any more.
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'group', g.id, 'deactivate', NULL, NULL, 'missing from the directory', g.dn
            FROM groups g WHERE g.source = ? AND g.state = 'active'
              AND NOT EXISTS (SELECT 1 FROM staged_groups s WHERE s.external_id = g.external_id) \(goneByDelta("g"))
            """, r, s)
        try db.execute("""
            UPDATE groups SET state = 'deactivated', deactivated_at = ?1, updated_at = ?1, dn_norm = NULL
            WHERE source = ?2 AND state = 'active' AND NOT EXISTS (SELECT 1 FROM staged_groups s WHERE s.external_id = groups.external_id)
              \(goneByDelta("groups"))
            """, t, s)
        try db.execute("""
            INSERT INTO groups (source, external_id, name, dn, dn_norm, state, created_at, updated_at)
            SELECT ?1, external_id, name, dn, dn_norm, 'active', ?2, ?2 FROM staged_groups WHERE skip IS NULL AND group_id IS NULL ORDER BY seq
            """, s, t)
        try db.execute("""
            UPDATE staged_groups SET group_id = g.id, action = 'create'
            FROM groups g WHERE staged_groups.skip IS NULL AND staged_groups.group_id IS NULL AND g.source = ? AND g.external_id = staged_groups.external_id
            """, s)
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'group', group_id, 'create', NULL, NULL, name, dn FROM staged_groups WHERE action = 'create' ORDER BY seq
            """, r)
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'group', 0, 'skip', NULL, name, skip, dn FROM staged_groups WHERE skip IS NOT NULL ORDER BY seq
            """, r)
    }

    /// Nesting: the member lists of the groups read are the truth for edges between this source's groups.
    private func applyNesting(_ db: any SQLSession) throws -> (added: Int, removed: Int) {
        let (s, r) = (source, runId)
        var (added, removed) = (0, 0)
        // The links naming each group (a few thousand groups, where the links are a hundred
        // thousand): the join starts from the groups and looks their links up by member.
        try db.execute("""
            CREATE TEMP TABLE desired_parents (group_id INTEGER, parent_id INTEGER, PRIMARY KEY (group_id, parent_id))\(db.dialect.withoutRowID)
            """)
        try db.execute("""
            INSERT INTO desired_parents (group_id, parent_id)
            SELECT child.group_id, parent.group_id
            FROM \(groupDNs) child
            CROSS JOIN staged_links l\(db.dialect.indexedBy("staged_links_member"))
            CROSS JOIN staged_groups parent
            WHERE child.group_id IS NOT NULL AND l.member = child.dn_norm AND l.member_kind = 'dn'
              AND parent.dn_norm = l.group_dn AND parent.group_id IS NOT NULL AND ? = 1
            ON CONFLICT DO NOTHING
            """, tree)
        try db.execute("""
            CREATE TEMP TABLE removed_parents AS
            SELECT gp.group_id, gp.parent_id FROM group_parents gp
            JOIN staged_groups p ON p.group_id = gp.parent_id
            JOIN groups c ON c.id = gp.group_id AND c.source = ?
            WHERE NOT EXISTS (SELECT 1 FROM desired_parents d WHERE d.group_id = gp.group_id AND d.parent_id = gp.parent_id)
            """, s)
        added = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', d.parent_id, 'add', 'group', NULL, CAST(d.group_id AS TEXT), c.dn
            FROM desired_parents d JOIN groups c ON c.id = d.group_id
            WHERE NOT EXISTS (SELECT 1 FROM group_parents gp WHERE gp.group_id = d.group_id AND gp.parent_id = d.parent_id)
            """, r)
        try db.execute("""
            INSERT INTO group_parents (group_id, parent_id) SELECT group_id, parent_id FROM desired_parents WHERE true
            ON CONFLICT DO NOTHING
            """)
        removed = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', x.parent_id, 'remove', 'group', CAST(x.group_id AS TEXT), NULL, c.dn
            FROM removed_parents x JOIN groups c ON c.id = x.group_id
            """, r)
        try db.execute("""
            DELETE FROM group_parents WHERE EXISTS
                (SELECT 1 FROM removed_parents x WHERE x.group_id = group_parents.group_id AND x.parent_id = group_parents.parent_id)
            """)
        return (added, removed)
    }

    /// Direct members: users of this source in the member lists of the groups read.
    private func applyDirectMembers(_ db: any SQLSession, uidLinks: Bool) throws -> (added: Int, removed: Int) {
        let (s, r) = (source, runId)
        var (added, removed) = (0, 0)
        try db.execute("""
            CREATE TEMP TABLE desired_members (group_id INTEGER, user_id INTEGER, PRIMARY KEY (group_id, user_id))\(db.dialect.withoutRowID)
            """)
        // Keyed, so that finding the members that left is one lookup each (it was a scan each).
        // The members the group read resolved (`MemberIndex`) need only their groups' ids.
        try db.execute("""
            INSERT INTO desired_members (group_id, user_id)
            SELECT g.group_id, m.user_id FROM staged_members m CROSS JOIN staged_groups g
            WHERE g.dn_norm = m.group_dn AND g.group_id IS NOT NULL
            ORDER BY 1, 2
            ON CONFLICT DO NOTHING
            """)
        // The join order is fixed (CROSS JOIN, INDEXED BY): the links in member order against the
        // users' DNs in the same order reads both indexes front to back; SQLite's own choice
        // looked each member up at random in the staged table, three times slower.
        for users in userDNs {
            try db.execute("""
                INSERT INTO desired_members (group_id, user_id)
                SELECT g.group_id, s.user_id
                FROM staged_links l\(db.dialect.indexedBy("staged_links_member"))
                CROSS JOIN \(users.table) s\(db.dialect.indexedBy(users.index))
                CROSS JOIN staged_groups g
                WHERE l.member_kind = 'dn' AND s.dn_norm = l.member AND s.user_id IS NOT NULL
                  AND g.dn_norm = l.group_dn AND g.group_id IS NOT NULL
                ORDER BY 1, 2
                ON CONFLICT DO NOTHING
                """)
        }
        if uidLinks {
            try db.execute("""
                INSERT INTO desired_members (group_id, user_id)
                SELECT g.group_id, s.user_id FROM staged_links l
                JOIN staged_groups g ON g.dn_norm = l.group_dn AND g.group_id IS NOT NULL
                JOIN staged s ON lower(s.username) = l.member AND s.user_id IS NOT NULL
                WHERE l.member_kind = 'uid'
                ORDER BY 1, 2
                ON CONFLICT DO NOTHING
                """)
        }
        try db.execute("""
            CREATE TEMP TABLE removed_members AS
            SELECT gm.group_id, gm.user_id FROM group_members gm
            JOIN staged_groups g ON g.group_id = gm.group_id
            JOIN users u ON u.id = gm.user_id AND u.source = ?
            WHERE NOT EXISTS (SELECT 1 FROM desired_members d WHERE d.group_id = gm.group_id AND d.user_id = gm.user_id)
            """, s)
        let membersAdded = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', d.group_id, 'add', 'user', NULL, CAST(d.user_id AS TEXT), u.dn
            FROM desired_members d JOIN users u ON u.id = d.user_id
            WHERE NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = d.group_id AND gm.user_id = d.user_id)
            """, r)
        added = membersAdded
        // Many new members at once (a first import): the user index is built once afterwards, by
        // sorting, rather than grown one random insert at a time (3 × faster at 100,000 members).
        try BulkInsert.run(db, table: "group_members", indexes: [.groupMembersUser], bulk: membersAdded >= BulkInsert.rows) {
            try db.execute("INSERT INTO group_members (group_id, user_id) SELECT group_id, user_id FROM desired_members WHERE true ON CONFLICT DO NOTHING")
        }
        removed = try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'membership', x.group_id, 'remove', 'user', CAST(x.user_id AS TEXT), NULL, u.dn
            FROM removed_members x JOIN users u ON u.id = x.user_id
            """, r)
        try db.execute("""
            DELETE FROM group_members WHERE EXISTS
                (SELECT 1 FROM removed_members x WHERE x.group_id = group_members.group_id AND x.user_id = group_members.user_id)
            """)
        return (added, removed)
    }

    /// Effective membership through any nesting, recomputed only for the groups whose subtree
    /// changed this run (a group or membership change, and every ancestor of it): a run that
    /// changes nothing rewrites nothing. UNION (not UNION ALL) makes the recursions stop on a cycle.
    private func recomputeEffectiveMembers(_ db: any SQLSession) throws {
        let (s, r) = (source, runId)
        try db.execute("""
            CREATE TEMP TABLE affected AS
            WITH RECURSIVE up(id) AS (
                SELECT object_id FROM changes WHERE run_id = ? AND object_type IN ('group', 'membership')
                UNION
                SELECT gp.parent_id FROM up JOIN group_parents gp ON gp.group_id = up.id
            )
            SELECT id FROM up
            """, r)
        // The (ancestor, descendant) pairs first, in ancestor order: the rows then reach the
        // table's key in nearly sorted order without sorting every membership (a sort of 440,000
        // rows cost more than the closure itself).
        try db.execute("""
            CREATE TEMP TABLE closure AS
            WITH RECURSIVE closure(ancestor, descendant) AS (
                SELECT g.id, g.id FROM affected a JOIN groups g ON g.id = a.id WHERE g.source = ? AND g.state = 'active'
                UNION
                SELECT c.ancestor, gp.group_id FROM closure c
                JOIN group_parents gp ON gp.parent_id = c.descendant
                JOIN groups g ON g.id = gp.group_id AND g.state = 'active'
            )
            SELECT ancestor, descendant FROM closure ORDER BY ancestor
            """, s)
        // Most groups recomputed (a first import): the user index is rebuilt once, afterwards.
        let affected = try db.value(Int.self, "SELECT count(*) FROM affected") ?? 0
        let allGroups = try db.value(Int.self, "SELECT count(*) FROM groups") ?? 0
        try BulkInsert.run(db, table: "effective_group_members", indexes: [.effectiveMembersUser],
                           bulk: affected >= 100 && affected * 2 >= allGroups) {
            try db.execute("DELETE FROM effective_group_members WHERE group_id IN (SELECT id FROM affected)")
            try db.execute("""
                INSERT INTO effective_group_members (group_id, user_id)
                SELECT c.ancestor, gm.user_id FROM closure c JOIN group_members gm ON gm.group_id = c.descendant WHERE true
                ON CONFLICT DO NOTHING
                """)
        }
        try db.executeAll(["DROP TABLE affected", "DROP TABLE closure"])
    }

    /// Groups that are their own ancestors (reported; the run completes).
    private func cycles(_ db: any SQLSession) throws -> [String] {
        let s = source
        return try db.values(String.self, """
            WITH RECURSIVE reach(start, node) AS (
                SELECT gp.group_id, gp.parent_id FROM group_parents gp JOIN groups g ON g.id = gp.group_id WHERE g.source = ?
                UNION
                SELECT r.start, gp.parent_id FROM reach r JOIN group_parents gp ON gp.group_id = r.node
            )
            SELECT g.name FROM reach r JOIN groups g ON g.id = r.start WHERE r.start = r.node ORDER BY g.name
            """, s)
    }

    /// Member values that resolve to nothing read, in member order like the resolution, each
    /// link looked up only where its kind says: how many, and a few of them.
    private func unresolvedMembers(_ db: any SQLSession, uidLinks: Bool) throws -> (Int, [String]) {
        try db.execute("""
            CREATE TEMP TABLE unresolved AS
            SELECT g.group_id, g.dn || ' → ' || l.member AS link
            FROM staged_links l\(db.dialect.indexedBy("staged_links_member"))
            CROSS JOIN staged_groups g
            WHERE g.dn_norm = l.group_dn AND g.skip IS NULL AND l.member_kind <> 'anchor'
              AND CASE l.member_kind
                    WHEN 'dn' THEN \(userDNs.map { "NOT EXISTS (SELECT 1 FROM \($0.table) s\(db.dialect.indexedBy($0.index)) WHERE s.dn_norm = l.member)" }
                                        .joined(separator: " AND "))
                                   AND NOT EXISTS (SELECT 1 FROM \(groupDNs) g2 WHERE g2.dn_norm = l.member)
                    ELSE \(uidLinks ? "NOT EXISTS (SELECT 1 FROM staged s WHERE lower(s.username) = l.member)" : "true")
                  END
            """)
        let count = try db.value(Int.self, "SELECT count(*) FROM unresolved") ?? 0
        let samples = try db.values(String.self, "SELECT link FROM unresolved LIMIT 5")
        return (count, samples)
    }

    /// The run's group counts, from the staged groups and the changes written.
    private func counts(_ db: any SQLSession) throws -> GroupCounts {
        let r = runId
        var counts = GroupCounts()
        let row = try db.row("""
            SELECT
              (SELECT count(*) FROM staged_groups WHERE action = 'create') AS created,
              (SELECT count(DISTINCT object_id) FROM changes WHERE run_id = ?1 AND object_type = 'group' AND action = 'update'
                 AND object_id NOT IN (SELECT object_id FROM changes WHERE run_id = ?1 AND object_type = 'group' AND action IN ('reactivate', 'create'))) AS updated,
              (SELECT count(*) FROM changes WHERE run_id = ?1 AND object_type = 'group' AND action = 'deactivate') AS deactivated,
              (SELECT count(*) FROM changes WHERE run_id = ?1 AND object_type = 'group' AND action = 'reactivate') AS reactivated,
              (SELECT count(*) FROM staged_groups WHERE action = 'match'
                 AND group_id NOT IN (SELECT object_id FROM changes WHERE run_id = ?1 AND object_type = 'group')) AS unchanged
            """, r)!
        counts.created = row["created"]
        counts.updated = row["updated"]
        counts.deactivated = row["deactivated"]
        counts.reactivated = row["reactivated"]
        counts.unchanged = row["unchanged"]
        try db.executeAll(["DROP TABLE desired_parents", "DROP TABLE removed_parents",
                           "DROP TABLE desired_members", "DROP TABLE removed_members"]
                          + (delta == nil ? [] : ["DROP TABLE known_users", "DROP TABLE known_groups"]))
        return counts
    }
}
