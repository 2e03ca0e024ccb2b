import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Testing
@testable import UserSync

/// The sync against a real slapd and a real store: what an administrator relies on. The cases
/// that matter run against 389 Directory Server too (`SyncSetup.all`).
@Suite("Sync with OpenLDAP")
struct OpenLDAPSyncTests {
    @Test("the history's queries as the console pages them: users searched in any case (wildcards as letters), runs by status, changes after an offset",
          arguments: [SyncSetup(directory: .slapd, store: .sqlite), SyncSetup(directory: .slapd, store: .postgres)])
    func pagedQueries(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 120, setup)
        let source = try h.source()
        let first = await h.sync(source)
        #expect(first.status == .applied, "\(first.error ?? "")")
        let store = h.store
        #expect(try await store.users(matching: "USER0011", limit: 100).map(\.username) == (110...119).map { Slapd.userName($0) })
        #expect(try await store.users(matching: "user00007@EXAMPLE", limit: 100).map(\.username) == ["user00007"], "by email")
        #expect(try await store.users(matching: "Given7 Fam", limit: 100).map(\.username) == ["user00007"], "by display name")
        #expect(try await store.users(matching: "%", limit: 100).isEmpty, "% is a letter")
        #expect(try await store.users(matching: "user_0001", limit: 100).isEmpty, "_ is a letter")
        #expect(try await store.users(matching: "", limit: 3).count == 3, "an empty search is no search")
        let page2 = try await store.users(limit: 50, offset: 50)
        #expect(page2.first?.username == "user00051" && page2.count == 50)
        #expect(try await store.users(matching: "user", state: "deactivated", limit: 10).isEmpty)

