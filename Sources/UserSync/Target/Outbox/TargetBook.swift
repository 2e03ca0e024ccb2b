import Foundation

/// A store user as a push sees it: the row (nil when the user is gone from the store or from
/// the target's sources) and what the target was last sent.
struct PushCandidate: Sendable {
    struct Row: Sendable {
        var id: Int64
        var externalId: String?
        var fields: UserFieldValues
        var dn: String?
        var attributes: [String: String]
        var active: Bool
    }

    var objectId: Int64
    var row: Row?
    /// What the target holds: nil when usersync never pushed the object.
    var remote: Remote?

    struct Remote: Sendable {
        var id: String?
        var sent: SCIMAttributes
        var state: String
        var failures: Int
        var quarantined: Bool
    }
}

/// What one object's push did, as the store keeps it in `target_objects`.
struct PushedObject: Sendable {
    var objectType = "user"
    var objectId: Int64
    var remoteId: String?
    var sent: SCIMAttributes
    var state: String
    var failures: Int
    var error: String?
    var quarantined: Bool
}

/// One request of a push, as `push_requests` keeps it.
struct PushRequestRecord: Sendable {
    var objectType: String
    var objectId: Int64
    var method: String
    var path: String
    var status: Int
    var outcome: String
    var error: String?
    var milliseconds: Int
}

/// The statements of targets, on either store: the outbox (what changed since a target's
/// position), the objects pushed, and the record of pushes.
enum TargetBook {
    static let keepPushes = 10

    /// `IN (?, ?, …)` for `count` values.
    static func placeholders(_ count: Int) -> String {
        "(" + Array(repeating: "?", count: max(count, 1)).joined(separator: ", ") + ")"
    }

    /// The target's position: runs up to it are pushed (0 for a target never pushed).
    static func position(_ db: any SQLSession, target: String) throws -> Int64 {
        try db.value(Int64.self, "SELECT position FROM targets WHERE name = ?", target) ?? 0
    }

    /// Where a push that read the store now may put the position: past every run that has
    /// ended, but before the first one still running (its changes are not visible yet; a
    /// concurrent run of another source on a shared store can end after a later one began).
    static func nextPosition(_ db: any SQLSession, after position: Int64) throws -> Int64 {
        if let running = try db.value(Int64.self, "SELECT min(id) FROM runs WHERE status = 'running' AND id > ?", position) {
            return running - 1
        }
        return try db.value(Int64.self, "SELECT max(id) FROM runs") ?? position
    }

    static let userColumns = """
        u.id, u.external_id, u.username, u.email, u.first_name, u.last_name, u.display_name, u.manager, u.dn, u.attributes, u.state
        """

    /// The users to look at: those of the sources that changed in a run after `position`, that
    /// were never pushed (active ones), whose last push failed or never got an answer; every
    /// user of the sources when `full`.
    static func userCandidates(_ db: any SQLSession, target: String, sources: [String], position: Int64, full: Bool) throws -> [PushCandidate] {
        let rows = try db.rows("""
            SELECT \(userColumns), t.remote_id, t.sent, t.state AS remote_state, t.failures, t.quarantined_at
            FROM users u LEFT JOIN target_objects t ON t.target = ? AND t.object_type = 'user' AND t.object_id = u.id
            WHERE u.source IN \(placeholders(sources.count))
              AND (? = 1
                   OR (t.object_id IS NULL AND u.state = 'active')
                   OR t.failures > 0 OR t.state = 'pending'
                   OR u.id IN (SELECT c.object_id FROM changes c WHERE c.run_id > ? AND c.object_type = 'user'))
            ORDER BY u.id
            """, [target.sqlValue] + sources.map(\.sqlValue) + [full.sqlValue, position.sqlValue])
        return rows.map { row in
            PushCandidate(objectId: row["id"], row: userRow(row), remote: remote(row))
        }
    }

    /// The users pushed and still there (or pending) that are gone from the store or from the
    /// target's sources.
    static func departedUsers(_ db: any SQLSession, target: String, sources: [String]) throws -> [PushCandidate] {
        let rows = try db.rows("""
            SELECT t.object_id, t.remote_id, t.sent, t.state AS remote_state, t.failures, t.quarantined_at
            FROM target_objects t
            WHERE t.target = ? AND t.object_type = 'user' AND t.state IN ('active', 'pending')
              AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.object_id AND u.source IN \(placeholders(sources.count)))
            ORDER BY t.object_id
            """, [target.sqlValue] + sources.map(\.sqlValue))
        return rows.map { PushCandidate(objectId: $0["object_id"], row: nil, remote: remote($0)) }
    }

