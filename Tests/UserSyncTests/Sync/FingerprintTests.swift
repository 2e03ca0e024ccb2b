import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Logging
import Testing
@testable import UserSync

/// Records handed over as they are: the cases a directory rarely produces on demand (the same
/// stable id twice in one read).
struct FixedSource: RecordSource {
    let entries: [SourceRecord]
    let pageSize: Int

    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        var start = 0
        while start < entries.count {
            try await page(Array(entries[start..<min(start + pageSize, entries.count)]))
            start += pageSize
        }
        return SourceReadInfo()
    }
}

@Suite("Identical records")
struct FingerprintTests {
    static func person(_ uid: String, id: String, dn: String? = nil, mail: String? = nil) -> SourceRecord {
        SourceRecord(.dn(dn ?? "uid=\(uid),ou=people,dc=example,dc=com"), attributes: [
            LDAPAttribute(name: "entryUUID", values: [LDAPValue(id)]),
            LDAPAttribute(name: "uid", values: [LDAPValue(uid)]),
            LDAPAttribute(name: "mail", values: [LDAPValue(mail ?? "\(uid)@example.com")]),
        ])
    }

    /// A store of `kind` and a directory source named "fixed" mapped as `mapping` says (YAML
    /// lines under `mapping:`), for records handed over by `FixedSource`.
    static func setup(_ kind: StoreKind = .sqlite, mapping: String = "username: uid\nemail: mail") async throws
        -> (UserStore, SourceSettings, SyncEngine) {
        let directory = try Shell.temporaryDirectory("usersync-fixed")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let (store, yaml) = try await kind.makeStore(in: directory)
        let config = try ConfigLoader.parse("""
            \(yaml)
            sources:
              - name: fixed
                type: ldap
                uri: ldap://127.0.0.1:9
                users:
                  base: ou=people,dc=example,dc=com
                  idAttribute: entryUUID
                mapping:
            \(mapping.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n"))
            """, file: "fixed.yaml")
        let engine = SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (store, config.sources[0], engine)
    }

    @Test("the fingerprint covers the DN, attribute names and values, and the mapping; the id hash only the id")
    func fingerprintInputs() async throws {
        let (_, settings, _) = try await FingerprintTests.setup()
        let print = RecordFingerprint(source: settings)
        let ann = FingerprintTests.person("ann", id: "1")
        #expect(print(ann) == print(FingerprintTests.person("ann", id: "1")))
        #expect(print(ann) != print(FingerprintTests.person("ann", id: "1", dn: "uid=ann,ou=alumni,dc=example,dc=com")))
        #expect(print(ann) != print(FingerprintTests.person("ann", id: "1", mail: "ann@example.org")))
        #expect(print(ann) != print(FingerprintTests.person("ann", id: "2")))
        // The bytes as sent: the same attributes in another order or spelling are compared in full once.
        let upper = SourceRecord(ann.locator, attributes: ann.attributes.map { LDAPAttribute(name: $0.name.uppercased(), values: $0.values) })
        #expect(print(ann) != print(upper))
        #expect(print(ann) != print(SourceRecord(ann.locator, attributes: ann.attributes.reversed())))
        // A value moved from one attribute to the next is another record.
        let shifted = SourceRecord(.dn("x"), attributes: [LDAPAttribute(name: "a", values: [LDAPValue("bc")])])
        let other = SourceRecord(.dn("x"), attributes: [LDAPAttribute(name: "ab", values: [LDAPValue("c")])])
        #expect(print(shifted) != print(other))
        var lowercased = settings
        lowercased.options.lowercaseEmails = true
        #expect(RecordFingerprint(source: lowercased)(ann) != print(ann), "another option, another fingerprint")
        #expect(RecordFingerprint.idHash("1") != RecordFingerprint.idHash("2"))
    }

