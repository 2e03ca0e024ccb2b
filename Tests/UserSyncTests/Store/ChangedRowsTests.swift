import LDAP
import Testing
@testable import UserSync

/// The planner rewrites a changed user in one of two statements: without the indexed columns
/// when they are as they were, whole when the username or email changed.
@Suite("Changed rows")
struct ChangedRowsTests {
    static func person(_ uid: String, id: String, mail: String, cn: String, title: String) -> SourceRecord {
        SourceRecord(.dn("uid=\(uid),ou=people,dc=example,dc=com"), attributes: [
            LDAPAttribute(name: "entryUUID", values: [LDAPValue(id)]),
            LDAPAttribute(name: "uid", values: [LDAPValue(uid)]),
            LDAPAttribute(name: "mail", values: [LDAPValue(mail)]),
            LDAPAttribute(name: "cn", values: [LDAPValue(cn)]),
            LDAPAttribute(name: "title", values: [LDAPValue(title)]),
        ])
    }

    @Test("a changed title, a changed email, a rename and a record as it was: each row ends as its record says, each change recorded once",
          arguments: StoreKind.allCases)
    func eachKindOfChange(kind: StoreKind) async throws {
        let (store, settings, engine) = try await FingerprintTests.setup(kind, mapping: """
            username: uid
            email: mail
            displayName: cn
            attributes:
              title: title
            """)
        let before = [
            Self.person("ann", id: "1", mail: "ann@example.com", cn: "Ann", title: "Clerk"),
            Self.person("bob", id: "2", mail: "bob@example.com", cn: "Bob", title: "Clerk"),
            Self.person("cid", id: "3", mail: "cid@example.com", cn: "Cid", title: "Clerk"),
            Self.person("dee", id: "4", mail: "dee@example.com", cn: "Dee", title: "Clerk"),
        ]
        let first = await engine.run(settings, from: FixedSource(entries: before, pageSize: 3))
        #expect(first.users.created == 4, "\(first.error ?? "")")
        let after = [
            Self.person("ann", id: "1", mail: "ann@example.com", cn: "Ann", title: "Senior clerk"),   // title only
            Self.person("bob", id: "2", mail: "robert@example.com", cn: "Bob", title: "Head"),    // email and title
            Self.person("cyd", id: "3", mail: "cid@example.com", cn: "Cid", title: "Clerk"),      // renamed only
            Self.person("dee", id: "4", mail: "dee@example.com", cn: "Dee", title: "Clerk"),      // as it was
        ]
        let second = await engine.run(settings, from: FixedSource(entries: after, pageSize: 3))
        #expect(second.status == .applied && second.users.updated == 3 && second.users.unchanged == 1, "\(second)")

        let ann = try #require(try await store.user(named: "ann"))
        #expect(ann.attributes["title"] == "Senior clerk" && ann[.email] == "ann@example.com" && ann[.displayName] == "Ann")
        let bob = try #require(try await store.user(named: "bob"))
        #expect(bob[.email] == "robert@example.com" && bob.attributes["title"] == "Head")
        #expect(try await store.user(named: "cid") == nil)
        let cyd = try #require(try await store.user(named: "cyd"))
        #expect(cyd.id == 3 || cyd.externalId == "3")
        #expect(cyd[.email] == "cid@example.com" && cyd.dn == "uid=cyd,ou=people,dc=example,dc=com")
        let dee = try #require(try await store.user(named: "dee"))
        let deeBefore = dee.updatedAt
        #expect(dee.attributes["title"] == "Clerk")

        let changes = try await store.changes(run: second.runId!).filter { $0.action == .update }
        let fields = changes.map { "\($0.username ?? "?") \($0.field ?? "?"): \($0.oldValue ?? "nil") → \($0.newValue ?? "nil")" }.sorted()
        #expect(fields == [
            "ann attributes: {\"title\":\"Clerk\"} → {\"title\":\"Senior clerk\"}",
            "bob attributes: {\"title\":\"Clerk\"} → {\"title\":\"Head\"}",
            "bob email: bob@example.com → robert@example.com",
            "cyd dn: uid=cid,ou=people,dc=example,dc=com → uid=cyd,ou=people,dc=example,dc=com",
            "cyd username: cid → cyd",
        ], "\(fields)")
        // The email index finds the new address and not the old one.
        let byMail = try await store.read { db in
            try db.rows("SELECT username FROM users WHERE email IN ('robert@example.com', 'bob@example.com')").map { $0["username"] as String }
        }
        #expect(byMail == ["bob"])
        // Nothing changed since: a third run touches nobody.
        let third = await engine.run(settings, from: FixedSource(entries: after, pageSize: 3))
        #expect(third.users.updated == 0 && third.users.unchanged == 4, "\(third)")
        #expect(try await store.user(named: "dee")?.updatedAt == deeBefore)
    }
}