    private static func userRow(_ row: SQLRow) -> PushCandidate.Row {
        var fields = UserFieldValues()
        for field in UserField.allCases { fields[field] = row[field.column] as String? }
        let attributesText: String = row["attributes"]
        let attributes = (try? JSONDecoder().decode([String: String].self, from: Data(attributesText.utf8))) ?? [:]
        return PushCandidate.Row(id: row["id"], externalId: row["external_id"], fields: fields, dn: row["dn"],
                                 attributes: attributes, active: (row["state"] as String) == "active")
    }

    private static func remote(_ row: SQLRow) -> PushCandidate.Remote? {
        guard let state = row["remote_state"] as String? else { return nil }
        return PushCandidate.Remote(id: row["remote_id"], sent: SCIMAttributes(stored: row["sent"]), state: state,
                                    failures: row["failures"], quarantined: (row["quarantined_at"] as String?) != nil)
    }

    /// How many users the target holds active, as far as usersync knows: the guard's base.
    static func activeRemoteUsers(_ db: any SQLSession, target: String) throws -> Int {
        try db.value(Int.self, "SELECT count(*) FROM target_objects WHERE target = ? AND object_type = 'user' AND state = 'active'", target) ?? 0
    }

    /// The remote ids usersync believes are on the target, by object.
    static func remoteIDs(_ db: any SQLSession, target: String, objectType: String) throws -> [(Int64, String)] {
        try db.rows("""
            SELECT object_id, remote_id FROM target_objects
            WHERE target = ? AND object_type = ? AND remote_id IS NOT NULL AND state IN ('active', 'deactivated')
            """, target, objectType).map { ($0["object_id"], $0["remote_id"]) }
    }