    @Test("two records with one stable id fail the run, naming both, whether either is identical to the last run or not; nothing changes",
          arguments: StoreKind.allCases)
    func duplicateIDs(kind: StoreKind) async throws {
        let (store, settings, engine) = try await FingerprintTests.setup(kind)
        let ann = FingerprintTests.person("ann", id: "id-1")
        let bob = FingerprintTests.person("bob", id: "id-2")
        let carl = FingerprintTests.person("carl", id: "id-3")
        let alias = FingerprintTests.person("ann2", id: "id-1", dn: "uid=ann2,ou=alias,dc=example,dc=com")
        let annDN = "uid=ann,ou=people,dc=example,dc=com", aliasDN = "uid=ann2,ou=alias,dc=example,dc=com"
        func rows() async throws -> [String] {
            try await store.read { db in try db.rows("SELECT * FROM users ORDER BY id").map { "\($0.values)" } }
        }

        // Both records mapped (nothing stored yet): neither is synced, and no one else either.
        let first = await engine.run(settings, from: FixedSource(entries: [ann, bob, alias], pageSize: 2))
        #expect(first.status == .failed && first.errorKind == .malformed)
        #expect(first.error?.contains("two records have the same entryUUID 'id-1': \(annDN) and \(aliasDN)") == true, "\(first.error ?? "")")
        #expect(try await rows().isEmpty)

        let synced = await engine.run(settings, from: FixedSource(entries: [ann, bob, carl], pageSize: 2))
        #expect(synced.status == .applied && synced.users.created == 3)
        let before = try await rows()

        // ann is identical to the last run and comes first; carl's record went missing: nobody is deactivated.
        let second = await engine.run(settings, from: FixedSource(entries: [ann, bob, alias], pageSize: 2))
        #expect(second.status == .failed && second.errorKind == .malformed)
        #expect(second.error?.contains("'id-1': \(annDN) and \(aliasDN)") == true, "\(second.error ?? "")")
        #expect(try await rows() == before)

        // The alias comes first now, ann (identical) after it, in another page.
        let third = await engine.run(settings, from: FixedSource(entries: [alias, bob, ann], pageSize: 2))
        #expect(third.status == .failed && third.error?.contains("'id-1': \(aliasDN) and \(annDN)") == true, "\(third.error ?? "")")
        #expect(try await rows() == before)

        // The same identical record twice in one read.
        let fourth = await engine.run(settings, from: FixedSource(entries: [ann, bob, ann], pageSize: 5))
        #expect(fourth.status == .failed && fourth.error?.contains("'id-1': \(annDN) and \(annDN)") == true, "\(fourth.error ?? "")")
        #expect(try await rows() == before)
        #expect(try await store.users().filter { $0.state == "active" }.count == 3, "nobody deactivated")
    }

    @Test("the id hash made from a value's bytes is the hash of its text, for every kind of id (stored hashes stay valid)")
    func idHashFromBytes() {
        let guid: [UInt8] = [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
        let sid: [UInt8] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0]
        let cases: [(String, [UInt8])] = [
            ("entryUUID", Array("89372cc6-842c-1041-9799-5f202ffe05f0".utf8)),
            ("uid", Array("zoë.müller".utf8)),          // UTF-8, not ASCII
            ("nsUniqueId", [0xff, 0xfe, 0x41]),          // not UTF-8: its hex text
            ("objectGUID", guid), ("objectSid", sid),    // binary, in their text forms
            ("objectGUID", Array("not-a-guid-of-16-bytes".utf8)),
        ]
        for (attribute, bytes) in cases {
            let record = SourceRecord(.dn("cn=x,dc=example,dc=com"), attributes: [LDAPAttribute(name: attribute, values: [LDAPValue(bytes)])])
            let text = try? #require(record.stableID(attribute))
            #expect(record.stableIDHash(attribute) == text.map(RecordFingerprint.idHash), "\(attribute) \(text ?? "")")
        }
        let empty = SourceRecord(.dn("cn=x,dc=example,dc=com"), attributes: [LDAPAttribute(name: "uid", values: [LDAPValue("")])])
        #expect(empty.stableIDHash("uid") == nil && empty.stableIDHash("entryUUID") == nil)
    }

    @Test("a row written by someone else while the run reads is left for the next run, never deactivated", arguments: StoreKind.allCases)
    func rowChangedDuringRead(kind: StoreKind) async throws {
        let (store, settings, engine) = try await FingerprintTests.setup(kind)
        let people = (1...5).map { FingerprintTests.person("u\($0)", id: "id-\($0)") }
        _ = await engine.run(settings, from: FixedSource(entries: people, pageSize: 2))
        // The application edits u3 after the read began (between the first and the second page).
        let source = EditingSource(entries: people, store: store)
        let report = await engine.run(settings, from: source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.skipped == 1 && report.users.unchanged == 4 && report.users.deactivated == 0)
        #expect(try await store.user(named: "u3")?[.email] == "edited@example.com")
        #expect(try await store.user(named: "u3")?.state == "active")
        let next = await engine.run(settings, from: FixedSource(entries: people, pageSize: 2))
        #expect(next.users.updated == 1 && next.identicalRecords == 4)
        #expect(try await store.user(named: "u3")?[.email] == "u3@example.com", "the directory's value is back")
    }

    @Test("a known record keeps its user's id and whether the row was active in one word; an id too large to keep so is compared in full")
    func knownPacking() {
        for id: Int64 in [1, 2, 99_999, 0, -5, (1 << 61) - 1, -(1 << 61)] {
            for active in [true, false] {
                let known = KnownRecords.Known(fingerprint: 42, userId: id, active: active)
                #expect(known?.userId == id && known?.active == active && known?.fingerprint == 42, "\(id) \(active)")
            }
        }
        #expect(KnownRecords.Known(fingerprint: 1, userId: 1 << 61) == nil)
        #expect(KnownRecords.Known(fingerprint: 1, userId: Int64.min) == nil)
        #expect(MemoryLayout<KnownRecords.Known>.stride == 16)
    }

