import DirectoryFixtures
import Foundation
import LDAP
import Testing

/// The encoding of RFC 4533's values, checked against bytes as a server sends them.
@Suite("Content sync values")
struct ContentSyncValueTests {
    @Test("a Sync Request is SEQUENCE { refreshOnly, cookie }")
    func request() {
        #expect(ContentSync.requestValue(cookie: nil) == [0x30, 0x03, 0x0A, 0x01, 0x01])
        #expect(ContentSync.requestValue(cookie: Array("c".utf8)) == [0x30, 0x06, 0x0A, 0x01, 0x01, 0x04, 0x01, 0x63])
        // A cookie past 127 bytes takes the long form of the length.
        let long = ContentSync.requestValue(cookie: [UInt8](repeating: 0x41, count: 200))
        #expect(Array(long.prefix(7)) == [0x30, 0x81, 0xCE, 0x0A, 0x01, 0x01, 0x04])
        #expect(long[7] == 0x81 && long[8] == 200 && long.count == 3 + 3 + 3 + 200)
    }

    @Test("a Sync State names the state, the entry's UUID and an optional cookie")
    func state() throws {
        let uuid: [UInt8] = Array(0..<16)
        let value = BER.sequence([BER.enumerated(3), BER.octetString(uuid)])
        let parsed = try ContentSync.parseState(value)
        #expect(parsed.state == .delete && parsed.uuid == uuid && parsed.cookie == nil)
        #expect(ContentSync.uuidText(uuid) == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        let withCookie = BER.sequence([BER.enumerated(1), BER.octetString(uuid), BER.octetString([0x78])])
        #expect(try ContentSync.parseState(withCookie).cookie == [0x78])
        #expect(throws: BER.DecodingError.self) { try ContentSync.parseState(BER.sequence([BER.enumerated(9), BER.octetString(uuid)])) }
        #expect(throws: BER.DecodingError.self) { try ContentSync.parseState(Array(value.dropLast())) }
    }

    @Test("Sync Info messages: a new cookie, the end of a phase (refreshDone defaults to TRUE), an id set")
    func info() throws {
        #expect(try ContentSync.parseInfo([0x80, 0x02, 0x61, 0x62]) == .newCookie([0x61, 0x62]))
        #expect(try ContentSync.parseInfo([0xA1, 0x00]) == .refreshDelete(cookie: nil, done: true))
        #expect(try ContentSync.parseInfo([0xA2, 0x06, 0x04, 0x01, 0x63, 0x01, 0x01, 0x00]) == .refreshPresent(cookie: [0x63], done: false))
        let a = [UInt8](repeating: 1, count: 16), b = [UInt8](repeating: 2, count: 16)
        let set = BER.element(BER.Tag.set, BER.octetString(a) + BER.octetString(b))
        let deleted = BER.element(BER.Tag.context(3, constructed: true), BER.boolean(true) + set)
        #expect(try ContentSync.parseInfo(deleted) == .idSet(cookie: nil, deleted: true, uuids: [a, b]))
        var result = ContentSyncResult()
        result.present.insert(ContentSync.uuidText(a))
        result.note(try ContentSync.parseInfo(deleted))
        // A later delete wins over an earlier present.
        #expect(result.deleted.count == 2 && result.present.isEmpty && result.isGone(ContentSync.uuidText(b)))
    }

    @Test("what is gone: listed as deleted, or left out of a complete present list")
    func gone() {
        var result = ContentSyncResult()
        result.note(.present, "p")
        result.note(.modify, "m")
        result.note(.delete, "d")
        #expect(result.isGone("d") && !result.isGone("p") && !result.isGone("m") && !result.isGone("x"))
        result.presentListComplete = true
        #expect(result.isGone("x") && !result.isGone("p") && !result.isGone("m"))
    }
}

/// Content sync against a real slapd with the syncprov overlay, with and without a session log.
@Suite("Content sync against slapd")
struct ContentSyncTests {
    static func uuid(_ slapd: Slapd, _ connection: LDAPConnection, _ dn: String) async throws -> String {
        let result = try await connection.search(SearchRequest(base: dn, scope: .base, attributes: ["entryUUID"]))
        return try #require(result.entries.first?["entryUUID"].first?.string)
    }

    @Test("from no cookie every entry is added; from a cookie only the changes, deletions found by either phase",
          arguments: [nil, 100] as [Int?])
    func changes(sessionLog: Int?) async throws {
        let slapd = try await Slapd.start(users: 20, sessionLog: sessionLog)
        defer { slapd.stop() }
        let connection = try await connect(slapd.uri)
        try await connection.bind(.simple(dn: Slapd.readerDN, password: Slapd.readerPassword), allowInsecure: true)

        let first = try await connection.contentSync(base: Slapd.suffix, cookie: nil)
        // 20 users, the suffix, 3 OUs and 2 service accounts.
        #expect(first.changed.count == 26)
        #expect(first.cookie != nil)
        let modified = try await Self.uuid(slapd, connection, Slapd.userDN(3))
        let deleted = try await Self.uuid(slapd, connection, Slapd.userDN(4))
        let untouched = try await Self.uuid(slapd, connection, Slapd.userDN(5))
        let moved = try await Self.uuid(slapd, connection, Slapd.userDN(6))

        // Nothing changed: nothing is reported changed or gone.
        let quiet = try await connection.contentSync(base: Slapd.suffix, cookie: first.cookie)
        #expect(quiet.changed.isEmpty)
        #expect(!quiet.isGone(untouched) && !quiet.isGone(modified))

        do {
            try await slapd.modify("""
                dn: \(Slapd.userDN(3))
                changetype: modify
                replace: mail
                mail: changed@example.com

                dn: \(Slapd.userDN(4))
                changetype: delete

                dn: \(Slapd.userDN(6))
                changetype: modrdn
                newrdn: uid=\(Slapd.userName(6))
                deleteoldrdn: 1
                newsuperior: ou=services,\(Slapd.suffix)

                dn: uid=newcomer,\(Slapd.peopleBase)
                changetype: add
                objectClass: inetOrgPerson
                uid: newcomer
                cn: New Comer
                sn: Comer

                """)
        }
        let newcomer = try await Self.uuid(slapd, connection, "uid=newcomer,\(Slapd.peopleBase)")
        let delta = try await connection.contentSync(base: Slapd.suffix, cookie: quiet.cookie ?? first.cookie)
        // Moved to another branch of the naming context: a change, not a deletion.
        #expect(delta.changed == [modified, newcomer, moved])
        #expect(!delta.isGone(moved))
        #expect(delta.isGone(deleted))
        #expect(!delta.isGone(untouched) && !delta.isGone(modified) && !delta.isGone(newcomer))
        if sessionLog == nil {
            // Without a session log syncprov lists what is present instead.
            #expect(delta.presentListComplete && delta.present.contains(untouched))
        } else {
            #expect(delta.deleted == [deleted])
        }
        #expect(delta.cookie != nil && delta.cookie != first.cookie)

        // The same cookie again reads the same changes (a run that failed reads them again).
        let again = try await connection.contentSync(base: Slapd.suffix, cookie: quiet.cookie ?? first.cookie)
        #expect(again.changed == delta.changed && again.isGone(deleted))
    }

    @Test("a base that does not exist is an error naming it")
    func missingBase() async throws {
        let slapd = try await SharedSlapd.server()
        let connection = try await connect(slapd.uri)
        let error = await expectLDAPError(.noSuchObject) {
            _ = try await connection.contentSync(base: "ou=nowhere,\(Slapd.suffix)", cookie: nil)
        }
        #expect(error?.description.contains("ou=nowhere") == true)
    }
}
