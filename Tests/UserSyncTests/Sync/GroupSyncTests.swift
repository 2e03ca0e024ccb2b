import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Testing
@testable import UserSync

extension SyncHarness {
    /// Effective members (usernames) of every group of the store, by group name.
    func effective() async throws -> [String: Set<String>] {
        try await store.read { db in
            var result: [String: Set<String>] = [:]
            for row in try db.rows("""
                SELECT g.name, u.username FROM groups g
                LEFT JOIN effective_group_members e ON e.group_id = g.id LEFT JOIN users u ON u.id = e.user_id
                WHERE g.state = 'active'
                """) {
                let name: String = row["name"]
                var members = result[name] ?? []
                if let user: String = row["username"] { members.insert(user) }
                result[name] = members
            }
            return result
        }
    }

    func parents() async throws -> Set<String> {
        try await store.read { db in
            Set(try db.values(String.self, """
                SELECT c.name || '<' || p.name FROM group_parents gp JOIN groups c ON c.id = gp.group_id JOIN groups p ON p.id = gp.parent_id
                """))
        }
    }
}

func names(_ numbers: [Int]) -> Set<String> { Set(numbers.map(Slapd.userName)) }

let groupsSection = """
        groups:
          base: ou=groups,dc=example,dc=com
          filter: (objectClass=groupOfNames)
    """

@Suite("Group trees with OpenLDAP")
struct GroupSyncTests {
    static let tree = Slapd.sampleGroupTree

