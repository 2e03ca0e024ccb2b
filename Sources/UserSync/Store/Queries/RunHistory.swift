import Foundation
import LDAP

/// A row of `runs`.
public struct RunRecord: Codable, Sendable, SQLRowDecodable {
    public var id: Int64
    public var source: String
    public var startedAt: String
    public var finishedAt: String?
    public var status: String
    public var dryRun: Bool
    public var entriesRead: Int
    public var created: Int
    public var updated: Int
    public var deactivated: Int
    public var reactivated: Int
    public var unchanged: Int
    public var skipped: Int
    public var groupsRead: Int
    public var groupsCreated: Int
    public var groupsUpdated: Int
    public var groupsDeactivated: Int
    public var groupsReactivated: Int
    public var groupsUnchanged: Int
    public var membershipsAdded: Int
    public var membershipsRemoved: Int
    public var error: String?
    /// How an incremental source was read: `full` or `delta` (nil for other sources), with
    /// which method, and why a full read was chosen.
    public var mode: String?
    public var method: String?
    public var fullReason: String?

    public init(row: SQLRow) throws {
        id = row["id"]
        source = row["source"]
        startedAt = row["started_at"]
        finishedAt = row["finished_at"]
        status = row["status"]
        dryRun = row["dry_run"]
        entriesRead = row["entries_read"]
        created = row["created"]
        updated = row["updated"]
        deactivated = row["deactivated"]
        reactivated = row["reactivated"]
        unchanged = row["unchanged"]
        skipped = row["skipped"]
        groupsRead = row["groups_read"]
        groupsCreated = row["groups_created"]
        groupsUpdated = row["groups_updated"]
        groupsDeactivated = row["groups_deactivated"]
        groupsReactivated = row["groups_reactivated"]
        groupsUnchanged = row["groups_unchanged"]
        membershipsAdded = row["memberships_added"]
        membershipsRemoved = row["memberships_removed"]
        error = row["error"]
        mode = row["read_mode"]
        method = row["read_method"]
        fullReason = row["read_reason"]
    }

    /// Seconds from start to finish, when finished.
    public var durationSeconds: Double? {
        guard let finishedAt, let start = Timestamp.date(startedAt), let end = Timestamp.date(finishedAt) else { return nil }
        return end.timeIntervalSince(start)
    }
}

/// A row of `users`.
public struct UserRecord: Codable, Sendable, SQLRowDecodable {
    public var id: Int64
    public var source: String?
    public var externalId: String?
    /// The named fields (`record[.email]`); the username is always set.
    public var fields: UserFieldValues
    public var dn: String?
    /// The extra attributes (the JSON column, decoded).
    public var attributes: [String: String]
    public var state: String
    public var createdAt: String
    public var updatedAt: String
    public var deactivatedAt: String?

    public subscript(field: UserField) -> String? { fields[field] }
    public var username: String { fields[.username] ?? "" }

