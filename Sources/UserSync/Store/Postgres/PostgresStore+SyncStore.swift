import Foundation
import Logging

/// The PostgreSQL store behind the engine's boundary.
extension PostgresStore: StoreBackend {
    var dialect: SQLDialect { .postgres }
    var locksPerSource: Bool { true }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await link().transaction(readOnly: true) { session in try body(session) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await link().transaction { session in try body(session) }
    }

    func close() async {
        await shared.withLockedValue({ $0 })?.close()
    }

    /// Opens the run's connection and waits up to `timeout` for the source's advisory lock,
    /// asking every half second (`pg_try_advisory_lock`: a blocked `pg_advisory_lock` could not
    /// be given up at the timeout).
    func lockRuns(source: String, timeout: Duration) async throws -> any RunLease {
        try await advisoryLease(key: runLockKey(source: source), timeout: timeout) {
            let holder = try? await self.runLockHolder(source: source)
            return StoreError.sourceBusy(store: self.name, source: source, holder: holder ?? nil)
        }
    }

    /// A push's lock: an advisory lock per (schema, target), on a connection of its own.
    func lockPush(target: String, timeout: Duration) async throws -> any RunLease {
        try await advisoryLease(key: lockKey("push\u{0}\(target)"), timeout: timeout) {
            StoreError.targetBusy(store: self.name, target: target)
        }
    }

