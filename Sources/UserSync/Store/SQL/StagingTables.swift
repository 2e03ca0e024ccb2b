import Foundation

/// The run's staging tables and every statement on them that both stores share: made empty at
/// the start of a run, checked and indexed once the users are read, joined by the groups, and
/// dropped. Only the bulk inserts of pages differ per store (SQLite binds rows through its C
/// API; PostgreSQL copies them in).
///
/// Temporary tables belong to one connection in both stores: every statement here runs on the
/// connection that made them (SQLite's writer, the PostgreSQL run's own connection), up to the
/// plan's transaction and `drop`.
enum StagingTables {
    /// Every temporary table a run makes outside its transaction (a failed run may leave them).
    static let names = ["staged", "staged_records", "hand_emails", "missing", "staged_groups", "staged_links", "staged_members",
                        "identical", "stale", "staged_gone", "staged_present"]

    /// Drops what a previous run left and creates empty tables. The user table gets its
    /// indexes once it is full (`finishUsers`): one sort is much cheaper than keeping four
    /// indexes up to date row by row.
    static func create(_ db: any SQLSession) throws {
        try drop(db)
        let blob = db.dialect == .sqlite ? "BLOB" : "BYTEA"
        try db.executeAll([
            // Records identical to what their users' rows were last written from
            // (RecordFingerprint): only the user and the record's place in the read are kept;
            // the planner leaves the row alone. SQLite keys them by user (a user read twice is
            // refused as its page goes in); PostgreSQL copies each page straight in, and
            // `finishUsers` looks for a user read twice once, by one aggregate: checked page by
            // page against the growing table, a no-op resync of 100,000 users spent more time
            // there than in the rest of the run.
            """
            CREATE TEMP TABLE identical (
                user_id \(db.dialect == .sqlite ? "INTEGER PRIMARY KEY" : "BIGINT NOT NULL"),
                seq BIGINT NOT NULL,
                fingerprint BIGINT NOT NULL,
                dn_norm TEXT
            )
            """,
            // The records read, mapped, numbered by `seq` in the order read (SQLite's rowid).
            // `unchanged`: an identical record staged for the group planner, which matches
            // members by link key and username: the planner leaves the row alone.
            """
            CREATE TEMP TABLE staged (
                seq INTEGER PRIMARY KEY,
                external_id TEXT,
                locator TEXT NOT NULL,
                dn_norm TEXT,
                \(UserField.columns.map { "\($0) TEXT," }.joined(separator: "\n"))
                attributes TEXT NOT NULL,
                disabled BOOLEAN NOT NULL,
                skip TEXT,
                user_id BIGINT,
                action TEXT,
                unchanged INTEGER NOT NULL DEFAULT 0,
                fingerprint BIGINT,
                id_hash BIGINT
            )
            """,
            // The planner looks a user id or an action up only where there is one (each lookup
            // compares it with `=` or `IN`, which implies it), and a skipped record only as one
            // (counted, and written as a `skip` change). Partial indexes hold only those rows,
            // so they cost the read little (its records have neither user id nor action, and
            // few are skipped: 0.03 s of CPU for the three at 100,000 rows, on the staging
            // thread) and need no pass afterwards: built once the table was full, each cost an
            // import a scan of 0.015 s to find no row (and, full, a sort of 100,000 empty keys
            // of 0.05 s). Most statements of the plan look for a few matched, adopted or relinked rows
            // among many (a no-op's hundred thousand identical records, staged as unchanged
            // matches when groups are planned): `staged_action` lets them skip the rest.
            "CREATE INDEX staged_user_id ON staged (user_id) WHERE user_id IS NOT NULL",
            "CREATE INDEX staged_action ON staged (action, unchanged) WHERE action IS NOT NULL",
            "CREATE INDEX staged_skipped ON staged (seq) WHERE skip IS NOT NULL",
            """
            CREATE TEMP TABLE staged_groups (
                seq \(db.dialect.generatedKey),
                external_id TEXT UNIQUE,
                dn TEXT NOT NULL,
                dn_norm TEXT NOT NULL,
                name TEXT,
                skip TEXT,
                group_id BIGINT,
                action TEXT,
                -- The record's GroupFingerprint; identical = 1 when it is the one stored for the
                -- group (its links are not staged unless the read turns out not to be a no-op).
                fingerprint BIGINT,
                identical INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX staged_groups_dn_norm ON staged_groups (dn_norm)",
            // One membership link as the source gives it: the group (by link key) holds the
            // member (by link key, or by uid for memberUid). A delta adds `anchor` links: a
            // group (or '' for none) the server says lists an entry the delta re-read.
            """
            CREATE TEMP TABLE staged_links (
                group_dn TEXT NOT NULL,
                member TEXT NOT NULL,
                member_kind TEXT NOT NULL CHECK (member_kind IN ('dn', 'uid', 'anchor'))
            )
            """,
            // A member by DN that the group read resolved to an identical user (`MemberIndex`):
            // the group (by link key) holds the user. Not among the links.
            """
            CREATE TEMP TABLE staged_members (
                group_dn TEXT NOT NULL,
                user_id BIGINT NOT NULL
            )
            """,
            """
            CREATE TEMP TABLE staged_records (
                chunk \(db.dialect.generatedKey),
                entries INTEGER NOT NULL,
                data \(blob) NOT NULL,
                raw_hash BIGINT
            )
            """,
            // A delta read's word on the entries it did not send: the stable ids it reported
            // deleted (or that left the source's base or filter), and, when the server listed
            // what is present instead (a present phase), every id it listed.
            "CREATE TEMP TABLE staged_gone (external_id TEXT PRIMARY KEY)",
            "CREATE TEMP TABLE staged_present (external_id TEXT PRIMARY KEY)",
        ])
    }

    /// Drops every staging table that exists.
    static func drop(_ db: any SQLSession) throws {
        try db.executeAll(names.map { "DROP TABLE IF EXISTS \($0)" })
    }

    /// After the last page of users: two records with one stable id fail the read (a broken
    /// export, or an idAttribute that is not unique: syncing one of them would deactivate the
    /// user whose id went missing); an identical record whose row was written by someone else
    /// during the read is skipped (the next run compares it); with `stageIdentical` the identical
    /// records join the staged ones now (`stageIdentical(_:)`); then the indexes are built.
    /// `fingerprintRows`: how many fingerprints the store held when they were loaded (SQLite).
    /// Returns whether the staged records that are not skipped all have usernames of their own
    /// (`PlanRequest.usernamesDistinct`).
    static func finishUsers(_ db: any SQLSession, source: String, idAttribute: String, stageIdentical: Bool,
                            fingerprintRows: Int?) throws -> Bool {
        // Two staged records with one id, two identical ones (found here on PostgreSQL only:
        // SQLite's key refused them already), or a staged record and an identical one.
        // The first by a unique index, which both stores check as they build it for nothing
        // more: the aggregate that names the two records cost 0.05 s at 100,000 on SQLite, and
        // runs only when the index is refused. (No record joins `staged` later with a stable id
        // a staged one has: the identical ones that may are refused below, the others have none.)
        let twice = try uniqueIndex(db, "staged_external_id", on: "external_id") ? nil : try db.row("""
            SELECT external_id, min(seq) AS first, max(seq) AS second FROM staged WHERE external_id IS NOT NULL
            GROUP BY external_id HAVING count(*) > 1 ORDER BY min(seq) LIMIT 1
            """)
        // (SQLite's key on `identical.user_id` refused a second one at once: no need to look.)
        let identicalTwice = db.dialect == .sqlite ? nil : try db.row("""
            SELECT coalesce(u.external_id, '#' || CAST(t.user_id AS TEXT)) AS external_id, t.first, t.second
            FROM (SELECT user_id, min(seq) AS first, max(seq) AS second FROM identical
                  GROUP BY user_id HAVING count(*) > 1 ORDER BY min(seq) LIMIT 1) t
            LEFT JOIN users u ON u.id = t.user_id
            """)
        // From the staged records (CROSS JOIN keeps the order in SQLite): few in a delta or a
        // no-op, and never more than the users; SQLite's own choice scanned `users` (13 ms).
        let twin = try !(db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM identical)") ?? false) ? nil : try db.row("""
            SELECT s.external_id, CASE WHEN s.seq < i.seq THEN s.seq ELSE i.seq END AS first,
                   CASE WHEN s.seq < i.seq THEN i.seq ELSE s.seq END AS second
            FROM staged s CROSS JOIN users u CROSS JOIN identical i
            WHERE u.source = ? AND u.external_id = s.external_id AND i.user_id = u.id
            ORDER BY 2 LIMIT 1
            """, source)
        let found = [twice, identicalTwice, twin].compactMap { $0 }.min { ($0["first"] as Int64) < ($1["first"] as Int64) }
        if let found {
            throw try DuplicateStableID.make(db, idAttribute: idAttribute, id: found["external_id"],
                                             seqs: (found["first"], found["second"]))
        }
        // Rows written by someone else since the read began: the trigger on users forgot their
        // fingerprint. On SQLite nothing else adds fingerprints while a run holds the store's run
        // lock, so a store that holds as many as when they were loaded forgot none: the lookup of
        // each identical record (0.05 s at 100,000) is needed only when the count fell. (On
        // PostgreSQL, runs of other sources write theirs meanwhile.)
        let noneForgotten = try fingerprintRows.map { try db.value(Int.self, "SELECT count(*) FROM sync_fingerprints") == $0 } ?? false
        if noneForgotten { return try finishIndexes(db, stageIdentical: stageIdentical) }
        try db.execute("""
            CREATE TEMP TABLE stale AS
            SELECT i.user_id, i.seq FROM identical i
            WHERE NOT EXISTS (SELECT 1 FROM sync_fingerprints f WHERE f.user_id = i.user_id AND f.fingerprint = i.fingerprint)
            """)
        try db.execute("""
            INSERT INTO staged (seq, locator, attributes, disabled, user_id, skip)
            SELECT x.seq, coalesce(\(userLocator), '?'), '{}', false, x.user_id,
                   'the user''s row changed in the store while this run read the source; compared again by the next run'
            FROM stale x LEFT JOIN users u ON u.id = x.user_id
            """)
        try db.execute("DELETE FROM identical WHERE user_id IN (SELECT user_id FROM stale)")
        try db.execute("DROP TABLE stale")
        return try finishIndexes(db, stageIdentical: stageIdentical)
    }

    /// The usernames' index, of the records not skipped (the only ones the planner looks a
    /// username up among). Unique when it can be, which says the planner need not look for two
    /// records giving one name (`PlanRequest.usernamesDistinct`); returns whether it is.
    private static func finishIndexes(_ db: any SQLSession, stageIdentical: Bool) throws -> Bool {
        if stageIdentical { try stageIdenticalRecords(db, indexDNs: true) }
        return try uniqueIndex(db, usernames, on: "username", where: "skip IS NULL")
    }

    /// The index of the staged usernames (of records not skipped).
    static let usernames = "staged_username"

    /// Builds a unique index `name` on `staged`; when two rows refuse it, the same index not
    /// unique instead. Returns whether the unique one was built. (A refused build changes
    /// nothing: the staging tables are outside any transaction here, in both stores.)
    private static func uniqueIndex(_ db: any SQLSession, _ name: String, on column: String, where condition: String? = nil) throws -> Bool {
        let partial = condition.map { " WHERE \($0)" } ?? ""
        do {
            try db.execute("CREATE UNIQUE INDEX \(name) ON staged (\(column))\(partial)")
            return true
        } catch {
            try db.execute("CREATE INDEX \(name) ON staged (\(column))\(partial)")
            return false
        }
    }

    /// The identical records join the staged ones with their username and link key, already
    /// matched (the planner's stable-id match passes over them): what member links resolve
    /// against, and scoping by groups. After the users' read when users are scoped by groups or
    /// the source reads incrementally (a full read writes every user's normalised DN); else by
    /// the group planner, and only when the groups are not all as before (`GroupPlanner`).
    /// `indexDNs`: index their normalised DNs for scoping by groups (the group planner builds
    /// its own index, on the DN and the user's id, right after: a second one cost 0.04 s).
    static func stageIdenticalRecords(_ db: any SQLSession, indexDNs: Bool) throws {
        guard try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM identical)") ?? false else { return }
        // After the plan's identification (the group planner's call), a matched record may give
        // the name an identical user still has (usernames not updated, or a rename refused):
        // the usernames' index, unique until now, must take both.
        try db.execute("DROP INDEX IF EXISTS \(usernames)")
        try db.execute("""
            INSERT INTO staged (seq, external_id, locator, dn_norm, username, attributes, disabled, user_id, action, unchanged,
                                fingerprint)
            SELECT i.seq, u.external_id, \(userLocator), i.dn_norm, u.username, '{}', false, i.user_id, 'match', 1, i.fingerprint
            FROM identical i JOIN users u ON u.id = i.user_id
            """)
        try db.execute("DELETE FROM identical")
        if indexDNs { try db.execute("CREATE INDEX IF NOT EXISTS staged_dn_norm ON staged (dn_norm)") }
        if db.dialect == .postgres {
            // Statistics for the joins that follow (autovacuum never analyses temporary tables).
            try db.execute("ANALYZE staged (seq, external_id, dn_norm, username, user_id, action, skip, unchanged)")
        }
    }

    /// Indexes the membership links once they are all staged (after the read): built by one
    /// sort instead of grown by 100,000 random inserts while the groups arrive.
    /// `staged_links_member` covers the member resolution, which walks the links in member order
    /// so that its lookups of the staged users' DNs move forward through their index too, and
    /// the nesting, which looks up the links naming each group read. Scoping users by groups walks
    /// down from the groups chosen and has an index by group of its own (`scope`).
    static func finishLinks(_ db: any SQLSession) throws {
        try db.execute("CREATE INDEX IF NOT EXISTS staged_links_member ON staged_links (member, member_kind, group_dn)")
    }

    /// Adds one page of groups; a second group with a stable id already staged is staged as
    /// skipped, naming the id.
    static func addGroups(_ db: any SQLSession, _ groups: [GroupMapper.StagedGroup], idAttribute: String) throws {
        for group in groups {
            let added = try db.execute("""
                INSERT INTO staged_groups (external_id, dn, dn_norm, name, skip, fingerprint, identical) VALUES (?, ?, ?, ?, ?, CAST(? AS BIGINT), ?)
                ON CONFLICT (external_id) DO NOTHING
                """, group.externalId, group.locator, group.linkKey, group.name, group.skip,
                group.fingerprint.map { Int64(bitPattern: $0) }, group.identical ? 1 : 0)
            if added == 0, let id = group.externalId {
                try db.execute("INSERT INTO staged_groups (external_id, dn, dn_norm, name, skip) VALUES (?, ?, ?, ?, ?)",
                               nil, group.locator, group.linkKey, group.name, "the same \(idAttribute) (\(id)) as another group")
            }
        }
    }

    /// Keeps only the staged users who are members, directly or through nested groups, of the
    /// groups `memberOf` names (the tree strategy of `users.memberOf`). Returns how many remain.
    static func scope(_ db: any SQLSession, toMembersOf memberOf: [String]) throws -> Int {
        let chosen = memberOf.map(StagedRecord.normalize)
        let json = String(decoding: try JSONEncoder().encode(chosen), as: UTF8.self)
        try db.execute("CREATE INDEX IF NOT EXISTS staged_links_group ON staged_links (group_dn)")
        try db.execute("""
            CREATE TEMP TABLE scoped AS
            WITH RECURSIVE chosen(dn) AS (
                SELECT value FROM \(db.dialect.jsonArrayElements("?"))
                UNION
                SELECT l.member FROM staged_links l JOIN chosen c ON l.group_dn = c.dn
                JOIN staged_groups g ON g.dn_norm = l.member
            )
            SELECT s.seq FROM staged s JOIN staged_links l ON l.member = s.dn_norm AND l.member_kind = 'dn' JOIN chosen c ON c.dn = l.group_dn
            UNION
            SELECT s.seq FROM staged s JOIN staged_links l ON l.member = lower(s.username) AND l.member_kind = 'uid' JOIN chosen c ON c.dn = l.group_dn
            """, json)
        try db.execute("DELETE FROM staged WHERE seq NOT IN (SELECT seq FROM scoped)")
        try db.execute("DROP TABLE scoped")
        return try db.value(Int.self, "SELECT count(*) FROM staged") ?? 0
    }

    /// A stored user (alias `u`) as messages name it: its DN, or for sources whose records have
    /// none (a CSV row's line moves), its stable id.
    static let userLocator = "coalesce(u.dn, 'id ' || u.external_id)"
}

/// Two records of one read with the same stable id: the export or the directory is broken (or
/// `idAttribute` names something that is not unique). Syncing either record would leave the
/// user whose id went missing to be deactivated, so the read fails, naming both records (a
/// CSV row's `path:line`, a DN, a REST resource), and nothing is changed.
public struct DuplicateStableID: Error, CustomStringConvertible, Sendable {
    public let idAttribute: String
    public let id: String
    public let first: String
    public let second: String

    public var description: String {
        "two records have the same \(idAttribute) '\(id)': \(first) and \(second). Each user needs a stable id of its own: correct the source (or choose a unique idAttribute); nothing was changed"
    }

    /// The error for the records read at places `seqs` (1-based, in the order read), named by
    /// their locators as kept in the staging tables.
    static func make(_ db: any SQLSession, idAttribute: String, id: String, seqs: (Int64, Int64)) throws -> DuplicateStableID {
        DuplicateStableID(idAttribute: idAttribute, id: id, first: try locator(db, seq: seqs.0), second: try locator(db, seq: seqs.1))
    }

    /// The locator of the record read at `seq`: from the staged row, else from the page kept
    /// in `staged_records` (identical records keep no locator of their own).
    static func locator(_ db: any SQLSession, seq: Int64) throws -> String {
        if let locator = try db.value(String.self, "SELECT locator FROM staged WHERE seq = ?", seq) {
            return locator
        }
        var before: Int64 = 0
        for row in try db.rows("SELECT entries, data FROM staged_records ORDER BY chunk") {
            let entries: Int64 = row["entries"]
            if seq <= before + entries {
                let page = try RecordArchive.decode([UInt8](row["data"] as Data))
                let index = Int(seq - before - 1)
                return index < page.count ? page[index].locator.description : "record \(seq)"
            }
            before += entries
        }
        return "record \(seq)"
    }
}
