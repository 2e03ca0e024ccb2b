import Foundation
import LDAP
import Logging
import Testing
@testable import UserSync

/// `FixedSource` with groups.
struct FixedGroupSource: RecordSource {
    let users: [SourceRecord]
    let groups: [SourceRecord]

    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        try await page(users)
        return SourceReadInfo()
    }

    func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        try await page(groups)
    }
}

@Suite("Members resolved as the groups are read")
struct MemberIndexTests {
    @Test("the index finds each key added, and nothing else; a key given twice, or an id it cannot hold, makes it incomplete")
    func index() {
        var index = MemberIndex(capacity: 3)
        #expect(index.complete, "empty")
        index.add(linkKey: "uid=a,ou=people,dc=example,dc=com", userId: 1)
        index.add(linkKey: "uid=b,ou=people,dc=example,dc=com", userId: 2)
        #expect(index.complete)
        #expect(index.userId(linkKey: "uid=a,ou=people,dc=example,dc=com") == 1)
        #expect(index.userId(linkKey: "uid=b,ou=people,dc=example,dc=com") == 2)
        #expect(index.userId(linkKey: "uid=c,ou=people,dc=example,dc=com") == nil)
        #expect(index.userId(linkKey: "") == nil)
        // Grows past its capacity.
        for i in 3...200 { index.add(linkKey: "uid=u\(i),ou=people,dc=example,dc=com", userId: Int64(i)) }
        #expect(index.complete)
        #expect((3...200).allSatisfy { index.userId(linkKey: "uid=u\($0),ou=people,dc=example,dc=com") == Int64($0) })
        // One key for two users: neither is resolved, and a key it lacks may be that one.
        var twice = index
        twice.add(linkKey: "uid=a,ou=people,dc=example,dc=com", userId: 9)
        #expect(!twice.complete)
        #expect(twice.userId(linkKey: "uid=a,ou=people,dc=example,dc=com") == nil)
        #expect(twice.userId(linkKey: "uid=b,ou=people,dc=example,dc=com") == 2)
        var huge = index
        huge.add(linkKey: "uid=z,ou=people,dc=example,dc=com", userId: 1 << 62)
        #expect(!huge.complete)
        #expect(huge.userId(linkKey: "uid=z,ou=people,dc=example,dc=com") == nil)
    }

    static func person(_ uid: String, dn: String? = nil) -> SourceRecord {
        FingerprintTests.person(uid, id: "id-\(uid)", dn: dn)
    }

    static func group(_ cn: String, dn: String? = nil, members: [String]) -> SourceRecord {
        SourceRecord(.dn(dn ?? "cn=\(cn),ou=groups,dc=example,dc=com"), attributes: [
            LDAPAttribute(name: "entryUUID", values: [LDAPValue("group-\(cn)")]),
            LDAPAttribute(name: "cn", values: [LDAPValue(cn)]),
            LDAPAttribute(name: "member", values: members.map { LDAPValue($0) }),
        ])
    }

    @Test("members naming users read unchanged resolve as the groups are read, as the plan resolves the rest: nesting, an entry read as a user and as a group, a member that names nothing, a user who changed",
          arguments: StoreKind.allCases)
    func resolvedAsRead(kind: StoreKind) async throws {
        let (store, users, engine) = try await FingerprintTests.setup(kind)
        var settings = users
        settings.groups = GroupMapping()
        let people = "ou=people,dc=example,dc=com"
        // `both` is one entry read by both searches: a user, and a group holding carol.
        let both = "cn=both,\(people)"
        let readers = [MemberIndexTests.person("ann"), MemberIndexTests.person("bob"), MemberIndexTests.person("carol"),
                       MemberIndexTests.person("both", dn: both)]
        let groups = [
            MemberIndexTests.group("top", members: ["uid=ann,\(people)", "UID=Bob, OU=People,dc=example,dc=com", both,
                                                    "cn=sub,ou=groups,dc=example,dc=com", "uid=ghost,\(people)"]),
            MemberIndexTests.group("sub", members: ["uid=carol,\(people)"]),
            MemberIndexTests.group("both", dn: both, members: ["uid=carol,\(people)"]),
        ]
        // The users first, without groups: the group run finds them all identical.
        #expect(await engine.run(users, from: FixedSource(entries: readers, pageSize: 10)).status == .applied)
        let first = await engine.run(settings, from: FixedGroupSource(users: readers, groups: groups))
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.identicalRecords == 4 && first.unresolvedMembers == 1, "\(first)")
        func members(_ name: String, effective: Bool = false) async throws -> [String] {
            let group = try #require(try await store.groups(named: name).first)
            return try await store.members(ofGroup: group.id, effective: effective).sorted()
        }
        #expect(try await members("top") == ["ann", "bob", "both"])
        #expect(try await members("top", effective: true) == ["ann", "bob", "both", "carol"])
        #expect(try await members("both") == ["carol"])
        let tree = try await store.groupTree()
        let id = Dictionary(uniqueKeysWithValues: tree.groups.map { ($0.name, $0.id) })
        #expect(Set(tree.edges) == [GroupTree.Edge(group: id["sub"]!, parent: id["top"]!),
                                    GroupTree.Edge(group: id["both"]!, parent: id["top"]!)])
        // bob changes (staged, not identical) and sub loses carol: resolved by the plan, as before.
        let changed = readers.map { $0.string("uid") == "bob" ? FingerprintTests.person("bob", id: "id-bob", mail: "robert@example.com") : $0 }
        var regrouped = groups
        regrouped[1] = MemberIndexTests.group("sub", members: ["uid=ann,\(people)"])
        let second = await engine.run(settings, from: FixedGroupSource(users: changed, groups: regrouped))
        #expect(second.status == .applied && second.users.updated == 1 && second.identicalRecords == 3, "\(second)")
        #expect(second.memberships?.added == 1 && second.memberships?.removed == 1, "\(second)")
        #expect(try await members("top") == ["ann", "bob", "both"])
        #expect(try await members("sub") == ["ann"])
        #expect(try await members("top", effective: true) == ["ann", "bob", "both", "carol"])
    }
}
