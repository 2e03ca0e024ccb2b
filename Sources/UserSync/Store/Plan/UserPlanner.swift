import Foundation

/// Compares the staged records with the source's users and writes the differences, with
/// set-based SQL inside the caller's transaction. The caller commits (an applied run) or rolls
/// back (a dry run, a guard stop): the statements are the same, so a dry run shows exactly what
/// a real run would do.
struct Planner {
    let request: PlanRequest

    var source: String { request.source }
    var runId: Int64 { request.runId }
    var now: String { request.now }
    var options: SyncOptions { request.options }
    var mapping: Mapping { request.mapping }
    var idAttribute: String { request.stableID }
    /// Keep the record's locator in `users.dn` (a DN; not a CSV line).
    var locatorIsDN: Bool { request.locatorIsDN }
    /// Write the new users' ids into `staged.user_id` (the group planner matches members there).
    var recordCreatedIDs: Bool { request.groups }

    /// The store columns the mapping sets, with their field names.
    var mappedColumns: [String] {
        var columns = UserField.allCases.filter { mapping[$0] != nil }.map(\.column)
        if !mapping.attributes.isEmpty { columns.append("attributes") }
        return columns
    }

    /// The actions of staged rows that match an existing user.
    static let matched = "('match', 'relink', 'adopt')"
    /// Staged rows that become new users, once `identify` ran: neither skipped nor matched.
    /// (Left as NULL rather than set to 'create': rewriting every wide staged row of an import
    /// cost more than creating the users.)
    static let creates = "skip IS NULL AND action IS NULL"
    /// Staged rows (alias `s`) matched to a user and mapped in full: candidates for changes.
    static let compared = "s.skip IS NULL AND s.action IN \(matched) AND s.unchanged = 0"

    func activeUsers(_ db: any SQLSession) throws -> Int {
        try db.value(Int.self, "SELECT count(*) FROM users WHERE source = ? AND state = 'active'", source) ?? 0
    }

    /// The source's active users after the plan, from `before` and this run's changes, without
    /// counting every user again (10 ms at 100,000, a tenth of a delta run). Only a user whose
    /// state or source a change touched can count differently: one created or adopted counts
    /// now if active (it did not before), one deactivated or reactivated counts as its state
    /// says now, less one if it counted before (a deactivated one did, unless it came in this
    /// run). Debug builds check it against the count.
    func activeUsers(after before: Int, _ db: any SQLSession) throws -> Int {
        let change = try db.value(Int.self, """
            SELECT (SELECT count(*) FROM users u
                    WHERE u.id IN (SELECT object_id FROM changes WHERE run_id = ?1 AND object_type = 'user'
                                     AND action IN ('create', 'adopt', 'deactivate', 'reactivate'))
                      AND u.source = ?2 AND u.state = 'active')
                 - (SELECT count(DISTINCT object_id) FROM changes WHERE run_id = ?1 AND object_type = 'user' AND action = 'deactivate'
                      AND object_id NOT IN (SELECT object_id FROM changes WHERE run_id = ?1 AND object_type = 'user'
                                              AND action IN ('create', 'adopt')))
            """, runId, source) ?? 0
        let after = before + change
        #if DEBUG
        let counted = try activeUsers(db)
        precondition(after == counted, "active users after the plan: \(after) from the changes, \(counted) counted")
        #endif
        return after
    }

    /// Plans and writes the run's changes; returns the counts. `activeBefore`: the source's
    /// active users as the plan began.
    func apply(_ db: any SQLSession, activeBefore: Int) throws -> SyncReport.Counts {
        try identify(db)
        // Before `write` changes any user.
        let noneMissing = try noneMissing(db, activeBefore: activeBefore)
        // (Most statements of `write` look for a few matched, adopted or relinked rows among
        // many: `staged_action` lets them skip the rest; see `StagingTables.create`.)
        let created = try write(db, noneMissing: noneMissing)
        return try counts(db, created: created)
    }

    // MARK: Identify: which user each record is, or why it is skipped

    func identify(_ db: any SQLSession) throws {
        // Steps that join the users find nothing when there are none to find: an import into an
        // empty store, or of a source new to it, scanned its 100,000 staged records once per step
        // for nothing (0.03 s apiece). Asked inside the plan's transaction, so nothing is missed.
        let anyUsers = try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM users)") ?? true
        let sourceUsers = try anyUsers && (db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM users WHERE source = ?)", source) ?? true)

