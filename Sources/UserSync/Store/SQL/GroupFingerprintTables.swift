import Foundation

/// The stored fingerprints of a source's groups (`GroupFingerprint`), one definition for both
/// stores (SQLite's migration v9, PostgreSQL's v6), and the statements that read and keep them.
///
/// A group's line says: its row, its nesting edges and its direct and effective memberships are
/// what a full plan made of exactly this record, with the source's users as they were then; and
/// how many of its member values resolved to nothing (with one of them), for the run's report.
/// A run whose users are all identical records, with no active user missing, and whose groups
/// are all identical records, with no active group missing, therefore changes nothing, and the
/// group planner is not run (`GroupPlanner.apply`).
///
/// What could make a line lie is forgotten with it: an update or delete of the group's row (the
/// triggers); a run that changes the source's users without planning its groups in full (a run
/// of a configuration without `groups`: `forgetAfterUserChanges`; a delta: `forget`). The
/// memberships of a source's groups are the sync's (as its users' rows are): a row written by
/// hand stays until a run compares the groups in full (after any change to the source's users
/// or groups).
enum GroupFingerprintTables {
    static func statements(_ dialect: SQLDialect) -> [String] {
        switch dialect {
        case .sqlite:
            return [
                """
                CREATE TABLE group_fingerprints (
                    group_id INTEGER PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
                    fingerprint INTEGER NOT NULL,
                    unresolved INTEGER NOT NULL DEFAULT 0,
                    unresolved_sample TEXT
                )
                """,
                """
                CREATE TRIGGER groups_update_forgets_fingerprint AFTER UPDATE ON groups
                BEGIN
                    DELETE FROM group_fingerprints WHERE group_id = OLD.id;
                END
                """,
            ]
        case .postgres:
            return [
                """
                CREATE TABLE group_fingerprints (
                    group_id bigint PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
                    fingerprint bigint NOT NULL,
                    unresolved integer NOT NULL DEFAULT 0,
                    unresolved_sample text
                )
                """,
                """
                CREATE FUNCTION groups_update_forgets_fingerprint() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN
                    DELETE FROM group_fingerprints f USING old_rows o WHERE f.group_id = o.id;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER groups_update_forgets_fingerprint AFTER UPDATE ON groups
                    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION groups_update_forgets_fingerprint()
                """,
            ]
        }
    }

    /// The source's active groups' fingerprints, by stable id.
    static func load(_ db: any SQLSession, source: String) throws -> KnownGroups {
        var known = KnownGroups()
        for row in try db.rows("""
            SELECT g.external_id, f.fingerprint FROM group_fingerprints f JOIN groups g ON g.id = f.group_id
            WHERE g.source = ? AND g.state = 'active'
            """, source) {
            let id: String = row["external_id"]
            let fingerprint: Int64 = row["fingerprint"]
            known.byExternalId[id] = UInt64(bitPattern: fingerprint)
        }
        return known
    }

    /// After the read: whether it found every user and every group as the store last had them
    /// (no record staged other than as identical, no active user or group missing), so that the
    /// identical groups need no links staged.
    static func readIsUnchanged(_ db: any SQLSession, source: String) throws -> Bool {
        try db.value(Bool.self, """
            SELECT NOT EXISTS (SELECT 1 FROM staged)
               AND NOT EXISTS (SELECT 1 FROM staged_groups WHERE identical = 0)
               AND (SELECT count(*) FROM groups WHERE source = ?1 AND state = 'active') = (SELECT count(*) FROM staged_groups)
               AND NOT EXISTS (SELECT 1 FROM users u WHERE u.source = ?1 AND u.state = 'active'
                                 AND NOT EXISTS (SELECT 1 FROM identical i WHERE i.user_id = u.id))
            """, source) ?? false
    }

    /// Whether the plan has nothing to do for the groups: every group read is identical (the
    /// read made sure the rest is unchanged too, else it cleared the marks).
    static func everyGroupIdentical(_ db: any SQLSession) throws -> Bool {
        try db.value(Bool.self, """
            SELECT EXISTS (SELECT 1 FROM staged_groups WHERE identical = 1)
               AND NOT EXISTS (SELECT 1 FROM staged_groups WHERE identical = 0)
            """) ?? false
    }

    /// The last chunk of records staged so far (the groups' chunks come after it).
    static func lastChunk(_ db: any SQLSession) throws -> Int64 {
        try db.value(Int64.self, "SELECT coalesce(max(chunk), 0) FROM staged_records") ?? 0
    }

    static func chunks(_ db: any SQLSession, after chunk: Int64) throws -> [Int64] {
        try db.values(Int64.self, "SELECT chunk FROM staged_records WHERE chunk > ? ORDER BY chunk", chunk)
    }

    static func chunk(_ db: any SQLSession, _ chunk: Int64) throws -> [UInt8] {
        guard let row = try db.row("SELECT data FROM staged_records WHERE chunk = ?", chunk) else { return [] }
        let data: Data = row["data"]
        return [UInt8](data)
    }

    /// The link keys of the groups staged as identical.
    static func identicalGroups(_ db: any SQLSession) throws -> [String] {
        try db.values(String.self, "SELECT dn_norm FROM staged_groups WHERE identical = 1")
    }

    static func clearIdentical(_ db: any SQLSession) throws {
        try db.execute("UPDATE staged_groups SET identical = 0 WHERE identical = 1")
    }

    /// After a full plan of the source's groups: each group's fingerprint, with its unresolved
    /// members (from the plan's `unresolved` table).
    static func save(_ db: any SQLSession, source: String) throws {
        try forget(db, source: source)
        try db.execute("""
            INSERT INTO group_fingerprints (group_id, fingerprint, unresolved, unresolved_sample)
            SELECT g.group_id, g.fingerprint, coalesce(u.n, 0), u.sample
            FROM staged_groups g
            LEFT JOIN (SELECT group_id, count(*) AS n, min(link) AS sample FROM unresolved GROUP BY group_id) u ON u.group_id = g.group_id
            WHERE g.group_id IS NOT NULL AND g.skip IS NULL AND g.fingerprint IS NOT NULL
            ON CONFLICT DO NOTHING
            """)
    }

    static func forget(_ db: any SQLSession, source: String) throws {
        try db.execute("DELETE FROM group_fingerprints WHERE group_id IN (SELECT id FROM groups WHERE source = ?)", source)
    }

    /// A run that did not plan the source's groups but changed its users: a member value may
    /// now resolve differently.
    static func forgetAfterUserChanges(_ db: any SQLSession, source: String, runId: Int64) throws {
        try db.execute("""
            DELETE FROM group_fingerprints WHERE group_id IN (SELECT id FROM groups WHERE source = ?1)
              AND EXISTS (SELECT 1 FROM changes WHERE run_id = ?2 AND object_type = 'user')
            """, source, runId)
    }

    /// The unresolved members of the source's groups as the last full plan counted them, and a
    /// few of them.
    static func unresolved(_ db: any SQLSession, source: String) throws -> (Int, [String]) {
        let count = try db.value(Int.self, """
            SELECT coalesce(sum(f.unresolved), 0) FROM group_fingerprints f JOIN groups g ON g.id = f.group_id
            WHERE g.source = ? AND g.state = 'active'
            """, source) ?? 0
        let samples = try db.values(String.self, """
            SELECT f.unresolved_sample FROM group_fingerprints f JOIN groups g ON g.id = f.group_id
            WHERE g.source = ? AND g.state = 'active' AND f.unresolved_sample IS NOT NULL
            ORDER BY f.unresolved_sample LIMIT 5
            """, source)
        return (count, samples)
    }
}