    /// Objects the target no longer holds (it lost them: restored from a backup, or emptied):
    /// pending again, so that the next look creates (or adopts) them.
    static func forget(_ db: any SQLSession, target: String, objectType: String, ids: [Int64], at time: String) throws {
        try forgetMemberships(db, target: target, objectType: objectType, ids: ids)
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
            try db.execute("""
                UPDATE target_objects SET remote_id = NULL, sent = '{}', state = 'pending', updated_at = ?
                WHERE target = ? AND object_type = ? AND object_id IN \(placeholders(chunk.count))
                """, [time.sqlValue, target.sqlValue, objectType.sqlValue] + chunk.map(\.sqlValue))
        }
    }

    /// Keeps what the pushes of objects did.
    static func save(_ db: any SQLSession, target: String, objects: [PushedObject], at time: String) throws {
        for chunk in stride(from: 0, to: objects.count, by: 400).map({ Array(objects[$0..<min($0 + 400, objects.count)]) }) {
            // Objects whose id on the target changes (created again) lose the memberships sent.
            let known = try db.rows("""
                SELECT object_id, remote_id FROM target_objects
                WHERE target = ? AND object_type = ? AND remote_id IS NOT NULL AND object_id IN \(placeholders(chunk.count))
                """, [target.sqlValue, chunk[0].objectType.sqlValue] + chunk.map(\.objectId.sqlValue))
            let before = Dictionary(known.map { ($0["object_id"] as Int64, $0["remote_id"] as String) }, uniquingKeysWith: { a, _ in a })
            let changed = chunk.filter { o in before[o.objectId].map { $0 != o.remoteId } ?? false }.map(\.objectId)
            if !changed.isEmpty { try forgetMemberships(db, target: target, objectType: chunk[0].objectType, ids: changed) }
            var values: [SQLValue] = []
            for o in chunk {
                values += [target.sqlValue, o.objectType.sqlValue, o.objectId.sqlValue, o.remoteId.sqlValue, o.sent.stored.sqlValue,
                           o.state.sqlValue, o.failures.sqlValue, o.error.sqlValue, (o.quarantined ? time : nil).sqlValue, time.sqlValue]
            }
            try db.execute("""
                INSERT INTO target_objects (target, object_type, object_id, remote_id, sent, state, failures, last_error, quarantined_at, updated_at)
                VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                ON CONFLICT (target, object_type, object_id) DO UPDATE SET remote_id = excluded.remote_id, sent = excluded.sent,
                    state = excluded.state, failures = excluded.failures, last_error = excluded.last_error,
                    quarantined_at = coalesce(target_objects.quarantined_at, excluded.quarantined_at), updated_at = excluded.updated_at
                """, values)
            // An object that went through is no longer quarantined.
            let cleared = chunk.filter { $0.failures == 0 }.map(\.objectId)
            if !cleared.isEmpty {
                try db.execute("""
                    UPDATE target_objects SET quarantined_at = NULL
                    WHERE target = ? AND object_type = ? AND quarantined_at IS NOT NULL AND object_id IN \(placeholders(cleared.count))
                    """, [target.sqlValue, chunk[0].objectType.sqlValue] + cleared.map(\.sqlValue))
            }
        }
    }

    /// Forgets objects whose row is gone and that the target never held.
    static func drop(_ db: any SQLSession, target: String, objectType: String, ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try db.execute("DELETE FROM target_objects WHERE target = ? AND object_type = ? AND object_id IN \(placeholders(ids.count))",
                       [target.sqlValue, objectType.sqlValue] + ids.map(\.sqlValue))
    }

    static func setPosition(_ db: any SQLSession, target: String, position: Int64, at time: String) throws {
        try db.execute("""
            INSERT INTO targets (name, position, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """, target, position, time)
    }

    // MARK: Pushes

    static func beginPush(_ db: any SQLSession, target: String, run: Int64?, dryRun: Bool, at time: String) throws -> Int64 {
        // A push of this target left running was killed (the caller holds the target's lock).
        try db.execute("""
            UPDATE pushes SET status = 'failed', finished_at = coalesce(finished_at, ?),
                error = 'interrupted: the process ended before the push finished (killed or crashed); what it sent is recorded per object'
            WHERE status = 'running' AND target = ?
            """, time, target)
        return try db.value(Int64.self, "INSERT INTO pushes (target, run_id, started_at, status, dry_run) VALUES (?, CAST(? AS bigint), ?, 'running', ?) RETURNING id",
                            target, run, time, dryRun)!
    }

    static func addRequests(_ db: any SQLSession, push: Int64, firstSeq: Int, _ requests: [PushRequestRecord]) throws {
        var seq = firstSeq
        for chunk in stride(from: 0, to: requests.count, by: 400).map({ Array(requests[$0..<min($0 + 400, requests.count)]) }) {
            var values: [SQLValue] = []
            for r in chunk {
                values += [push.sqlValue, seq.sqlValue, r.objectType.sqlValue, r.objectId.sqlValue, r.method.sqlValue, r.path.sqlValue,
                           r.status.sqlValue, r.outcome.sqlValue, r.error.sqlValue, r.milliseconds.sqlValue]
                seq += 1
            }
            try db.execute("""
                INSERT INTO push_requests (push_id, seq, object_type, object_id, method, path, status, outcome, error, milliseconds)
                VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                """, values)
        }
    }

    static func finishPush(_ db: any SQLSession, _ report: PushReport, at time: String) throws {
        guard let id = report.pushId else { return }
        let c = report.users
        let g = report.groups ?? PushReport.Counts()
        try db.execute("""
            UPDATE pushes SET finished_at = ?, status = ?, created = ?, updated = ?, deactivated = ?, reactivated = ?, deleted = ?,
                adopted = ?, failed = ?, quarantined = ?, requests = ?, error = ?,
                groups_created = ?, groups_updated = ?, groups_deleted = ?, members_added = ?, members_removed = ?
            WHERE id = ?
            """, time, report.status.rawValue, c.created, c.updated, c.deactivated, c.reactivated, c.deleted, c.adopted,
                       report.failed, report.quarantined, report.requests, report.error,
                       g.created + g.adopted, g.updated, g.deleted, report.membersAdded, report.membersRemoved, id)
        // The requests of the last keepPushes pushes of the target are kept.
        try db.execute("""
            DELETE FROM push_requests WHERE push_id IN
                (SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM pushes WHERE target = ?) p WHERE p.n > ?)
            """, report.target, keepPushes)
    }
}