        // 1. The same stable id: the same user, whatever its name or place in the tree now.
        //    From the staged records to the users (CROSS JOIN keeps that order in SQLite): a
        //    delta stages a hundred records and scanned the 100,000 users for them (32 ms) when
        //    SQLite drove the join from `users`; the records are never more than the users a
        //    full read finds, so this order is never the worse one.
        if sourceUsers {
            try db.execute("""
                UPDATE staged SET user_id = m.id, action = 'match'
                FROM (SELECT s.seq, u.id FROM staged s CROSS JOIN users u
                      WHERE s.unchanged = 0 AND u.source = ? AND u.external_id = s.external_id) m
                WHERE staged.seq = m.seq
                """, source)
        }

        // 2. Two records giving one username (often after lowercasing): never merged. The record
        //    that already holds the name keeps it; the others are skipped. (Not looked for when
        //    the staged usernames took a unique index: 0.06 s of an import at 100,000.)
        let duplicated = request.usernamesDistinct ? [] : try db.values(String.self, """
            SELECT username FROM staged WHERE skip IS NULL AND username IS NOT NULL
            GROUP BY username HAVING count(*) > 1
            """)
        for name in duplicated {
            let rows = try db.rows("""
                SELECT s.seq, s.locator, u.username AS current
                FROM staged s LEFT JOIN users u ON u.id = s.user_id
                WHERE s.skip IS NULL AND s.username = ? ORDER BY s.seq
                """, name)
            let keeper: Int64? = rows.first(where: { ($0["current"] as String?) == name })?["seq"]
            for row in rows {
                let seq: Int64 = row["seq"]
                guard seq != keeper else { continue }
                let others = rows.filter { ($0["seq"] as Int64) != seq }.map { $0["locator"] as String }
                try db.execute("UPDATE staged SET skip = ? WHERE seq = ?", "username '\(name)' conflict: also given to \(others.joined(separator: "; ")) (usernames must be unique, after lowercasing when it is on); not merged",
                    seq)
            }
        }

        // 3. A deleted account re-created with the same username (a new stable id): the old row
        //    (of this source, its id gone from the directory) takes the new id.
        //    From the records left unmatched, as in step 1: with the usernames' index unique,
        //    SQLite chose to scan the source's users instead and probe it (0.04 s of a no-op).
        if sourceUsers {
            try db.execute("""
                UPDATE staged SET user_id = m.id, action = 'relink'
                FROM (SELECT s.seq, u.id FROM staged s CROSS JOIN users u
                      WHERE s.skip IS NULL AND s.user_id IS NULL
                        AND u.source = ? AND u.username = s.username
                        AND NOT EXISTS (SELECT 1 FROM staged s2 WHERE s2.external_id = u.external_id)
                        AND NOT EXISTS (SELECT 1 FROM identical i WHERE i.user_id = u.id)
                        \(goneFromDirectory("u"))) m
                WHERE staged.seq = m.seq
                """, source)
        }

        // 4. Adoption of users made by hand, when the options allow it.
        switch anyUsers ? options.adoptExistingBy : .none {
        case .none:
            break
        case .username:
            try db.execute("""
                UPDATE staged SET user_id = u.id, action = 'adopt'
                FROM users u
                WHERE staged.skip IS NULL AND staged.user_id IS NULL AND u.source IS NULL AND u.username = staged.username
                """)
        case .email:
            // One pass over the hand-made users, indexed, rather than a scan per record.
            try db.execute("""
                CREATE TEMP TABLE hand_emails AS
                    SELECT lower(email) AS key, min(id) AS id, count(*) AS n
                    FROM users WHERE source IS NULL AND email IS NOT NULL GROUP BY lower(email);
                CREATE INDEX hand_emails_key ON hand_emails (key);
                UPDATE staged SET user_id = h.id, action = 'adopt'
                FROM hand_emails h
                WHERE staged.skip IS NULL AND staged.user_id IS NULL AND staged.email IS NOT NULL
                  AND h.key = lower(staged.email) AND h.n = 1;
                UPDATE staged SET skip = 'email ''' || email || ''' belongs to several users usersync does not manage: not adopted'
                WHERE skip IS NULL AND user_id IS NULL AND email IS NOT NULL
                  AND EXISTS (SELECT 1 FROM hand_emails h WHERE h.key = lower(staged.email) AND h.n > 1);
                """)
        }
        if anyUsers && options.adoptExistingBy != .none {
            try db.execute("""
                UPDATE staged SET skip = 'would adopt the same user as another record: not adopted', user_id = NULL, action = NULL
                WHERE action = 'adopt'
                  AND seq NOT IN (SELECT min(seq) FROM staged WHERE action = 'adopt' AND skip IS NULL GROUP BY user_id)
                """)
        }