    @Test("every other record identical: a user not read is still deactivated, even one the application made active again",
          arguments: StoreKind.allCases)
    func missingAmongIdentical(kind: StoreKind) async throws {
        let (store, settings, engine) = try await FingerprintTests.setup(kind)
        let people = (1...5).map { FingerprintTests.person("u\($0)", id: "id-\($0)") }
        _ = await engine.run(settings, from: FixedSource(entries: people, pageSize: 2))
        // u5 leaves the directory: the other four are identical, and u5 is deactivated.
        let left = await engine.run(settings, from: FixedSource(entries: Array(people.prefix(4)), pageSize: 2))
        #expect(left.identicalRecords == 4 && left.users.deactivated == 1, "\(left)")
        #expect(try await store.user(named: "u5")?.state == "deactivated")
        // Nothing changed: nobody to deactivate, nobody touched.
        let noop = await engine.run(settings, from: FixedSource(entries: Array(people.prefix(4)), pageSize: 2))
        #expect(noop.identicalRecords == 4 && noop.users.deactivated == 0 && noop.users.unchanged == 4, "\(noop)")
        // The application makes u5 active again (its row has no fingerprint: nothing is forgotten).
        try await store.write { db in try db.execute("UPDATE users SET state = 'active', deactivated_at = NULL WHERE username = 'u5'") }
        let again = await engine.run(settings, from: FixedSource(entries: Array(people.prefix(4)), pageSize: 2))
        #expect(again.identicalRecords == 4 && again.users.deactivated == 1, "\(again)")
        #expect(try await store.user(named: "u5")?.state == "deactivated")
    }

    @Test("a page received again byte for byte keeps the last run's chunk as it was; a changed page is compressed anew; both read back as received", arguments: StoreKind.allCases)
    func keptChunksCopied(kind: StoreKind) async throws {
        let (store, settings, engine) = try await FingerprintTests.setup(kind)
        let people = (1...6).map { FingerprintTests.person("u\($0)", id: "id-\($0)") }
        func chunks(_ run: Int64) async throws -> [(data: Data, hash: Int64?)] {
            try await store.read { db in
                try db.rows("SELECT data, raw_hash FROM run_records WHERE run_id = ? ORDER BY chunk", run)
                    .map { ($0["data"] as Data, $0["raw_hash"] as Int64?) }
            }
        }
        let first = await engine.run(settings, from: FixedSource(entries: people, pageSize: 2))
        #expect(first.status == .applied)
        // Run 1's first chunk recompressed at another level: the same records in other bytes
        // (gzip's header names the level), which only a copy would carry into the next run.
        let run1 = first.runId!
        try await store.write { db in
            let data = try #require(try db.value(Data.self, "SELECT data FROM run_records WHERE run_id = ? AND chunk = 1", run1))
            let other = Data(try Gzip.compress(try Gzip.decompress([UInt8](data)), level: 9))
            #expect(other != data)
            try db.execute("UPDATE run_records SET data = ? WHERE run_id = ? AND chunk = 1", other, run1)
        }
        let second = await engine.run(settings, from: FixedSource(entries: people, pageSize: 2))
        #expect(second.status == .applied && second.identicalRecords == 6)
        let (one, two) = (try await chunks(first.runId!), try await chunks(second.runId!))
        #expect(one.count == 3 && one.allSatisfy { $0.hash != nil })
        #expect(two.map(\.data) == one.map(\.data) && two.map(\.hash) == one.map(\.hash))
        #expect(try await store.records(run: second.runId!)?.map(\.packed) == people.map(\.packed))

        // u3 changed (the second page): that chunk is new, the others copied.
        var changed = people
        changed[2] = FingerprintTests.person("u3", id: "id-3", mail: "new@example.com")
        let third = await engine.run(settings, from: FixedSource(entries: changed, pageSize: 2))
        #expect(third.status == .applied && third.users.updated == 1)
        let three = try await chunks(third.runId!)
        #expect(three[0].data == one[0].data && three[2].data == one[2].data)
        #expect(three[1].hash != one[1].hash && three[1].data != one[1].data)
        let kept = try #require(try await store.records(run: third.runId!))
        #expect(kept.map(\.packed) == changed.map(\.packed) && kept.map(\.locator) == changed.map(\.locator))

        // Pages of four: the first (u1–u4) is new; the second (u5, u6) is the last run's third
        // page, found by its bytes wherever it falls.
        let fourth = await engine.run(settings, from: FixedSource(entries: changed, pageSize: 4))
        let four = try await chunks(fourth.runId!)
        #expect(four.count == 2 && !three.map(\.hash).contains(four[0].hash) && four[1].data == three[2].data)
        #expect(try await store.records(run: fourth.runId!)?.map(\.packed) == changed.map(\.packed))
    }
}

/// Hands over the first page, then edits u3's row in the store as an application would, then the rest.
struct EditingSource: RecordSource {
    let entries: [SourceRecord]
    let store: UserStore

    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        try await page(Array(entries.prefix(2)))
        try await store.write { db in
            try db.execute("UPDATE users SET email = 'edited@example.com' WHERE username = 'u3'")
        }
        try await page(Array(entries.dropFirst(2)))
        return SourceReadInfo()
    }
}