    public init(row: SQLRow) throws {
        id = row["id"]
        source = row["source"]
        externalId = row["external_id"]
        fields = UserFieldValues()
        for field in UserField.allCases { fields[field] = row[field.column] }
        dn = row["dn"]
        let json: String = row["attributes"]
        attributes = (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
        state = row["state"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
        deactivatedAt = row["deactivated_at"]
    }

    // `users --json`: the fields are keys of their own, as the other columns.
    enum CodingKeys: String, CodingKey {
        case id, source, externalId, dn, attributes, state, createdAt, updatedAt, deactivatedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(externalId, forKey: .externalId)
        try c.encodeIfPresent(dn, forKey: .dn)
        try c.encode(attributes, forKey: .attributes)
        try c.encode(state, forKey: .state)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encodeIfPresent(deactivatedAt, forKey: .deactivatedAt)
        var named = encoder.container(keyedBy: MappedUser.Key.self)
        try fields.encode(to: &named) { MappedUser.Key(stringValue: $0.rawValue) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int64.self, forKey: .id)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        externalId = try c.decodeIfPresent(String.self, forKey: .externalId)
        dn = try c.decodeIfPresent(String.self, forKey: .dn)
        attributes = try c.decode([String: String].self, forKey: .attributes)
        state = try c.decode(String.self, forKey: .state)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        updatedAt = try c.decode(String.self, forKey: .updatedAt)
        deactivatedAt = try c.decodeIfPresent(String.self, forKey: .deactivatedAt)
        fields = try UserFieldValues.decode(from: try decoder.container(keyedBy: MappedUser.Key.self)) { MappedUser.Key(stringValue: $0.rawValue) }
    }
}

/// A row of `changes`, with the run it belongs to.
public struct ChangeRecord: Codable, Sendable, SQLRowDecodable {
    public var runId: Int64
    public var objectType: ObjectType
    public var objectId: Int64
    /// The user's or group's name.
    public var username: String?
    /// For a membership: the member's username or group name.
    public var memberName: String?
    public var action: ChangeAction
    public var field: String?
    public var oldValue: String?
    public var newValue: String?
    public var record: String?
    public var runStartedAt: String?

    public init(row: SQLRow) throws {
        runId = row["run_id"]
        objectType = try ChangeRecord.decode(row, "object_type")
        objectId = row["object_id"]
        username = row["name"]
        memberName = row["member_name"]
        action = try ChangeRecord.decode(row, "action")
        field = row["field"]
        oldValue = row["old_value"]
        newValue = row["new_value"]
        record = row["record"]
        runStartedAt = row["started_at"]
    }

    static func decode<Value: RawRepresentable<String>>(_ row: SQLRow, _ column: String) throws -> Value {
        let text: String = row[column] ?? ""
        guard let value = Value(rawValue: text) else { throw StoreError.unknownValue(table: "changes", column: column, value: text) }
        return value
    }
}

extension UserStore {
    /// The latest runs, newest first; `source` and `status` narrow them, `offset` skips the newest.
    public func runs(limit: Int, source: String? = nil, status: String? = nil, offset: Int = 0) async throws -> [RunRecord] {
        try await read { db in
            try db.records(RunRecord.self, """
                SELECT * FROM runs WHERE (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR status = ?2)
                ORDER BY id DESC LIMIT ?3 OFFSET ?4
                """, source, status, limit, offset)
        }
    }

    public func run(id: Int64) async throws -> RunRecord? {
        try await read { db in try db.record(RunRecord.self, "SELECT * FROM runs WHERE id = ?", id) }
    }

    /// A run's changes in the order they were made (`limit` nil for all), after the first `offset`.
    public func changes(run id: Int64, limit: Int? = nil, offset: Int = 0) async throws -> [ChangeRecord] {
        try await read { db in
            // The page's ids first (from the run's index alone), then the names of those only:
            // a late page of a large run does not join the thousands of changes before it.
            try db.records(ChangeRecord.self, """
                SELECT c.*, \(ChangeText.columns), r.started_at
                FROM changes c JOIN runs r ON r.id = c.run_id \(ChangeText.joins)
                WHERE c.id IN (SELECT id FROM changes WHERE run_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3)
                ORDER BY c.id
                """, id, limit ?? Int.max, offset)
        }
    }

    /// How many changes a run has, by action.
    public func changeCounts(run id: Int64) async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try db.rows("SELECT action, count(*) AS n FROM changes WHERE run_id = ? GROUP BY action", id) {
                counts[row["action"]] = row["n"]
            }
            return counts
        }
    }

    /// Users, by username; `state` and `source` narrow the list, and `matching` to those whose
    /// username, email or display name contains it (any case); `offset` skips the first.
    public func users(matching text: String? = nil, state: String? = nil, source: String? = nil,
                      limit: Int? = nil, offset: Int = 0) async throws -> [UserRecord] {
        // LIKE with an escape character of its own: `%` and `_` typed in a search are letters.
        // A search orders by an expression, not the username index: SQLite would otherwise walk
        // that index and fetch each of the 100,000 rows out of order to test it (70 ms when
        // nothing matches); a scan of the table and a sort of what matches takes 40.
        let pattern = text.flatMap { $0.isEmpty ? nil : "%" + Self.likeEscaped($0) + "%" }
        return try await read { db in
            let like = db.dialect.likeIgnoringCase
            return try db.records(UserRecord.self, """
                SELECT * FROM users WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR source = ?2)
                AND (CAST(?5 AS TEXT) IS NULL OR username \(like) ?5 ESCAPE '!' OR email \(like) ?5 ESCAPE '!'
                     OR display_name \(like) ?5 ESCAPE '!')
                ORDER BY \(pattern == nil ? "username" : "username || ''") LIMIT ?3 OFFSET ?4
                """, state, source, limit ?? Int.max, offset, pattern)
        }
    }