        try await h.ldap.modify("dn: \(h.ldap.userDN(3))\nchangetype: delete\n")
        let second = await h.sync(source)
        #expect(second.users.deactivated == 1)
        #expect(try await store.users(matching: "user", state: "deactivated", limit: 10).map(\.username) == ["user00003"])
        #expect(try await store.runs(limit: 10, status: "applied").map(\.id) == [second.runId!, first.runId!])
        #expect(try await store.runs(limit: 10, status: "failed").isEmpty)
        #expect(try await store.runs(limit: 1, offset: 1).map(\.id) == [first.runId!])
        let all = try await store.changes(run: first.runId!)
        let tail = try await store.changes(run: first.runId!, limit: 100, offset: 100)
        #expect(all.count == 120 && tail.count == 20)
        #expect(tail.map(\.username) == all.suffix(20).map(\.username))
    }

    @Test("initial import creates every user with its mapped fields; a second run changes nothing", arguments: SyncSetup.all)
    func initialImport(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 120, setup)
        let source = try h.source()
        let first = await h.sync(source)
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.entriesRead == 120)
        #expect(first.users.created == 120)
        let users = try await h.users()
        #expect(users.count == 120)
        let u7 = try #require(users["user00007"])
        #expect(u7.source == "ldap")
        #expect(u7[.email] == "user00007@example.com")
        #expect(u7[.firstName] == "Given7")
        #expect(u7[.displayName] == "Given7 Family7")
        #expect(u7.attributes == ["employeeNumber": "7"])
        #expect(u7.dn == h.ldap.userDN(7))
        #expect(u7.state == "active")
        // entryUUID (RFC 4530) is 36 characters; 389-DS's nsUniqueId is four groups of eight hex digits, 35.
        #expect(u7.externalId?.count == (setup.directory == .slapd ? 36 : 35), "\(u7.externalId ?? "")")
        let run = try #require(try await h.run(first.runId))
        #expect(run.status == "applied" && run.created == 120 && run.entriesRead == 120)
        #expect(try await h.store.changeCounts(run: first.runId!) == ["create": 120])

        let second = await h.sync(source)
        #expect(second.status == .applied)
        #expect(second.users.unchanged == 120)
        #expect(second.users.created + second.users.updated + second.users.deactivated == 0)
        #expect(try await h.store.changeCounts(run: second.runId!).isEmpty)
    }

    @Test("records identical to the last run skip mapping, and still: a row edited in the store is corrected, a returning user reactivated, a new mapping applied to all", arguments: StoreKind.allCases)
    func identicalRecords(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 40, store: store)
        let source = try h.source()
        let first = await h.sync(source)
        #expect(first.users.created == 40 && first.identicalRecords == 0)
        let fingerprints = try await h.store.read { db in try db.value(Int.self, "SELECT count(*) FROM sync_fingerprints") }
        #expect(fingerprints == 40)

        let second = await h.sync(source)
        #expect(second.users.unchanged == 40 && second.identicalRecords == 40, "nothing changed: every record recognised")
        #expect(try await h.store.changeCounts(run: second.runId!).isEmpty)

        // Someone edits a synced row in the store: its fingerprint is forgotten, the next run
        // compares it in full and puts the directory's value back.
        try await h.store.write { db in
            try db.execute("UPDATE users SET email = 'edited@by.hand' WHERE username = 'user00004'")
        }
        // A user leaves the filter (deactivated), then comes back exactly as before (reactivated).
        let narrowed = await h.sync(try h.source(filter: "(&(objectClass=inetOrgPerson)(!(uid=user00009)))"))
        #expect(narrowed.users.deactivated == 1 && narrowed.identicalRecords == 38, "\(narrowed.error ?? "")")
        #expect(try await h.users()["user00004"]?[.email] == "user00004@example.com")
        let back = await h.sync(source)
        #expect(back.users.reactivated == 1 && back.users.unchanged == 39 && back.identicalRecords == 39)
        #expect(try await h.users()["user00009"]?.state == "active")

        // A changed mapping changes every fingerprint: all records are compared and updated.
        let remapped = try h.source(mapping: """
                  username: uid
                  email: mail
                  firstName: givenName
                  lastName: sn
                  displayName: { template: "{sn}, {givenName}" }
                  attributes: { employeeNumber: employeeNumber }
            """)
        let all = await h.sync(remapped)
        #expect(all.users.updated == 40 && all.identicalRecords == 0)
        #expect(try await h.users()["user00007"]?[.displayName] == "Family7, Given7")
        let again = await h.sync(remapped)
        #expect(again.users.unchanged == 40 && again.identicalRecords == 40)
        // A dry run recognises them too, and writes nothing.
        let before = try await h.snapshot()
        let dry = await h.sync(source, dryRun: true)
        #expect(dry.users.updated == 40 && dry.identicalRecords == 0)
        #expect(try await h.snapshot() == before)
        #expect(await h.sync(remapped).identicalRecords == 40, "the dry run left the fingerprints as they were")
    }

    @Test("a changed attribute updates only that field, recorded with old and new value; a dry run shows it and writes nothing", arguments: SyncSetup.all)
    func updates(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 30, setup)
        let source = try h.source()
        _ = await h.sync(source)
        try await h.modify("""
            dn: \(h.ldap.userDN(3))
            changetype: modify
            replace: mail
            mail: new.address@example.com
            -
            replace: sn
            sn: Newname

            """)
        let before = try await h.snapshot()
        let plan = await h.sync(source, dryRun: true)
        #expect(plan.status == .planned)
        #expect(plan.users.updated == 1 && plan.users.unchanged == 29)
        let planned = plan.changes.filter { $0.action == .update }.map { "\($0.field!): \($0.oldValue!) → \($0.newValue!)" }.sorted()
        #expect(planned == ["display_name: Given3 Family3 → Given3 Newname", "email: user00003@example.com → new.address@example.com",
                            "last_name: Family3 → Newname"])
        #expect(try await h.snapshot() == before, "a dry run writes nothing")
        #expect(try await h.run(plan.runId)?.status == "planned")
        #expect(try await h.store.changes(run: plan.runId!).isEmpty, "a dry run records no changes")

        let applied = await h.sync(source)
        #expect(applied.users.updated == 1)
        let user = try #require(try await h.users()["user00003"])
        #expect(user[.email] == "new.address@example.com")
        #expect(user[.lastName] == "Newname")
        #expect(user[.firstName] == "Given3")
        let changes = try await h.store.changes(run: applied.runId!)
        #expect(Set(changes.map { $0.field ?? "" }) == ["email", "last_name", "display_name"])
        #expect(changes.allSatisfy { $0.objectId == user.id && $0.action == .update })
    }

    @Test("a deleted entry is deactivated; re-created as a new object with the same username, the same row comes back with the new id", arguments: SyncSetup.all)
    func deleteAndRecreate(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 30, setup)
        let source = try h.source()
        _ = await h.sync(source)
        let original = try #require(try await h.users()["user00005"])

        try await h.modify("dn: \(h.ldap.userDN(5))\nchangetype: delete\n\n")
        let deleted = await h.sync(source)
        #expect(deleted.status == .applied, "\(deleted.error ?? "")")
        #expect(deleted.users.deactivated == 1)
        let gone = try #require(try await h.users()["user00005"])
        #expect(gone.id == original.id && gone.state == "deactivated" && gone.deactivatedAt != nil)

        try await h.modify("""
            dn: \(h.ldap.userDN(5))
            changetype: add
            objectClass: inetOrgPerson
            uid: user00005
            cn: Given5 Family5
            givenName: Given5
            sn: Family5
            mail: user00005@example.com
            employeeNumber: 5

            """)
        let back = await h.sync(source)
        #expect(back.users.reactivated == 1 && back.users.created == 0)
        let returned = try #require(try await h.users()["user00005"])
        #expect(returned.id == original.id, "the same row")
        #expect(returned.state == "active" && returned.deactivatedAt == nil)
        #expect(returned.externalId != original.externalId, "the row took the new entryUUID")
        #expect(try await h.store.users().count == 30)
        let actions = Set(try await h.store.changes(run: back.runId!).map(\.action))
        #expect(actions == [.update, .reactivate])
    }

    @Test("a rename (modrdn) or a move updates the same row, never deactivate + create", arguments: SyncSetup.all)
    func renameAndMove(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 20, extraLDIF: { suffix in """
            dn: ou=alumni,\(suffix)
            objectClass: organizationalUnit
            ou: alumni

            """ }, setup)
        let source = try h.source(base: h.ldap.suffix)
        _ = await h.sync(source)
        let seven = try #require(try await h.users()["user00007"])
        let eight = try #require(try await h.users()["user00008"])
        try await h.modify("""
            dn: \(h.ldap.userDN(7))
            changetype: modrdn
            newrdn: uid=renamed7
            deleteoldrdn: 1

            dn: \(h.ldap.userDN(8))
            changetype: moddn
            newrdn: uid=user00008
            deleteoldrdn: 1
            newsuperior: ou=alumni,\(h.ldap.suffix)

            """)
        let report = await h.sync(source)
        #expect(report.status == .applied)
        #expect(report.users.updated == 2 && report.users.created == 0 && report.users.deactivated == 0)
        let users = try await h.users()
        #expect(users["user00007"] == nil)
        let renamed = try #require(users["renamed7"])
        #expect(renamed.id == seven.id && renamed.externalId == seven.externalId)
        #expect(renamed.dn == "uid=renamed7,\(h.ldap.peopleBase)")
        let moved = try #require(users["user00008"])
        #expect(moved.id == eight.id && moved.state == "active")
        #expect(moved.dn == "uid=user00008,ou=alumni,\(h.ldap.suffix)")
    }

    @Test("users made by hand are never touched; a username they hold is a reported conflict unless adoption is on", arguments: StoreKind.allCases)
    func handMadeUsers(store: StoreKind) async throws {
        let h = try await SyncHarness.start(users: 10, store: store)
        let now = "2026-01-01T00:00:00.000Z"
        try await h.store.write { db in
            try db.execute("INSERT INTO users (username, email, created_at, updated_at) VALUES ('local-admin', 'admin@app', ?1, ?1)", now)
            try db.execute("INSERT INTO users (username, email, first_name, created_at, updated_at) VALUES ('user00003', 'mine@app', 'Hand', ?1, ?1)", now)
        }
        let handRows = try await h.store.read { db in
            try db.rows("SELECT * FROM users WHERE source IS NULL ORDER BY id").map { "\($0.values)" }
        }
        let report = await h.sync(try h.source())
        #expect(report.status == .applied)
        #expect(report.users.created == 9 && report.users.skipped == 1)
        let skip = try #require(report.changes.first { $0.action == .skip })
        #expect(skip.record == Slapd.userDN(3))
        #expect(skip.newValue?.contains("username 'user00003' is taken by user") == true)
        #expect(skip.newValue?.contains("adoptExistingBy") == true)
        // Everything deactivated in the directory: hand-made users stay as they are.
        _ = await h.sync(try h.source(filter: "(uid=nobody)"), force: true, allowEmpty: true)
        let after = try await h.store.read { db in
            try db.rows("SELECT * FROM users WHERE source IS NULL ORDER BY id").map { "\($0.values)" }
        }
        #expect(after == handRows)

        // The application keeps adding its own users, with the ids its table gives by default,
        // between runs that create users: neither side takes an id the other holds.
        for round in 1...2 {
            try await h.store.write { db in
                try db.execute("INSERT INTO users (username, created_at, updated_at) VALUES (?1, ?2, ?2)", "app-user-\(round)", now)
            }
            try await h.modify("""
                dn: uid=new\(round),\(Slapd.peopleBase)
                changetype: add
                objectClass: inetOrgPerson
                uid: new\(round)
                cn: New \(round)
                sn: New
                mail: new\(round)@example.com

                """)
            let created = await h.sync(try h.source())
            #expect(created.status == .applied && created.users.created == 1, "\(created.error ?? "")")
        }
        let ids = try await h.store.users().map(\.id)
        #expect(Set(ids).count == ids.count && ids.count == 2 + 9 + 4)

        // With adoption by username, the hand-made user00003 becomes the source's.
        let adopting = await h.sync(try h.source(options: "      adoptExistingBy: username"))
        #expect(adopting.status == .applied, "\(adopting.error ?? "")")
        let adopted = try #require(try await h.users()["user00003"])
        #expect(adopted.source == "ldap" && adopted[.email] == "user00003@example.com" && adopted[.firstName] == "Given3")
        #expect(try await h.users()["local-admin"]?.source == nil)
    }

    @Test("a filter that matches nothing trips the guard: stopped, nothing changed; --force does not apply it, --allow-empty does", arguments: SyncSetup.all)
    func emptyReadGuard(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 40, setup)
        _ = await h.sync(try h.source())
        let before = try await h.snapshot()
        let empty = try h.source(filter: "(uid=nobody-at-all)")
        let stopped = await h.sync(empty)
        #expect(stopped.status == .stopped)
        #expect(stopped.errorKind == .guardStop)
        #expect(stopped.error?.contains("no entries") == true)
        #expect(stopped.users.deactivated == 40, "the report says what would have happened")
        #expect(try await h.snapshot() == before)
        #expect(try await h.run(stopped.runId)?.status == "stopped")
        #expect(try await h.store.changes(run: stopped.runId!).isEmpty)

        // A --force meant for a large deactivation does not let an empty read through.
        let forced = await h.sync(empty, force: true)
        #expect(forced.status == .stopped && forced.error?.contains("--allow-empty") == true, "\(forced.error ?? "")")
        #expect(try await h.snapshot() == before)
        // --allow-empty alone: the empty read passes, and the 40 deactivations still meet maxDeactivations.
        let emptyOnly = await h.sync(empty, allowEmpty: true)
        #expect(emptyOnly.status == .stopped && emptyOnly.error?.contains("40 users would be deactivated") == true)
        #expect(try await h.snapshot() == before)
        let both = await h.sync(empty, force: true, allowEmpty: true)
        #expect(both.status == .applied)
        #expect(try await h.store.users(state: "deactivated").count == 40)
    }

    @Test("more deactivations than maxDeactivations stop the run; --force applies them", arguments: SyncSetup.all)
    func maxDeactivationsGuard(setup: SyncSetup) async throws {
        let h = try await SyncHarness.start(users: 50, setup)
        let source = try h.source(options: "      maxDeactivations: 10%")
        _ = await h.sync(source)
        let ldif = (1...8).map { "dn: \(h.ldap.userDN($0))\nchangetype: delete\n" }.joined(separator: "\n") + "\n"
        try await h.modify(ldif)
        let before = try await h.snapshot()
        let stopped = await h.sync(source)
        #expect(stopped.status == .stopped)
        #expect(stopped.error?.contains("8 users would be deactivated, more than the 5 allowed") == true)
        #expect(try await h.snapshot() == before)

        let absolute = await h.sync(try h.source(options: "      maxDeactivations: 8"))
        #expect(absolute.status == .applied, "8 allowed")
        #expect(absolute.users.deactivated == 8)
    }

    @Test("maxUsers is a licence cap: the run stops before applying, even with --force")
    func maxUsers() async throws {
        let h = try await SyncHarness.start(users: 60)
        let source = try h.source(options: "      maxUsers: 50")
        for force in [false, true] {
            let report = await h.sync(source, force: force)
            #expect(report.status == .stopped)
            #expect(report.error?.contains("60 active users would exceed maxUsers (50)") == true)
        }
        #expect(try await h.store.users().isEmpty)
        let fits = await h.sync(try h.source(options: "      maxUsers: 60"))
        #expect(fits.status == .applied && fits.users.created == 60)
    }

    @Test("the server stopped in the middle of paging: the run fails and the store is unchanged")
    func connectionCutMidPaging() async throws {
        let h = try await SyncHarness.start(users: 500)
        let source = try h.source()
        _ = await h.sync(source)
        try await h.modify("dn: \(Slapd.userDN(400))\nchangetype: modify\nreplace: sn\nsn: Changed\n\n")
        let before = try await h.snapshot()
        let cut = ServerStoppingSource(inner: LDAPSource(settings: source, directory: source.ldap!), slapd: h.slapd, pages: 3)
        let report = await h.sync(source, from: cut)
        #expect(report.status == .failed)
        // The next page may already be on its way when the server dies (paging is pipelined).
        #expect(report.entriesRead >= 150 && report.entriesRead < 500)
        #expect(report.errorKind == .connectionLost || report.errorKind == .unreachable,
                "\(report.errorKind?.rawValue ?? "nil"): \(report.error ?? "")")
        #expect(report.error?.contains("nothing was changed") == true)
        #expect(try await h.snapshot() == before, "no user deactivated or changed")
        #expect(try await h.run(report.runId)?.status == "failed")

        try await offThePool { try h.slapd.start() }
        let next = await h.sync(source)
        #expect(next.status == .applied && next.users.updated == 1 && next.users.deactivated == 0)
    }

    @Test("lowercase options fold usernames and emails; two entries folding to one username are reported, never merged")
    func lowercaseAndConflicts() async throws {
        let h = try await SyncHarness.start(users: 5, extraLDIF: """
            dn: cn=Mixed Case,\(Slapd.peopleBase)
            objectClass: inetOrgPerson
            cn: Mixed Case
            sn: Case
            uid: Mixed.Case
            mail: Mixed.Case@Example.COM

            dn: cn=Dup One,\(Slapd.peopleBase)
            objectClass: inetOrgPerson
            cn: Dup One
            sn: One
            uid: DupUser
            mail: dup1@example.com

            dn: cn=Dup Two,\(Slapd.peopleBase)
            objectClass: inetOrgPerson
            cn: Dup Two
            sn: Two
            uid: dupuser
            mail: dup2@example.com

            """)
        let source = try h.source(options: "      lowercaseUsernames: true\n      lowercaseEmails: true\n      maxSkipped: 2")
        let report = await h.sync(source)
        #expect(report.status == .applied)
        #expect(report.users.created == 6 && report.users.skipped == 2)
        let users = try await h.users()
        #expect(users["mixed.case"]?[.email] == "mixed.case@example.com")
        #expect(users["dupuser"] == nil && users["DupUser"] == nil)
        let skips = report.changes.filter { $0.action == .skip }
        #expect(Set(skips.compactMap(\.record)) == ["cn=Dup One,\(Slapd.peopleBase)", "cn=Dup Two,\(Slapd.peopleBase)"])
        #expect(skips.allSatisfy { $0.newValue?.contains("username 'dupuser' conflict") == true })

        // Without lowercasing they are two users.
        let plain = try h.source()
        let separate = await h.sync(plain, force: true)
        let folded = try await h.users()
        #expect(folded["DupUser"] != nil && folded["dupuser"] != nil, "\(separate.error ?? "")")
    }

    @Test("a record missing a required field is skipped with the reason; the others sync")
    func requiredFields() async throws {
        let h = try await SyncHarness.start(users: 5, extraLDIF: """
            dn: uid=nomail,\(Slapd.peopleBase)
            objectClass: inetOrgPerson
            uid: nomail
            cn: No Mail
            sn: Mail

            """)
        let report = await h.sync(try h.source(options: "      requiredFields: [ username, email ]"))
        #expect(report.users.created == 5 && report.users.skipped == 1)
        let skip = try #require(report.changes.first { $0.action == .skip })
        #expect(skip.newValue == "no email (from mail), a required field")
        #expect(skip.record == "uid=nomail,\(Slapd.peopleBase)")
        #expect(try await h.users()["nomail"] == nil)
        let run = try #require(try await h.run(report.runId))
        #expect(run.skipped == 1)
    }

    @Test("the records of the last keepRecords runs are kept, compressed, and give a user's last record")
    func keptRecords() async throws {
        let h = try await SyncHarness.start(users: 60)
        let source = try h.source()   // keepRecords: 3
        var runs: [Int64] = []
        for _ in 0..<4 { runs.append(await h.sync(source).runId!) }
        #expect(try await h.store.records(run: runs[0]) == nil, "the oldest run's records are gone")
        let last = try #require(try await h.store.records(run: runs[3]))
        #expect(last.count == 60)
        #expect(Set(last.compactMap(\.locator.dn)).contains(Slapd.userDN(42)))
        let lastRun = runs[3]
        let chunks = try await h.store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM run_records WHERE run_id = ?", arguments: [lastRun]) }
        #expect(chunks == 2, "one chunk per page of 50")
        let user = try #require(try await h.users()["user00042"])
        let record = try #require(try await h.store.lastRecord(of: user, stableIDAttribute: "entryUUID"))
        #expect(record.runId == runs[3])
        #expect(record.record.string("mail") == "user00042@example.com")
        #expect(record.record.string("entryUUID") == user.externalId)
    }

    @Test("dry runs keep no records and do not push out the last real run's")
    func dryRunsKeepNoRecords() async throws {
        let h = try await SyncHarness.start(users: 20)
        let source = try h.source()   // keepRecords: 3
        let real = try #require(await h.sync(source).runId)
        var dry: [Int64] = []
        for _ in 0..<5 { dry.append(try #require(await h.sync(source, dryRun: true).runId)) }
        for id in dry { #expect(try await h.store.records(run: id) == nil) }
        #expect(try await h.store.records(run: real)?.count == 20, "the real run's records outlive five dry runs")
        let user = try #require(try await h.users()["user00007"])
        #expect(try await h.store.lastRecord(of: user, stableIDAttribute: "entryUUID")?.runId == real)
    }

    @Test("mapping preview maps live entries and flags a conflict with a user in the store")
    func preview() async throws {
        let h = try await SyncHarness.start(users: 8)
        let now = "2026-01-01T00:00:00.000Z"
        try await h.store.database.write { db in
            try db.execute(sql: "INSERT INTO users (username, created_at, updated_at) VALUES ('user00002', ?1, ?1)", arguments: [now])
        }
        let items = try await MappingDiagnostics.preview(try h.source(), limit: 3, filter: nil, store: h.store)
        #expect(items.count == 3)
        let first = items[0]
        #expect(first.fields.first { $0.field == "displayName" }?.value == "Given1 Family1")
        #expect(first.fields.first { $0.field == "displayName" }?.from == ["givenName": ["Given1"], "sn": ["Family1"]])
        #expect(items[1].conflict?.contains("made by hand") == true)
        let one = try await MappingDiagnostics.preview(try h.source(), limit: 5, filter: "(uid=user00006)", store: nil)
        #expect(one.map(\.dn) == [Slapd.userDN(6)])
    }

    @Test("mapping check finds attribute names the server's schema does not have, at their line")
    func schemaCheck() async throws {
        let h = try await SyncHarness.start(users: 1)
        let text = h.yaml(mapping: """
                  username: uid
                  email: { from: mial }
                  attributes: { employee: employeNumber }
            """)
        let configuration = try ConfigLoader.parse(text, file: "test.yaml")
        let problems = try await MappingDiagnostics.checkSchema(configuration, source: configuration.sources[0])
        #expect(problems.map(\.path) == ["sources[0].mapping.email.from", "sources[0].mapping.attributes.employee"])
        #expect(problems[0].suggestion == "mail")
        #expect(problems[1].suggestion == "employeeNumber")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[problems[0].line! - 1].contains("mial"))
        #expect(lines[problems[1].line! - 1].contains("employeNumber"))
    }
}