    /// Takes the advisory lock `key` on a new connection, held until the lease is released
    /// (or the connection ends), waiting up to `timeout`.
    private func advisoryLease(key: Int64, timeout: Duration, busy: @Sendable () async -> StoreError) async throws -> any RunLease {
        let link = try await runLink()
        let deadline = ContinuousClock.now + timeout
        while true {
            let taken = try await link.run { db in try db.value(Bool.self, "SELECT pg_try_advisory_lock(?)", key) ?? false }
            if taken { return PostgresRunLease(link: link) }
            guard ContinuousClock.now < deadline else {
                let error = await busy()
                await link.close()
                throw error
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The `application_name` of the session that holds the source's advisory lock. A 64-bit
    /// key shows in `pg_locks` as `classid` (high half) and `objid` (low half), `objsubid` 1
    /// (https://www.postgresql.org/docs/15/view-pg-locks.html).
    func runLockHolder(source: String) async throws -> String? {
        let key = UInt64(bitPattern: runLockKey(source: source))
        return try await read { db in
            try db.value(String.self, """
                SELECT coalesce(nullif(a.application_name, ''), 'pid ' || a.pid) || coalesce(' from ' || host(a.client_addr), '')
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = CAST(? AS oid) AND l.objid = CAST(? AS oid) AND l.objsubid = 1
                LIMIT 1
                """, Int64(key >> 32), Int64(key & 0xffff_ffff))
        }
    }

    /// As SQLite's `KnownRecords.load`: two users whose ids share a hash are both left out.
    /// The rows are taken as they arrive, never all held at once.
    func knownRecords(source: String, snapshotTaken: @escaping @Sendable () -> Void) async throws -> KnownRecords {
        try await link().transaction(readOnly: true) { db in
            // Filled on the connection's event loop, one row after another; read when the
            // query has ended.
            final class Loaded: @unchecked Sendable {
                var known = KnownRecords()
            }
            let loaded = Loaded()
            // Every source's fingerprints: a bound, counted without the join.
            loaded.known.byIdHash = IdHashTable(capacity: try db.value(Int.self, "SELECT count(*) FROM sync_fingerprints") ?? 0)
            // REPEATABLE READ: "a snapshot as of the start of the first non-transaction-control
            // statement in the transaction" (PostgreSQL's documentation, 13.2.2).
            snapshotTaken()
            try db.forEachRow("""
                SELECT f.id_hash, f.fingerprint, f.user_id FROM sync_fingerprints f JOIN users u ON u.id = f.user_id
                WHERE u.source = $1
                """, [.text(source)]) { row in
                let (idHash, fingerprint, userId) = try row.decode((Int64, Int64, Int64).self)
                guard let entry = KnownRecords.Known(fingerprint: UInt64(bitPattern: fingerprint), userId: userId) else { return }
                loaded.known.byIdHash.add(UInt64(bitPattern: idHash), entry)
            }
            loaded.known.keptChunks = try KeptChunks.load(db, source: source)
            return loaded.known
        }
    }

    func makeStaging(for lease: any RunLease) async throws -> any RunStaging {
        guard let lease = lease as? PostgresRunLease else { preconditionFailure("a PostgreSQL run needs its own lease") }
        let staging = PostgresStaging(link: lease.link)
        try await lease.link.run { db in
            try StagingTables.create(db)
            // The pages' records arrive compressed (as in `run_records`).
            try db.execute("ALTER TABLE staged_records ALTER COLUMN data SET STORAGE EXTERNAL")
        }
        return staging
    }

    /// On the run's connection (its staging tables are there), holding the plan lock for the
    /// transaction: runs of different sources may read at the same time on several nodes, but
    /// plan one after another (new users are numbered from the largest id).
    func plan(_ request: PlanRequest, staging: any RunStaging,
              decide: @escaping @Sendable (PlanFigures) -> PlanDecision) async throws -> PlanOutcome {
        let link = (staging as! PostgresStaging).link
        let key = planLockKey
        return try await link.run { db in
            try db.execute("BEGIN", [])
            do {
                try db.execute("SELECT pg_advisory_xact_lock(?)", key)
                let outcome = try PlanTransaction.run(db, request, decide: decide)
                try db.execute(outcome.committed ? "COMMIT" : "ROLLBACK", [])
                return outcome
            } catch {
                if !link.isClosed { _ = try? db.execute("ROLLBACK", []) }
                throw error
            }
        }
    }

    /// On the run's connection when there is one (its `staged_records` are the records to keep).
    func finishRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int, staging: (any RunStaging)?) async throws {
        let body: @Sendable (PostgresSession) throws -> Void = { db in
            try RunBook.finishRun(db, id, report: report, at: time, keepRecords: keepRecords)
        }
        if let staging = staging as? PostgresStaging, !staging.link.isClosed {
            try await staging.link.transaction(body)
        } else {
            try await link().transaction(body)
        }
    }

    /// On the shared connection: the run's own may be gone (the failure may be that).
    func finishRunWithoutRecords(_ id: Int64, report: SyncReport, staging: any RunStaging) async throws {
        try await link().transaction { db in
            try RunBook.finishRun(db, id, report: report, at: Timestamp.now(), keepRecords: 0, withRecords: false)
        }
    }

    /// PostgreSQL logs slow statements itself (`log_min_duration_statement`).
    func traceSlowStatements(_ logger: Logger?, threshold: Double) async {}

    func watermark(source: String) async throws -> Watermark? {
        try await read { db in try WatermarkTables.load(db, source: source) }
    }

    func appliedMigrations() async throws -> [String] {
        try await read { db in try db.values(String.self, "SELECT identifier FROM schema_migrations ORDER BY applied_at, identifier") }
    }

    /// The schema as the catalog describes it, one line per column, constraint, index,
    /// trigger and function (the schema's name left out), in a stable order: what a test
    /// compares with `schemas/store.postgres.sql` loaded into a schema of its own.
    func schemaSQL() async throws -> [String] {
        let schema = self.schema
        return try await read { db in try PostgresStore.describe(db, schema: schema) }
    }

    static func describe(_ db: any SQLSession, schema: String) throws -> [String] {
        let columns = try db.values(String.self, """
            SELECT 'column ' || c.table_name || '.' || c.column_name || ' ' || c.data_type || CASE WHEN c.is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
                   || coalesce(' DEFAULT ' || c.column_default, '') || CASE WHEN c.is_identity = 'YES' THEN ' IDENTITY ' || c.identity_generation ELSE '' END
            FROM information_schema.columns c
            WHERE c.table_schema = ? AND c.table_name <> 'schema_migrations' ORDER BY c.table_name, c.column_name
            """, schema)
        let constraints = try db.values(String.self, """
            SELECT 'constraint ' || t.relname || ' ' || pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = ? AND t.relname <> 'schema_migrations' ORDER BY 1
            """, schema)
        let indexes = try db.values(String.self, """
            SELECT 'index ' || replace(indexdef, ' ' || schemaname || '.', ' ')
            FROM pg_indexes WHERE schemaname = ? AND tablename <> 'schema_migrations' ORDER BY indexname
            """, schema)
        let triggers = try db.values(String.self, """
            SELECT 'trigger ' || replace(pg_get_triggerdef(g.oid), ' ' || n.nspname || '.', ' ')
            FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = ? AND NOT g.tgisinternal ORDER BY g.tgname
            """, schema)
        let functions = try db.values(String.self, """
            SELECT 'function ' || p.proname || ' ' || regexp_replace(p.prosrc, '\\s+', ' ', 'g')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ? ORDER BY p.proname
            """, schema)
        // Columns stored other than their type's default (run_records.data, EXTERNAL).
        let storage = try db.values(String.self, """
            SELECT 'storage ' || t.relname || '.' || a.attname || ' ' || CAST(a.attstorage AS text)
            FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            JOIN pg_type y ON y.oid = a.atttypid
            WHERE n.nspname = ? AND t.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attstorage <> y.typstorage
            ORDER BY 1
            """, schema)
        return columns + constraints + indexes + triggers + functions + storage
    }
}

/// One run's staging tables on PostgreSQL: temporary tables of the run's connection, filled by
/// `COPY` (a page's users in one stream), checked and joined by the statements both stores share.
final class PostgresStaging: RunStaging, @unchecked Sendable {
    let link: PostgresLink

    init(link: PostgresLink) { self.link = link }

    func add(_ records: [StagedRecord], firstSeq: Int64, archive: ArchiveChunk, withDNs: Bool, idAttribute: String) async throws {
        try await link.run { db in
            try KeptChunks.stage(db, archive, entries: records.count)
            var staged = PostgresCopyText()
            var identical = PostgresCopyText()
            for (i, record) in records.enumerated() {
                let seq = firstSeq + Int64(i)
                switch record {
                case let .mapped(user, fingerprint, idHash, attributes, linkKey):
                    staged.field(seq)
                    staged.field(user.externalId)
                    staged.field(user.locator)
                    staged.field(linkKey)
                    for field in UserField.allCases { staged.field(user[field]) }
                    staged.field(attributes)
                    staged.field(user.disabled ? "t" : "f")
                    staged.field(user.skipReason)
                    staged.field(Int64(bitPattern: fingerprint))
                    staged.field(idHash.map { Int64(bitPattern: $0) })
                    staged.endRow()
                case let .identical(userId, fingerprint, linkKey, _):
                    identical.field(userId)
                    identical.field(seq)
                    identical.field(Int64(bitPattern: fingerprint))
                    identical.field(linkKey)
                    identical.endRow()
                }
            }
            if !staged.isEmpty {
                try db.copy(into: "staged", columns: ["seq", "external_id", "locator", "dn_norm"] + UserField.columns
                                + ["attributes", "disabled", "skip", "fingerprint", "id_hash"], staged.buffer)
            }
            if !identical.isEmpty {
                // A user read twice is found by `StagingTables.finishUsers`, once for the whole read.
                try db.copy(into: "identical", columns: ["user_id", "seq", "fingerprint", "dn_norm"], identical.buffer)
            }
        }
    }

    func finishUsers(source: String, idAttribute: String, stageIdentical: Bool, fingerprintRows: Int?) async throws -> Bool {
        try await link.run { db in
            // The joins below and the planner's need the tables' statistics, which autovacuum
            // never gathers for temporary tables
            // (https://www.postgresql.org/docs/15/sql-createtable.html#SQL-CREATETABLE-TEMPORARY).
            try db.execute("ANALYZE identical (user_id)")
            let distinct = try StagingTables.finishUsers(db, source: source, idAttribute: idAttribute, stageIdentical: stageIdentical,
                                                         fingerprintRows: fingerprintRows)
            // Only the columns the planner joins and filters on: the mapped fields' statistics
            // are never used, and were most of the cost.
            try db.execute("ANALYZE staged (seq, external_id, dn_norm, username, user_id, action, skip, unchanged)")
            return distinct
        }
    }

    func addGroups(_ groups: [GroupMapper.StagedGroup], idAttribute: String) async throws {
        try await link.run { db in try StagingTables.addGroups(db, groups, idAttribute: idAttribute) }
    }

    func addLinks(_ links: [GroupMapper.Link]) async throws {
        try await copy(links, into: "staged_links", columns: ["group_dn", "member", "member_kind"]) { text, link in
            text.field(link.group)
            text.field(link.member)
            text.field(link.kind)
        }
    }

    func addMembers(_ members: [GroupMapper.Member]) async throws {
        try await copy(members, into: "staged_members", columns: ["group_dn", "user_id"]) { text, member in
            text.field(member.group)
            text.field(member.userId)
        }
    }

    /// Rows into a staging table in one `COPY`.
    private func copy<Row: Sendable>(_ rows: [Row], into table: String, columns: [String],
                                     fields: @escaping @Sendable (inout PostgresCopyText, Row) -> Void) async throws {
        guard !rows.isEmpty else { return }
        try await link.run { db in
            var text = PostgresCopyText()
            for row in rows {
                fields(&text, row)
                text.endRow()
            }
            try db.copy(into: table, columns: columns, text.buffer)
        }
    }

    /// Streamed row by row (as the fingerprints are): a million identical users as rows at
    /// once would cost far more memory than the index they make.
    func identicalLinkKeys() async throws -> MemberIndex {
        try await link.run { db in
            // Filled on the connection's event loop, one row after another; read when the
            // query has ended.
            final class Loaded: @unchecked Sendable {
                var index: MemberIndex
                init(_ index: MemberIndex) { self.index = index }
            }
            let loaded = Loaded(MemberIndex(capacity: try db.value(Int.self, "SELECT count(*) FROM identical") ?? 0))
            try db.forEachRow("SELECT user_id, dn_norm FROM identical WHERE dn_norm IS NOT NULL", []) { row in
                let (userId, key) = try row.decode((Int64, String).self)
                loaded.index.add(linkKey: key, userId: userId)
            }
            return loaded.index
        }
    }

    func addIDs(_ ids: [String], to list: DeltaList) async throws {
        guard !ids.isEmpty else { return }
        try await link.run { db in
            var text = PostgresCopyText()
            for id in ids {
                text.field(id)
                text.endRow()
            }
            try db.copy(into: list.rawValue, columns: ["external_id"], text.buffer)
            try db.execute("ANALYZE \(list.rawValue)")
        }
    }

    func addArchive(_ archive: ArchiveChunk, count: Int) async throws {
        try await link.run { db in try KeptChunks.stage(db, archive, entries: count) }
    }

    func finishLinks() async throws {
        try await link.run { db in
            try StagingTables.finishLinks(db)
            try db.execute("ANALYZE staged_groups")
            try db.execute("ANALYZE staged_links")
        }
    }

    func scope(toMembersOf memberOf: [String]) async throws -> Int {
        try await link.run { db in try StagingTables.scope(db, toMembersOf: memberOf) }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await link.run { db in try body(db) }
    }

    func drop() async {
        guard !link.isClosed else { return }
        _ = try? await link.run { db in try StagingTables.drop(db) }
    }
}