    /// `text` with LIKE's wildcards (and the escape character `!`) escaped by `!`.
    static func likeEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "%" || character == "_" || character == "!" { out.append("!") }
            out.append(character)
        }
        return out
    }

    /// One user, by username (or by id when `name` is `#ID`).
    public func user(named name: String) async throws -> UserRecord? {
        try await read { db in
            if name.hasPrefix("#"), let id = Int64(name.dropFirst()) {
                return try db.record(UserRecord.self, "SELECT * FROM users WHERE id = ?", id)
            }
            return try db.record(UserRecord.self, "SELECT * FROM users WHERE username = ?", name)
        }
    }

    /// A user's changes, newest first: their own, and the groups they joined or left (found by
    /// `MemberChangeIndex`, each part by its index).
    public func history(user id: Int64, limit: Int = 50) async throws -> [ChangeRecord] {
        try await read { db in
            try db.records(ChangeRecord.self, """
                SELECT c.*, \(ChangeText.columns), r.started_at
                FROM changes c JOIN runs r ON r.id = c.run_id \(ChangeText.joins)
                WHERE c.id IN (
                    SELECT id FROM changes WHERE object_type = 'user' AND object_id = ?1
                    UNION ALL
                    SELECT id FROM changes WHERE \(MemberChangeIndex.rows) AND \(MemberChangeIndex.memberExpression) = ?1)
                ORDER BY c.id DESC LIMIT ?2
                """, id, limit)
        }
    }

    /// The last record the user's source sent for them (from the runs that still keep their
    /// records), and the run it came in: the record with the user's DN, or for a user without
    /// one (from a CSV file or a REST API), the user record whose `stableIDAttribute` is the
    /// user's external id.
    public func lastRecord(of user: UserRecord, stableIDAttribute: String?) async throws -> (runId: Int64, record: SourceRecord)? {
        guard let source = user.source else { return nil }
        @Sendable func matches(_ record: SourceRecord) -> Bool {
            if let dn = user.dn { return record.locator.dn == dn }
            guard let attribute = stableIDAttribute, let id = user.externalId, !record.isGroup else { return false }
            return record.stableID(attribute) == id
        }
        return try await read { db in
            let runs = try db.values(Int64.self, """
                SELECT DISTINCT r.id FROM runs r JOIN run_records rr ON rr.run_id = r.id
                WHERE r.source = ? ORDER BY r.id DESC
                """, source)
            for run in runs {
                for chunk in try db.rows("SELECT data, format FROM run_records WHERE run_id = ? ORDER BY chunk", run) {
                    let data: Data = chunk["data"]
                    if let dn = user.dn {
                        if let record = try RecordArchive.record(withDN: dn, in: Array(data), format: chunk["format"]) { return (run, record) }
                        continue
                    }
                    for record in try RecordArchive.decode(Array(data), format: chunk["format"]) where matches(record) {
                        return (run, record)
                    }
                }
            }
            return nil
        }
    }

    /// The records a run received (nil when they are no longer kept).
    public func records(run id: Int64) async throws -> [SourceRecord]? {
        try await read { db in
            let chunks = try db.rows("SELECT data, format FROM run_records WHERE run_id = ? ORDER BY chunk", id)
            if chunks.isEmpty { return nil }
            return try chunks.flatMap { try RecordArchive.decode([UInt8]($0["data"] as Data), format: $0["format"]) }
        }
    }
}

extension Timestamp {
    static func date(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

extension UserStore {
    /// Users and groups of each source by state (`active`, `deactivated`), zeros included.
    public func stateCounts() async throws -> [(table: String, source: String, state: String, count: Int)] {
        try await read { db in
            var result: [(String, String, String, Int)] = []
            for table in ["users", "groups"] {
                let rows = try db.rows("""
                    SELECT source, sum(CASE WHEN state = 'active' THEN 1 ELSE 0 END) AS active,
                           sum(CASE WHEN state = 'deactivated' THEN 1 ELSE 0 END) AS deactivated
                    FROM \(table) WHERE source IS NOT NULL GROUP BY source
                    """)
                for row in rows {
                    let source: String = row["source"]
                    result.append((table, source, "active", row["active"]))
                    result.append((table, source, "deactivated", row["deactivated"]))
                }
            }
            return result
        }
    }
}