        // 5. Usernames held by someone else: reported and skipped, never merged.
        if anyUsers {
            try db.execute("""
                UPDATE staged SET skip = 'username ''' || staged.username || ''' is taken by ' ||
                    CASE WHEN u.source IS NULL
                         THEN 'user ' || u.id || ', which usersync does not manage (made by hand or by the application); options.adoptExistingBy: username would take it over'
                         WHEN u.source = ?1 THEN 'user ' || u.id || ' of this source (another directory entry)'
                         ELSE 'user ' || u.id || ' of the source ''' || u.source || ''''
                    END
                FROM users u
                WHERE staged.skip IS NULL AND staged.user_id IS NULL AND u.username = staged.username
                """, source)
            if options.updateUsers && mapping[.username] != nil {
                try db.execute("""
                    UPDATE staged SET skip = 'cannot rename ''' || me.username || ''' to ''' || staged.username ||
                        ''': the name is taken by user ' || other.id ||
                        CASE WHEN other.source IS NULL THEN ', which usersync does not manage'
                             WHEN other.source = ?1 THEN ' of this source' ELSE ' of the source ''' || other.source || '''' END
                    FROM users me, users other
                    WHERE staged.skip IS NULL AND staged.user_id = me.id AND staged.username IS DISTINCT FROM me.username
                      AND other.username = staged.username AND other.id <> me.id
                    """, source)
            }
        }