    @Test("a 5-level tree, a group with two parents and a cycle: effective memberships exactly; the run completes and reports", arguments: StoreKind.allCases)
    func treeImport(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let source = try h.source(options: "", groups: groupsSection)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.groups?.created == 10 && report.groupsRead == 10)
        #expect(report.cycles == ["cyclea", "cycleb"])
        #expect(report.unresolvedMembers == 2, "the missing entry and the DN outside the tree")
        #expect(try await h.effective() == [
            "l1": names([1, 2, 3, 4, 5, 6]), "l2": names([2, 3, 4, 5]), "l3": names([3, 4, 5]), "l4": names([4, 5]), "l5": names([5]),
            "shared": names([6]), "other": names([6, 7]), "cyclea": names([8, 9]), "cycleb": names([8, 9]), "outside": names([10]),
        ])
        #expect(try await h.parents() == ["l2<l1", "shared<l1", "l3<l2", "l4<l3", "l5<l4", "shared<other", "cycleb<cyclea", "cyclea<cycleb"])
        #expect(report.memberships?.added == 8 + 10)

        // A group made by the application, with a member and under a synced group: never touched.
        let now = "2026-01-01T00:00:00.000Z"
        try await h.store.write { db in
            let id = try db.value(Int64.self, "INSERT INTO groups (name, created_at, updated_at) VALUES ('app-admins', ?1, ?1) RETURNING id", now)
            try db.execute("INSERT INTO group_members (group_id, user_id) SELECT ?, id FROM users WHERE username = 'user00011'", id)
            try db.execute("INSERT INTO group_parents (group_id, parent_id) SELECT ?, id FROM groups WHERE name = 'l1'", id)
        }
        let again = await h.sync(source)
        #expect(again.groups?.unchanged == 10 && again.memberships == MembershipCounts())
        let hand = try await h.store.read { db in
            try db.row("""
                SELECT g.state, (SELECT count(*) FROM group_members m WHERE m.group_id = g.id) AS members,
                       (SELECT count(*) FROM group_parents p WHERE p.group_id = g.id) AS parents
                FROM groups g WHERE g.name = 'app-admins'
                """)
        }
        let state: String? = hand?["state"]
        let members: Int? = hand?["members"]
        let parents: Int? = hand?["parents"]
        #expect(state == "active")
        #expect(members == 1)
        #expect(parents == 1)
    }

    @Test("a user's history (own changes and memberships), last record and the tree's outline, as users show and the console read them", arguments: StoreKind.allCases)
    func userHistory(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let source = try h.source(options: "", groups: groupsSection)
        #expect(await h.sync(source).status == .applied)
        try await h.modify("""
            dn: cn=l5,ou=groups,dc=example,dc=com
            changetype: modify
            replace: member
            member: \(Slapd.userDN(4))

            dn: \(Slapd.userDN(5))
            changetype: modify
            replace: mail
            mail: five@example.org

            """)
        #expect(await h.sync(source).status == .applied)
        let five = try #require(try await h.store.user(named: "user00005"))
        let lines = try await h.store.history(user: five.id).map { ChangeDescription.historyLine($0) }
        // Newest first; a run records its users' changes before its memberships.
        #expect(lines == ["removed from group l5", "update email: user00005@example.com → five@example.org", "added to group l5", "create: active"],
                "\(lines)")
        #expect(try await h.store.history(user: five.id, limit: 2).count == 2)
        let four = try #require(try await h.store.user(named: "user00004"))
        #expect(try await h.store.history(user: four.id).map { ChangeDescription.historyLine($0) }.filter { $0.contains("group") }
                == ["added to group l5", "added to group l4"])
        #expect(try await h.store.lastRecord(of: five, stableIDAttribute: "entryUUID")?.record.string("mail") == "five@example.org")

        let outline = GroupOutline(try await h.store.groupTree())
        let roots = outline.entries.filter { !$0.inCycleOnly }.map(\.node.group.name)
        #expect(roots.sorted() == ["l1", "other", "outside"])
        #expect(outline.entries.filter(\.inCycleOnly).count == 1, "the cycle, drawn once from its first group")
        let l1 = try #require(outline.entries.first { $0.node.group.name == "l1" }?.node)
        #expect(l1.children.map(\.group.name) == ["l2", "shared"] && l1.children[1].parents == 2)
        #expect(l1.children[0].children[0].children[0].children[0].group.name == "l5")
        let shallow = GroupOutline(try await h.store.groupTree(), depth: 1)
        #expect(shallow.entries.first { $0.node.group.name == "l1" }?.node.hiddenChildren == 2)
        let cut = GroupOutline(try await h.store.groupTree(), limit: 3)
        #expect(cut.truncated)
    }

    @Test("every user and group read as before: nothing changes, the report is the same; a user moved by a run without groups, a user gone and a new entry a group lists are each resolved again", arguments: StoreKind.allCases)
    func unchangedRead(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let withGroups = try h.source(options: "", groups: groupsSection)
        let usersOnly = try h.source(options: "")
        let first = await h.sync(withGroups)
        #expect(first.status == .applied, "\(first.error ?? "")")
        let tree = try await h.effective()
        let parents = try await h.parents()
        func fingerprints() async throws -> Int {
            try await h.store.read { db in try db.value(Int.self, "SELECT count(*) FROM group_fingerprints") ?? -1 }
        }
        #expect(try await fingerprints() == 10)

        // Nothing changed: the same counts, cycles and unresolved members as the full plan's.
        let again = await h.sync(withGroups)
        var unchanged = GroupCounts()
        unchanged.unchanged = 10
        #expect(again.status == .applied && again.groups == unchanged && again.memberships == MembershipCounts())
        #expect(again.cycles == ["cyclea", "cycleb"] && again.unresolvedMembers == 2)
        #expect(try await h.effective() == tree)
        #expect(try await h.parents() == parents)

        // A user moved by a run of a configuration without groups (no referential integrity
        // here: l5 still lists the old DN): that run forgets the groups' fingerprints, and the
        // next group run finds l5's member gone although no group changed.
        try await h.modify("""
            dn: \(Slapd.userDN(5))
            changetype: modrdn
            newrdn: uid=moved5
            deleteoldrdn: 1

            """)
        let moved = await h.sync(usersOnly)
        #expect(moved.status == .applied && moved.users.updated == 1)
        #expect(try await fingerprints() == 0)
        let afterMove = await h.sync(withGroups)
        #expect(afterMove.status == .applied && afterMove.memberships?.removed == 1 && afterMove.unresolvedMembers == 3)
        #expect(try await h.effective()["l5"] == [])
        #expect(try await h.effective()["l1"] == names([1, 2, 3, 4, 6]))

        // A member gone from the directory while every group is as before: deactivated, and out
        // of its groups.
        try await h.modify("dn: \(Slapd.userDN(6))\nchangetype: delete\n\n")
        let gone = await h.sync(withGroups)
        #expect(gone.status == .applied && gone.users.deactivated == 1 && gone.memberships?.removed == 1)
        #expect(gone.unresolvedMembers == 4, "the ghost, the DN elsewhere, and the two users' DNs the groups still list")
        let afterGone = try await h.effective()
        #expect(afterGone["shared"] == [] && afterGone["other"] == names([7]))

        // A new entry at a DN a group already listed (the ghost `outside` names): 3 unresolved left.
        try await h.modify("""
            dn: uid=ghost,ou=people,\(Slapd.suffix)
            changetype: add
            objectClass: inetOrgPerson
            uid: ghost
            cn: Ghost
            sn: Ghost
            mail: ghost@example.com

            """)
        let ghost = await h.sync(withGroups)
        #expect(ghost.status == .applied && ghost.users.created == 1 && ghost.memberships?.added == 1 && ghost.unresolvedMembers == 3)
        #expect(try await h.effective()["outside"] == names([10]).union(["ghost"]))
        let settled = await h.sync(withGroups)
        #expect(settled.groups == unchanged && settled.memberships == MembershipCounts() && settled.unresolvedMembers == 3)
        #expect(try await fingerprints() == 10)
    }

    @Test("changes: a member removed, a group nested into another, a group renamed, a group deleted; each with changes rows", arguments: StoreKind.allCases)
    func treeChanges(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let source = try h.source(options: "", groups: groupsSection)
        _ = await h.sync(source)
        let l3 = try await h.store.read { db in try db.value(Int64.self, "SELECT id FROM groups WHERE name = 'l3'") }
        try await h.modify("""
            dn: cn=l5,ou=groups,\(Slapd.suffix)
            changetype: modify
            delete: member
            member: \(Slapd.userDN(5))
            -
            add: member
            member: cn=other,ou=groups,\(Slapd.suffix)

            dn: cn=l3,ou=groups,\(Slapd.suffix)
            changetype: modrdn
            newrdn: cn=level3
            deleteoldrdn: 1

            dn: cn=l2,ou=groups,\(Slapd.suffix)
            changetype: modify
            replace: member
            member: cn=level3,ou=groups,\(Slapd.suffix)
            member: \(Slapd.userDN(2))

            dn: cn=cyclea,ou=groups,\(Slapd.suffix)
            changetype: delete

            """)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.groups?.updated == 1 && report.groups?.deactivated == 1)
        let effective = try await h.effective()
        #expect(effective["level3"] == names([3, 4, 6, 7]))
        #expect(effective["l5"] == names([6, 7]))
        #expect(effective["l1"] == names([1, 2, 3, 4, 6]).union(names([7])))
        #expect(effective["cyclea"] == nil, "deactivated")
        let renamed = try await h.store.read { db in try db.value(Int64.self, "SELECT id FROM groups WHERE name = 'level3'") }
        #expect(renamed == l3, "a rename keeps the row")
        let changes = try await h.store.changes(run: report.runId!)
        let summary = Set(changes.map { "\($0.action) \($0.field ?? "")" })
        #expect(summary.isSuperset(of: ["remove user", "add group", "update name", "update dn", "deactivate "]))
    }

    @Test("users.memberOf by the group tree: only direct and nested members are synced; leaving the group deactivates", arguments: StoreKind.allCases)
    func groupScopedUsers(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let source = try h.source(options: "", groups: groupsSection,
                                  memberOf: "cn=l3,ou=groups,\(Slapd.suffix)")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(Set(try await h.users().keys) == names([3, 4, 5]))
        try await h.modify("""
            dn: cn=l5,ou=groups,\(Slapd.suffix)
            changetype: modify
            replace: member
            member: \(Slapd.userDN(11))

            """)
        let next = await h.sync(source)
        #expect(next.users.deactivated == 1 && next.users.created == 1)
        #expect(try await h.users()[Slapd.userName(5)]?.state == "deactivated")
        #expect(try await h.users()[Slapd.userName(11)]?.state == "active")
    }

    @Test("groupOfUniqueNames (uniqueMember, with a UID suffix) and posixGroup (memberUid) sources")
    func otherShapes() async throws {
        let h = try await SyncHarness.start(users: 5, extraLDIF: """
            dn: cn=unique,ou=groups,\(Slapd.suffix)
            objectClass: groupOfUniqueNames
            cn: unique
            uniqueMember: \(Slapd.userDN(1))
            uniqueMember: \(Slapd.userDN(2))#'0101'B
            uniqueMember: cn=uniquechild,ou=groups,\(Slapd.suffix)

            dn: cn=uniquechild,ou=groups,\(Slapd.suffix)
            objectClass: groupOfUniqueNames
            cn: uniquechild
            uniqueMember: \(Slapd.userDN(3))

            dn: cn=posix,ou=groups,\(Slapd.suffix)
            objectClass: posixGroup
            cn: posix
            gidNumber: 5000
            memberUid: user00004
            memberUid: USER00005
            memberUid: nobody

            """)
        let unique = await h.sync(try h.source(groups: """
                    groups:
                      base: ou=groups,dc=example,dc=com
                      membership: uniqueMember
                """))
        #expect(unique.status == .applied, "\(unique.error ?? "")")
        var effective = try await h.effective()
        #expect(effective == ["unique": names([1, 2, 3]), "uniquechild": names([3])])

        let posix = await h.sync(try h.source(groups: """
                    groups:
                      base: ou=groups,dc=example,dc=com
                      membership: memberUid
                """), force: true)
        #expect(posix.status == .applied, "\(posix.error ?? "")")
        #expect(posix.unresolvedMembers == 1)
        effective = try await h.effective()
        #expect(effective["posix"] == names([4, 5]))
        #expect(effective["unique"] == nil, "groups of the other shape are no longer read: deactivated")
    }

    @Test("include and exclude patterns, tree: false, and the guard on group deactivations", arguments: StoreKind.allCases)
    func filtersAndGuard(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree, store: store)
        let filtered = await h.sync(try h.source(groups: """
                groups:
                  base: ou=groups,dc=example,dc=com
                  include: "^l[0-9]$"
                  exclude: "^l5$"
                  tree: false
            """))
        #expect(filtered.status == .applied, "\(filtered.error ?? "")")
        var effective = try await h.effective()
        #expect(effective == ["l1": names([1]), "l2": names([2]), "l3": names([3]), "l4": names([4])], "no nesting followed")
        #expect(try await h.parents().isEmpty)

        let all = try h.source(options: "      maxDeactivations: 10%", groups: groupsSection)
        #expect(await h.sync(all).status == .applied)
        effective = try await h.effective()
        #expect(effective["l1"] == names([1, 2, 3, 4, 5, 6]), "nesting followed once tree is on")
        try await h.modify(["cyclea", "cycleb", "outside"].map { "dn: cn=\($0),ou=groups,\(Slapd.suffix)\nchangetype: delete\n" }
            .joined(separator: "\n") + "\n")
        let stopped = await h.sync(all)
        #expect(stopped.status == .stopped)
        #expect(stopped.error?.contains("3 groups would be deactivated, more than the 1 allowed") == true, "\(stopped.error ?? "")")
        #expect(try await h.effective().count == 10, "nothing changed")
        let forced = await h.sync(all, force: true)
        #expect(forced.status == .applied && forced.groups?.deactivated == 3)
    }
}
