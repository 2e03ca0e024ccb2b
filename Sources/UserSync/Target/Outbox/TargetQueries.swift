import Foundation

/// A row of `pushes`.
public struct PushRecord: Codable, Sendable, SQLRowDecodable {
    public var id: Int64
    public var target: String
    /// The run whose apply it followed (nil: `usersync push` by hand).
    public var runId: Int64?
    public var startedAt: String
    public var finishedAt: String?
    public var status: String
    public var dryRun: Bool
    public var created: Int
    public var updated: Int
    public var deactivated: Int
    public var reactivated: Int
    public var deleted: Int
    public var adopted: Int
    public var failed: Int
    public var quarantined: Int
    public var groupsCreated: Int
    public var groupsUpdated: Int
    public var groupsDeleted: Int
    public var membersAdded: Int
    public var membersRemoved: Int
    public var requests: Int
    public var error: String?

    public init(row: SQLRow) throws {
        id = row["id"]
        target = row["target"]
        runId = row["run_id"]
        startedAt = row["started_at"]
        finishedAt = row["finished_at"]
        status = row["status"]
        dryRun = row["dry_run"]
        created = row["created"]
        updated = row["updated"]
        deactivated = row["deactivated"]
        reactivated = row["reactivated"]
        deleted = row["deleted"]
        adopted = row["adopted"]
        failed = row["failed"]
        quarantined = row["quarantined"]
        groupsCreated = row["groups_created"]
        groupsUpdated = row["groups_updated"]
        groupsDeleted = row["groups_deleted"]
        membersAdded = row["members_added"]
        membersRemoved = row["members_removed"]
        requests = row["requests"]
        error = row["error"]
    }
}

/// One request a push sent, as `usersync targets show` lists it.
public struct PushRequest: Codable, Sendable, SQLRowDecodable {
    public var seq: Int
    public var objectType: String
    public var objectId: Int64
    /// The user's username or the group's name, when the store still has it.
    public var name: String?
    public var method: String
    public var path: String
    public var status: Int
    public var outcome: String
    public var error: String?
    public var milliseconds: Int

    public init(row: SQLRow) throws {
        seq = row["seq"]
        objectType = row["object_type"]
        objectId = row["object_id"]
        name = row["name"]
        method = row["method"]
        path = row["path"]
        status = row["status"]
        outcome = row["outcome"]
        error = row["error"]
        milliseconds = row["milliseconds"]
    }
}

/// An object whose pushes failed: how many times in a row, the last error, and since when it
/// is quarantined (if it is).
public struct FailingObject: Codable, Sendable, SQLRowDecodable {
    public var objectType: String
    public var objectId: Int64
    public var name: String?
    public var remoteId: String?
    public var failures: Int
    public var lastError: String?
    public var quarantinedAt: String?

    public init(row: SQLRow) throws {
        objectType = row["object_type"]
        objectId = row["object_id"]
        name = row["name"]
        remoteId = row["remote_id"]
        failures = row["failures"]
        lastError = row["last_error"]
        quarantinedAt = row["quarantined_at"]
    }
}

/// What `usersync targets status` shows of one target.
public struct TargetStatus: Codable, Sendable {
    public var target: String
    /// The runs up to this id are pushed.
    public var position: Int64
    /// Runs applied since, whose changes the next push sends.
    public var runsBehind: Int
    public var lastPush: PushRecord?
    /// Objects by type and by their state on the target (active, deactivated, deleted, pending).
    public var objects: [String: [String: Int]]
    public var failing: [FailingObject]
}

extension UserStore {
    /// The pushes of a target (all targets when nil), newest first.
    public func pushes(target: String? = nil, limit: Int = 20) async throws -> [PushRecord] {
        try await read { db in
            try db.records(PushRecord.self, "SELECT * FROM pushes WHERE ?1 IS NULL OR target = ?1 ORDER BY id DESC LIMIT ?2",
                           target, limit)
        }
    }

    /// The pushes that followed a run's apply.
    public func pushes(afterRun run: Int64) async throws -> [PushRecord] {
        try await read { db in try db.records(PushRecord.self, "SELECT * FROM pushes WHERE run_id = ? ORDER BY id", run) }
    }

    public func push(id: Int64) async throws -> PushRecord? {
        try await read { db in try db.record(PushRecord.self, "SELECT * FROM pushes WHERE id = ?", id) }
    }

    /// The requests a push sent, in order (kept for the last 10 pushes of each target).
    public func pushRequests(push id: Int64) async throws -> [PushRequest] {
        try await read { db in
            try db.records(PushRequest.self, """
                SELECT r.*, coalesce(u.username, g.name) AS name FROM push_requests r
                LEFT JOIN users u ON r.object_type = 'user' AND u.id = r.object_id
                LEFT JOIN groups g ON r.object_type = 'group' AND g.id = r.object_id
                WHERE r.push_id = ? ORDER BY r.seq
                """, id)
        }
    }

    /// Where a target stands: its position, its last push, its objects, and those failing.
    public func targetStatus(_ target: String) async throws -> TargetStatus {
        try await read { db in
            let position = try TargetBook.position(db, target: target)
            let behind = try db.value(Int.self, "SELECT count(*) FROM runs WHERE id > ? AND status = 'applied'", position) ?? 0
            let last = try db.record(PushRecord.self, "SELECT * FROM pushes WHERE target = ? ORDER BY id DESC LIMIT 1", target)
            var objects: [String: [String: Int]] = [:]
            for row in try db.rows("SELECT object_type, state, count(*) AS n FROM target_objects WHERE target = ? GROUP BY object_type, state", target) {
                objects[row["object_type"], default: [:]][row["state"]] = row["n"]
            }
            let failing = try db.records(FailingObject.self, """
                SELECT t.object_type, t.object_id, coalesce(u.username, g.name) AS name, t.remote_id, t.failures, t.last_error, t.quarantined_at
                FROM target_objects t
                LEFT JOIN users u ON t.object_type = 'user' AND u.id = t.object_id
                LEFT JOIN groups g ON t.object_type = 'group' AND g.id = t.object_id
                WHERE t.target = ? AND t.failures > 0
                ORDER BY t.quarantined_at IS NULL, t.failures DESC, t.object_id
                """, target)
            return TargetStatus(target: target, position: position, runsBehind: behind, lastPush: last, objects: objects, failing: failing)
        }
    }
}