        // 6. What is left and unknown is new (`Planner.creates`).
        if !options.createUsers {
            try db.execute("""
                UPDATE staged SET skip = 'a new user, and options.createUsers is false'
                WHERE skip IS NULL AND user_id IS NULL
                """)
        }
    }

    /// A condition (`AND …`) on the user `alias`, not among the records read, that holds when
    /// its entry is no longer in the directory's scope. A full read sent every entry, so the
    /// absence says it: nothing to add. A delta's present phase listed every entry in
    /// `staged_present`, and the changed ones that no longer match in `staged_gone`. A delta
    /// that lists deletions names them in `staged_gone`; a user
    /// deactivated as missing by an earlier run (its last change of state says so) is gone too,
    /// so that an account re-created with its username takes the old row back exactly as a
    /// full read would.
    func goneFromDirectory(_ alias: String) -> String {
        switch request.delta {
        case nil:
            return ""
        case .listedPresent:
            // syncprov lists changed entries as present too: one that changed and was not found
            // by the re-read (it left the base or the filter) is in `staged_gone`.
            return """
                AND (NOT EXISTS (SELECT 1 FROM staged_present p WHERE p.external_id = \(alias).external_id)
                     OR EXISTS (SELECT 1 FROM staged_gone g WHERE g.external_id = \(alias).external_id))
                """
        case .listedGone:
            return """
                AND (EXISTS (SELECT 1 FROM staged_gone g WHERE g.external_id = \(alias).external_id)
                     OR (\(alias).state = 'deactivated'
                         AND (SELECT c.new_value FROM changes c
                              WHERE c.object_type = 'user' AND c.object_id = \(alias).id AND c.action IN ('create', 'deactivate', 'reactivate')
                              ORDER BY c.id DESC LIMIT 1) = 'missing from the directory'))
                """
        }
    }

    /// One `update` change per field that differs between a compared record and its user, in
    /// one pass: each staged row joined to its user once, against a row per column. (A
    /// statement per column joined every compared record to its user once per column: nine
    /// passes over the 10,000 records of a 10%-changed run took 0.20 s, this one 0.07 s.)
    /// A plain CASE over a numbered list serves both stores; SQLite has no LATERAL.
    private func recordChangedFields(_ db: any SQLSession, _ columns: [String]) throws {
        func pick(_ value: (String) -> String) -> String {
            "CASE f.n " + columns.enumerated().map { "WHEN \($0.offset) THEN \(value($0.element))" }.joined(separator: " ") + " END"
        }
        let numbers = columns.indices.map { "SELECT \($0) AS n" }.joined(separator: " UNION ALL ")
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'user', c.id, 'update', c.field, c.old, c.new, c.locator
            FROM (SELECT u.id, s.locator, \(pick { "'\($0)'" }) AS field,
                         \(pick { "u.\($0)" }) AS old, \(pick { $0 == "dn" ? "s.locator" : "s.\($0)" }) AS new
                  FROM staged s JOIN users u ON u.id = s.user_id CROSS JOIN (\(numbers)) f
                  WHERE \(Planner.compared)) c
            WHERE c.old IS DISTINCT FROM c.new
            """, runId)
    }

    /// The store columns of `users` that an index covers (`users_email`, username's UNIQUE).
    static let indexedColumns: Set<String> = ["username", "email"]

    /// Rewrites the compared users whose mapped columns differ from their records. The rows whose
    /// indexed columns are as they were (a changed title, phone or name: nearly all of them) are
    /// updated without those columns: SQLite rewrites the entries of every index on a column the
    /// SET list names, whether the value changed or not, and leaving them out made 10,000 such
    /// updates a fifth cheaper (0.16 s against 0.20 s in the shell). The rows whose username or
    /// email changed are updated whole, after.
    private func updateChangedRows(_ db: any SQLSession, _ columns: [String]) throws {
        func value(_ column: String) -> String { column == "dn" ? "s.locator" : "s.\(column)" }
        func assignments(_ columns: [String]) -> String { columns.map { "\($0) = \(value($0))" }.joined(separator: ", ") }
        func differ(_ columns: [String]) -> String {
            columns.map { "users.\($0) IS DISTINCT FROM \(value($0))" }.joined(separator: " OR ")
        }
        let indexed = columns.filter { Planner.indexedColumns.contains($0) }
        let plain = columns.filter { !Planner.indexedColumns.contains($0) }
        if !indexed.isEmpty && !plain.isEmpty {
            let same = indexed.map { "users.\($0) IS NOT DISTINCT FROM \(value($0))" }.joined(separator: " AND ")
            try db.execute("""
                UPDATE users SET \(assignments(plain)), updated_at = ?
                FROM staged s
                WHERE users.id = s.user_id AND \(Planner.compared) AND \(same) AND (\(differ(plain)))
                """, now)
        }
        try db.execute("""
            UPDATE users SET \(assignments(columns)), updated_at = ?
            FROM staged s
            WHERE users.id = s.user_id AND \(Planner.compared) AND (\(differ(indexed.isEmpty ? columns : indexed)))
            """, now)
    }

    // MARK: Write

    /// Whether the read found every active user of the source identical to its row, so that
    /// none can be missing: known without the missing step's pass over every user (0.03–0.05 s
    /// of a no-op at 100,000). Exact on SQLite, inside the plan's transaction: as many
    /// fingerprints as when they were loaded means no fingerprinted row was updated or deleted
    /// since (the trigger forgets on both, and nothing adds them while the run lock is held).
    /// So the identical records whose rows were active then (each a user of its own, all still
    /// in `identical`) are active users of the source now; if there are as many active users
    /// as that, they are those. A full read only. (PostgreSQL neither counts the fingerprints
    /// nor knows the rows' states: it never takes this path.)
    func noneMissing(_ db: any SQLSession, activeBefore: Int) throws -> Bool {
        guard request.delta == nil, let read = request.identicalRead, let active = request.identicalActive,
              let prints = request.fingerprintRows, active == activeBefore else { return false }
        let row = try db.row("SELECT (SELECT count(*) FROM sync_fingerprints) AS prints, (SELECT count(*) FROM identical) AS identical")!
        return (row["prints"] as Int) == prints && (row["identical"] as Int) == read
    }

    /// Writes the plan's changes; returns how many users it created. `noneMissing`: the missing
    /// step can find nobody (`noneMissing(_:activeBefore:)`).
    func write(_ db: any SQLSession, noneMissing: Bool = false) throws -> Int {
        let run = runId
        // Adoption: the user becomes this source's.
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'user', s.user_id, 'adopt', NULL, NULL, s.external_id, s.locator
            FROM staged s WHERE s.skip IS NULL AND s.action = 'adopt'
            """, run)
        try db.execute("""
            UPDATE users SET source = ?, external_id = s.external_id, updated_at = ?
            FROM staged s WHERE s.skip IS NULL AND s.action = 'adopt' AND users.id = s.user_id
            """, source, now)
        // A re-created account: the row takes the new stable id.
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'user', u.id, 'update', 'external_id', u.external_id, s.external_id, s.locator
            FROM staged s JOIN users u ON u.id = s.user_id WHERE s.skip IS NULL AND s.action = 'relink'
            """, run)
        try db.execute("""
            UPDATE users SET external_id = s.external_id, updated_at = ?
            FROM staged s WHERE s.skip IS NULL AND s.action = 'relink' AND users.id = s.user_id
            """, now)

        // Changed fields, one change row each; the DN is always kept current.
        let columns = (options.updateUsers ? mappedColumns : []) + (locatorIsDN ? ["dn"] : [])
        if !columns.isEmpty { try recordChangedFields(db, columns) }
        if !columns.isEmpty { try updateChangedRows(db, columns) }

        // An incremental source with groups keeps each user's DN normalised, so that a delta
        // can resolve the members of a changed group against users it did not read (other
        // sources never look it up: they write it only with new users). An identical record has
        // the DN its row was written with (the fingerprint covers it), so a delta looks only at
        // the records it compared; a full read, the one deltas build on, writes it for every
        // user read (the first run after migration v7 is one). Writing a row makes the store
        // forget its fingerprint (the trigger), so this is done once per row, not every run.
        if request.groups, request.watermark != nil {
            let every = request.delta == nil
            try db.execute("""
                UPDATE users SET dn_norm = s.dn_norm
                FROM staged s
                WHERE users.id = s.user_id AND s.dn_norm IS NOT NULL AND users.dn_norm IS DISTINCT FROM s.dn_norm
                  \(every ? "" : "AND s.unchanged = 0")
                """)
        }

        // Disabled in the directory: deactivated. Enabled again: reactivated.
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'user', u.id, 'deactivate', NULL, NULL, 'disabled in the directory', s.locator
            FROM staged s JOIN users u ON u.id = s.user_id
            WHERE \(Planner.compared) AND s.disabled AND u.state = 'active'
            """, run)
        // Each state change follows its change rows, found by their index (changes_run_kind):
        // joining the compared records to their users a second time cost 15 ms a statement
        // at 10,000 records, for a state that had changed for none of them.
        try db.execute("""
            UPDATE users SET state = 'deactivated', deactivated_at = ?1, updated_at = ?1
            WHERE id IN (SELECT object_id FROM changes WHERE run_id = ?2 AND object_type = 'user' AND action = 'deactivate')
              AND state = 'active'
            """, now, run)
        if options.reactivateReturning {
            try db.execute("""
                INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
                SELECT ?, 'user', u.id, 'reactivate', NULL, NULL,
                       CASE s.action WHEN 'relink' THEN 're-created in the directory with a new ' || ? ELSE 'back in the directory, enabled' END,
                       s.locator
                FROM staged s JOIN users u ON u.id = s.user_id
                WHERE \(Planner.compared) AND NOT s.disabled AND u.state = 'deactivated'
                """, run, idAttribute)
            try db.execute("""
                UPDATE users SET state = 'active', deactivated_at = NULL, updated_at = ?1
                WHERE id IN (SELECT object_id FROM changes WHERE run_id = ?2 AND object_type = 'user' AND action = 'reactivate')
                  AND state = 'deactivated'
                """, now, run)
        }

        // Missing from a complete read, or gone by a delta's word: deactivated (never deleted).
        if options.deactivateMissing && !noneMissing {
            // A delta that lists deletions starts from its few gone ids, not from every user
            // (CROSS JOIN: SQLite keeps that order, and scanned the 100,000 users of a delta
            // with no deletion for 0.12 s otherwise; PostgreSQL plans it as a join).
            let listed = request.delta == .listedGone
            try db.execute("""
                CREATE TEMP TABLE missing AS
                    SELECT u.id, \(StagingTables.userLocator) AS dn
                    FROM \(listed ? "staged_gone g CROSS JOIN users u" : "users u")
                    WHERE u.source = ? \(listed ? "AND u.external_id = g.external_id" : "") AND u.state = 'active'
                      AND NOT EXISTS (SELECT 1 FROM identical i WHERE i.user_id = u.id)
                      AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.user_id = u.id)
                      AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.external_id = u.external_id)
                      \(listed ? "" : goneFromDirectory("u"))
                """, source)
            try db.execute("""
                INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
                SELECT ?, 'user', id, 'deactivate', NULL, NULL, 'missing from the directory', dn FROM missing
                """, run)
            // No longer in the directory, so no member list names it there: its normalised DN
            // goes (a group delta must not find it by a DN a stale list still holds).
            try db.execute("""
                UPDATE users SET state = 'deactivated', deactivated_at = ?1, updated_at = ?1, dn_norm = NULL WHERE id IN (SELECT id FROM missing)
                """, now)
            try db.execute("DROP TABLE missing")
        }

        // New users; one already disabled in the directory is stored deactivated. Their ids are
        // given here, numbered in the order read after a block reserved for them, so that
        // `changes` and `sync_fingerprints` name them without looking each one up again by its
        // stable id.
        let new = try NewUsers.number(db)
        let creating = new.count
        let base = try NewUsers.reserveIDs(db, count: creating)
        // A first import (more new users than rows in the table) goes in without the index of
        // `users` by email, built again by one sort (BulkInsert). The other secondary indexes of
        // `users` and `changes` stay: the new rows add to their ends (one source and state; one
        // run, ids in order), which cost less than building them again (users 0.29 s against
        // 0.32 s, changes 0.30 s against 0.32 s at 100,000 on SQLite; 0.06 s of an import).
        try BulkInsert.run(db, table: "users", indexes: [.usersEmail],
                           bulk: creating >= BulkInsert.rows && Int64(creating) >= base) {
            try db.execute("""
                INSERT INTO users (id, source, external_id, \(UserField.columns.joined(separator: ", ")), dn, dn_norm,
                                   attributes, state, created_at, updated_at, deactivated_at)
                SELECT ?2 + \(new.n), ?1, s.external_id, \(UserField.columns.map { "s.\($0)" }.joined(separator: ", ")),
                       \(locatorIsDN ? "s.locator" : "NULL"), \(request.groups ? "s.dn_norm" : "NULL"), s.attributes, CASE WHEN s.disabled THEN 'deactivated' ELSE 'active' END, ?3, ?3,
                       CASE WHEN s.disabled THEN ?3 END
                FROM \(new.from) ORDER BY \(new.order)
                """, source, base, now)
        }
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?1, 'user', ?2 + \(new.n), 'create', NULL, NULL,
                   CASE WHEN s.disabled THEN 'deactivated (disabled in the directory)' ELSE 'active' END, s.locator
            FROM \(new.from) ORDER BY \(new.order)
            """, run, base)

        // What each row was written from, for the next run to recognise (after every update of
        // `users`: its trigger forgets the fingerprints of rows it changes).
        try db.execute("""
            INSERT INTO sync_fingerprints (user_id, id_hash, fingerprint)
            SELECT user_id, id_hash, fingerprint FROM staged s WHERE \(Planner.compared) AND id_hash IS NOT NULL AND fingerprint IS NOT NULL
            ON CONFLICT (user_id) DO UPDATE SET id_hash = excluded.id_hash, fingerprint = excluded.fingerprint
            """)
        try db.execute("""
            INSERT INTO sync_fingerprints (user_id, id_hash, fingerprint)
            SELECT ?1 + \(new.n), s.id_hash, s.fingerprint FROM \(new.from)
            WHERE s.id_hash IS NOT NULL AND s.fingerprint IS NOT NULL ORDER BY \(new.order)
            """, base)
        if recordCreatedIDs { try new.recordIDs(db, base: base) }
        try new.drop(db)

        // Skipped records, with the reason.
        try db.execute("""
            INSERT INTO changes (run_id, object_type, object_id, action, field, old_value, new_value, record)
            SELECT ?, 'user', coalesce(user_id, 0), 'skip', NULL, username, skip, locator
            FROM staged WHERE skip IS NOT NULL ORDER BY seq
            """, run)
        return creating
    }

    // MARK: Counts

    /// Records that were identical to their rows' last records and stayed so.
    func identicalRecords(_ db: any SQLSession) throws -> Int {
        try db.value(Int.self, """
            SELECT (SELECT count(*) FROM staged WHERE unchanged = 1 AND skip IS NULL AND action = 'match')
                 + (SELECT count(*) FROM identical)
            """) ?? 0
    }

    /// The run's counts; `created`: what `write` returned.
    func counts(_ db: any SQLSession, created: Int) throws -> SyncReport.Counts {
        // Each count by its own indexed query (changes (run_id, object_type, action)).
        let user = "FROM changes WHERE run_id = ?1 AND object_type = 'user'"
        let row = try db.row("""
            SELECT
                (SELECT count(DISTINCT object_id) \(user) AND action IN ('update', 'adopt')
                    AND object_id NOT IN (SELECT object_id \(user) AND action IN ('create', 'deactivate', 'reactivate'))) AS updated,
                (SELECT count(DISTINCT object_id) \(user) AND action = 'deactivate') AS deactivated,
                (SELECT count(DISTINCT object_id) \(user) AND action = 'reactivate') AS reactivated,
                (SELECT count(*) FROM staged WHERE skip IS NULL AND action IN \(Planner.matched)
                    AND user_id NOT IN (SELECT object_id \(user) AND action IN ('update', 'adopt', 'deactivate', 'reactivate')))
                  + (SELECT count(*) FROM identical) AS unchanged,
                (SELECT count(*) FROM staged WHERE skip IS NOT NULL) AS skipped
            """, runId)!
        var counts = SyncReport.Counts()
        counts.created = created
        counts.updated = row["updated"]
        counts.deactivated = row["deactivated"]
        counts.reactivated = row["reactivated"]
        counts.unchanged = row["unchanged"]
        counts.skipped = row["skipped"]
        return counts
    }

    /// The run's first changes (up to `limit` of each kind; only skips when `onlySkips`), with
    /// usernames, and how many there are in all. One indexed query per kind: an import's
    /// hundred thousand creates are counted, not sorted.
    func changes(_ db: any SQLSession, limit: Int, onlySkips: Bool = false) throws -> ([PlannedChange], Int) {
        let total = try db.value(Int.self, "SELECT count(*) FROM changes WHERE run_id = ?", runId) ?? 0
        guard limit > 0, total > 0 else { return ([], total) }
        let kinds = try db.rows("""
            SELECT DISTINCT object_type, action FROM changes WHERE run_id = ?\(onlySkips ? " AND action = 'skip'" : "")
            """, runId)
        var changes: [PlannedChange] = []
        for kind in kinds {
            changes += try db.records(PlannedChange.self, """
                SELECT c.*, \(ChangeText.columns)
                FROM (SELECT * FROM changes WHERE run_id = ? AND object_type = ? AND action = ? ORDER BY id LIMIT ?) c
                \(ChangeText.joins)
                ORDER BY c.id
                """, runId, kind["object_type"] as String, kind["action"] as String, limit)
        }
        changes.sort { $0.changeId < $1.changeId }
        return (changes, total)
    }
}

/// SQL that turns `changes` rows into readable ones: the user's or group's name, and for a
/// membership the member's name. A membership's member id is text in `changes`; the CASE casts
/// it only on membership rows (PostgreSQL may evaluate a join's conditions in any order, and
/// `'active'` is no number), and keeps the lookup on the primary key.
enum ChangeText {
    static let columns = """
        CASE c.object_type WHEN 'user' THEN coalesce(u.username, c.old_value) ELSE coalesce(g.name, c.old_value) END AS name,
        CASE WHEN c.object_type = 'membership' AND c.field = 'user' THEN mu.username
             WHEN c.object_type = 'membership' AND c.field = 'group' THEN mg.name END AS member_name
        """
    static let joins = """
        LEFT JOIN users u ON u.id = c.object_id AND c.object_type = 'user'
        LEFT JOIN groups g ON g.id = c.object_id AND c.object_type IN ('group', 'membership')
        LEFT JOIN users mu ON mu.id = CASE WHEN c.object_type = 'membership' AND c.field = 'user' THEN CAST(coalesce(c.new_value, c.old_value) AS BIGINT) END
        LEFT JOIN groups mg ON mg.id = CASE WHEN c.object_type = 'membership' AND c.field = 'group' THEN CAST(coalesce(c.new_value, c.old_value) AS BIGINT) END
        """
}

extension PlannedChange: SQLRowDecodable {
    public init(row: SQLRow) {
        self.init(userId: row["object_id"], username: row["name"], action: row["action"], field: row["field"],
                  oldValue: row["old_value"], newValue: row["new_value"], record: row["record"])
        objectType = row["object_type"]
        memberName = row["member_name"]
        changeId = row["id"]
    }
}

/// The new users of a plan (staged rows that `Planner.creates`), numbered 1, 2, … in the order
/// read, so that their ids are given once and `changes` and `sync_fingerprints` name them
/// without looking each one up again: `from` puts them in FROM as `s` (every staged column)
/// with their number `n`, in the order `order`.
///
/// When every staged record is new and they were read one after the other (an import: none
/// skipped, matched or left out of scope), their places in the read number them already, in both
/// stores: no numbering is made (0.09 s of an import at 100,000 on SQLite).
///
/// Otherwise the numbering is the one place where the stores are given different SQL, both
/// measured on 100,000 new users. SQLite numbers them into a temporary table, its rowid given as the rows
/// arrive in `seq` order (a `row_number()` window cost twice as much there). On PostgreSQL that
/// table cost 0.34 s to fill (an identity column) and each statement then hashed it against
/// `staged` and sorted the result (0.3 s each); the window over `staged`, in `seq` order, is
/// computed in each statement for less than either.
struct NewUsers {
    let from: String
    let n: String
    let order: String
    /// How many there are.
    let count: Int
    /// Numbered in a table of their own (`created`), dropped by `drop`.
    var table = false
    /// Numbered by their places in the read: `seq` less this.
    var offset: Int64?

    static func number(_ db: any SQLSession) throws -> NewUsers {
        // Each count by a partial index (`StagingTables.create`), the first by the table's own count.
        let row = try db.row("""
            SELECT (SELECT count(*) FROM staged) AS total,
                   (SELECT count(*) FROM staged WHERE action IS NOT NULL) AS identified,
                   (SELECT count(*) FROM staged WHERE skip IS NOT NULL AND action IS NULL) AS skipped,
                   (SELECT coalesce(min(seq), 1) FROM staged) AS first,
                   (SELECT coalesce(max(seq), 0) FROM staged) AS last
            """)!
        let (total, first, last): (Int, Int64, Int64) = (row["total"], row["first"], row["last"])
        let count = total - (row["identified"] as Int) - (row["skipped"] as Int)
        if count == total && last - first + 1 == Int64(total) {
            return NewUsers(from: "staged s", n: "(s.seq - \(first - 1))", order: "s.seq", count: count, offset: first - 1)
        }
        switch db.dialect {
        case .sqlite:
            try db.execute("DROP TABLE IF EXISTS created")
            try db.execute("CREATE TEMP TABLE created (n \(db.dialect.generatedKey), seq INTEGER NOT NULL)")
            try db.execute("INSERT INTO created (seq) SELECT seq FROM staged WHERE \(Planner.creates) ORDER BY seq")
            return NewUsers(from: "created c JOIN staged s ON s.seq = c.seq", n: "c.n", order: "c.n", count: count, table: true)
        case .postgres:
            return NewUsers(from: "(SELECT row_number() OVER (ORDER BY seq) AS n, * FROM staged WHERE \(Planner.creates)) s",
                            n: "s.n", order: "s.seq", count: count)
        }
    }

    /// Writes the new users' ids (`base` + their number) into `staged.user_id`.
    func recordIDs(_ db: any SQLSession, base: Int64) throws {
        if let offset {
            try db.execute("UPDATE staged SET user_id = ?1 + (seq - ?2)", base, offset)
        } else {
            try db.execute("UPDATE staged SET user_id = ?1 + \(n) FROM \(from) WHERE staged.seq = s.seq", base)
        }
    }

    func drop(_ db: any SQLSession) throws {
        if table { try db.execute("DROP TABLE created") }
    }

    /// Reserves `count` ids for the new users and returns the one before them (`base`: the new
    /// users are `base + 1 … base + count`), so that no row the application inserts meanwhile
    /// or afterwards with its table's default id can take one of them.
    ///
    /// SQLite gives a default id past the largest rowid, and the transaction holds the only
    /// write lock: the largest id in use is the base. On PostgreSQL the default comes from the
    /// identity's sequence, which explicit ids never advance: after an import of ids 1 to 9,
    /// the application's next user was given id 1 and then 2, 3… — each refused on the key. The
    /// sequence is moved past the block first, in one statement (setval is not rolled back, so a
    /// run that fails later leaves a gap, never a collision: "To avoid blocking concurrent
    /// transactions that obtain numbers from the same sequence, the value obtained by nextval
    /// is not reclaimed", https://www.postgresql.org/docs/15/functions-sequence.html).
    static func reserveIDs(_ db: any SQLSession, count: Int) throws -> Int64 {
        switch db.dialect {
        case .sqlite:
            return try db.value(Int64.self, "SELECT coalesce(max(id), 0) FROM users") ?? 0
        case .postgres:
            return try db.value(Int64.self, """
                SELECT CASE WHEN ?1 = 0 THEN t.base ELSE setval(t.sequence, t.base + ?1) - ?1 END
                FROM (SELECT CAST(pg_get_serial_sequence('users', 'id') AS regclass) AS sequence,
                             greatest((SELECT coalesce(max(id), 0) FROM users),
                                      coalesce(pg_sequence_last_value(CAST(pg_get_serial_sequence('users', 'id') AS regclass)), 0)) AS base) t
                """, count) ?? 0
        }
    }
}
