import Foundation

/// A row of `groups`, with its member counts.
public struct GroupRecord: Codable, Sendable, SQLRowDecodable, Hashable {
    public var id: Int64
    public var source: String?
    public var externalId: String?
    public var name: String
    public var dn: String?
    public var state: String
    public var directMembers: Int
    public var effectiveMembers: Int
    public var createdAt: String
    public var updatedAt: String
    public var deactivatedAt: String?

    public init(row: SQLRow) {
        id = row["id"]
        source = row["source"]
        externalId = row["external_id"]
        name = row["name"]
        dn = row["dn"]
        state = row["state"]
        directMembers = row["direct_members"] ?? 0
        effectiveMembers = row["effective_members"] ?? 0
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
        deactivatedAt = row["deactivated_at"]
    }
}

/// The group tree of the store: groups and nesting edges, for drawing and inspection.
public struct GroupTree: Codable, Sendable {
    public var groups: [GroupRecord]
    /// (child, parent) edges between the groups listed.
    public var edges: [Edge]

    public struct Edge: Codable, Sendable, Hashable {
        public var group: Int64
        public var parent: Int64
    }

    public func parents(of id: Int64) -> [Int64] { edges.filter { $0.group == id }.map(\.parent) }
    public func children(of id: Int64) -> [Int64] { edges.filter { $0.parent == id }.map(\.group) }
}

extension UserStore {
    static let groupColumns = """
        g.*, (SELECT count(*) FROM group_members m WHERE m.group_id = g.id) AS direct_members,
             (SELECT count(*) FROM effective_group_members e WHERE e.group_id = g.id) AS effective_members
        """

    /// The groups (active ones unless `all`) of a source, or of every source, and their nesting.
    public func groupTree(source: String? = nil, includeDeactivated: Bool = false) async throws -> GroupTree {
        try await read { db in
            let groups = try db.records(GroupRecord.self, """
                SELECT \(UserStore.groupColumns) FROM groups g
                WHERE (?1 IS NULL OR g.source = ?1) AND (?2 = 1 OR g.state = 'active') ORDER BY g.name, g.id
                """, source, includeDeactivated)
            let ids = Set(groups.map(\.id))
            let edges = try db.rows("SELECT group_id, parent_id FROM group_parents ORDER BY parent_id, group_id")
                .map { GroupTree.Edge(group: $0["group_id"], parent: $0["parent_id"]) }
                .filter { ids.contains($0.group) && ids.contains($0.parent) }
            return GroupTree(groups: groups, edges: edges)
        }
    }

    /// Groups by name, DN or `#ID` (a name may belong to several groups in different places).
    public func groups(named name: String) async throws -> [GroupRecord] {
        try await read { db in
            if name.hasPrefix("#"), let id = Int64(name.dropFirst()) {
                return try db.records(GroupRecord.self, "SELECT \(UserStore.groupColumns) FROM groups g WHERE g.id = ?", id)
            }
            return try db.records(GroupRecord.self, """
                SELECT \(UserStore.groupColumns) FROM groups g WHERE g.name = ?1 OR lower(g.dn) = lower(?1) ORDER BY g.id
                """, name)
        }
    }

    /// Usernames of a group's direct (or, with `effective`, nested) members.
    public func members(ofGroup id: Int64, effective: Bool) async throws -> [String] {
        try await read { db in
            try db.values(String.self, """
                SELECT u.username FROM \(effective ? "effective_group_members" : "group_members") m JOIN users u ON u.id = m.user_id
                WHERE m.group_id = ? ORDER BY u.username
                """, id)
        }
    }

    /// The groups a user is in: directly, and through nesting.
    public func groups(ofUser id: Int64) async throws -> (direct: [String], effective: [String]) {
        try await read { db in
            let direct = try db.values(String.self, """
                SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.name
                """, id)
            let effective = try db.values(String.self, """
                SELECT g.name FROM effective_group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.name
                """, id)
            return (direct, effective)
        }
    }
}
