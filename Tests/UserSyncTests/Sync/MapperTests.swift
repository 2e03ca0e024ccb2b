import Foundation
import LDAP
import Testing
@testable import UserSync

private func makeEntry(_ attributes: [String: [String]], dn: String = "uid=x,dc=example,dc=com", binary: [String: [UInt8]] = [:]) -> SourceRecord {
    var list = attributes.map { LDAPAttribute(name: $0.key, values: $0.value.map(LDAPValue.init)) }
    list += binary.map { LDAPAttribute(name: $0.key, values: [LDAPValue($0.value)]) }
    return SourceRecord(.dn(dn), attributes: list)
}

private func rule(_ from: String? = nil, template: String? = nil, _ change: (inout FieldRule) -> Void = { _ in }) -> FieldRule {
    var r = FieldRule(from: from, template: template)
    change(&r)
    return r
}

@Suite("Mapping")
struct MapperTests {
    let guid: [UInt8] = [0xf1, 0xe9, 0x62, 0xf4, 0x3a, 0x42, 0x9b, 0x4b, 0x9f, 0x8e, 0x0c, 0x24, 0x57, 0x6a, 0x01, 0x02]

    func mapper(_ mapping: Mapping, options: SyncOptions = SyncOptions(), id: String = "entryUUID") -> Mapper {
        Mapper(mapping: mapping, options: options, idAttribute: id)
    }

    @Test("transforms: lowercase, trim, default, template, join, first value, RDN of a DN")
    func transforms() {
        var m = Mapping()
        m[.username] = rule("uid") { $0.lowercase = true }
        m[.email] = rule("mail")
        m[.firstName] = rule("givenName") { $0.defaultValue = "(none)" }
        m[.displayName] = rule(template: "{givenName} {sn}")
        m[.manager] = rule("manager") { $0.rdnValue = true }
        m.attributes = ["phones": rule("telephoneNumber") { $0.join = ", " }, "title": rule("title") { $0.trim = false }]
        let user = mapper(m).map(makeEntry([
            "entryUUID": ["id-1"], "uid": ["  Ann.Lee "], "mail": ["first@x", "second@x"], "sn": ["Lee"],
            "manager": ["cn=Bob Boss\\, Jr.,ou=people,dc=example,dc=com"], "telephoneNumber": ["1", "2"], "title": [" CTO "],
        ]))
        #expect(user.username == "ann.lee")
        #expect(user[.email] == "first@x", "the first value of a multi-valued attribute")
        #expect(user[.firstName] == "(none)")
        #expect(user[.displayName] == "Lee", "a missing attribute leaves its part of the template empty, then trimmed")
        #expect(user[.manager] == "Bob Boss, Jr.")
        #expect(user.attributes == ["phones": "1, 2", "title": " CTO "])
        #expect(user.skipReason == nil)
        #expect(user.attributesJSON == #"{"phones":"1, 2","title":" CTO "}"#)
    }

    @Test("a rule's template is parsed once, when the rule is made; its fingerprint text is the one stores were seeded with")
    func parsedRules() {
        var r = rule(template: "{givenName} {sn}")
        #expect(r.input == .template([.attribute("givenName"), .text(" "), .attribute("sn")]))
        #expect(r.attributeNames == ["givenName", "sn"])
        r.template = nil
        r.from = "cn"
        #expect(r.input == .attribute("cn"))
        #expect(rule(template: "{unbalanced").input == .none)
        // Every store's record fingerprints are seeded with this text (RecordFingerprint): if it
        // changed, every record of every store would be mapped in full at the next run.
        #expect(rule("uid") { $0.lowercase = true }.fingerprintText
                == #"FieldRule(from: Optional("uid"), template: nil, lowercase: true, trim: true, defaultValue: nil, join: nil, rdnValue: false, format: UserSync.FieldRule.Format.text)"#)
        #expect(rule(template: "{a} {b}") { $0.defaultValue = "x"; $0.format = .guid }.fingerprintText
                == #"FieldRule(from: nil, template: Optional("{a} {b}"), lowercase: false, trim: true, defaultValue: Optional("x"), join: nil, rdnValue: false, format: UserSync.FieldRule.Format.guid)"#)
    }

    @Test("AD formats: objectGUID as the stable id, SID text, the disabled flag from userAccountControl")
    func activeDirectory() {
        var m = Mapping()
        m[.username] = rule("sAMAccountName")
        m.attributes = ["sid": rule("objectSid") { $0.format = .sid }, "disabled": rule("userAccountControl") { $0.format = .disabled }]
        let sid: [UInt8] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0]
        let m1 = mapper(m, id: "objectGUID")
        let enabled = m1.map(makeEntry(["sAMAccountName": ["ann"], "userAccountControl": ["512"]], binary: ["objectGUID": guid, "objectSid": sid]))
        #expect(enabled.externalId == ADValue.guidString(guid))
        #expect(enabled.attributes == ["sid": "S-1-5-32-544", "disabled": "false"])
        #expect(!enabled.disabled)
        let disabled = m1.map(makeEntry(["sAMAccountName": ["ann"], "userAccountControl": ["514"]], binary: ["objectGUID": guid]))
        #expect(disabled.disabled)
        var off = SyncOptions()
        off.disabledUserAccountControlBit = 0
        #expect(!mapper(m, options: off, id: "objectGUID").map(makeEntry(["sAMAccountName": ["a"], "userAccountControl": ["514"]], binary: ["objectGUID": guid])).disabled)
        #expect(m1.requestedAttributes == ["objectGUID", "sAMAccountName", "userAccountControl", "objectSid"])
    }

    @Test("lowercase options, required fields and a missing stable id give a user to skip, with the reason")
    func optionsAndSkips() {
        var m = Mapping()
        m[.username] = rule("uid")
        m[.email] = rule("mail")
        var options = SyncOptions()
        options.lowercaseUsernames = true
        options.lowercaseEmails = true
        options.requiredFields = ["username", "email"]
        let mp = mapper(m, options: options)
        let ok = mp.map(makeEntry(["entryUUID": ["1"], "uid": ["ANN"], "mail": ["Ann@Example.COM"]]))
        #expect(ok.username == "ann" && ok[.email] == "ann@example.com" && ok.skipReason == nil)
        #expect(mp.map(makeEntry(["entryUUID": ["2"], "uid": ["bob"]])).skipReason == "no email (from mail), a required field")
        #expect(mp.map(makeEntry(["entryUUID": ["3"], "mail": ["c@x"]])).skipReason == "no username (from uid), a required field")
        #expect(mp.map(makeEntry(["uid": ["dan"], "mail": ["d@x"]])).skipReason?.hasPrefix("no entryUUID (the stable id") == true)
    }

    @Test("binary values that are not asked to be decoded become hex, never broken text")
    func binaryAsHex() {
        var m = Mapping()
        m[.username] = rule("uid")
        m.attributes = ["photo": rule("jpegPhoto")]
        let user = mapper(m).map(makeEntry(["entryUUID": ["1"], "uid": ["a"]], binary: ["jpegPhoto": [0xff, 0xd8, 0x00]]))
        #expect(user.attributes["photo"] == "ffd800")
        #expect(Mapper.stableID([LDAPValue([0xfe, 0x01])], attribute: "nsUniqueId") == "fe01")
    }
}

@Suite("Safety guard")
struct SyncGuardTests {
    let source = try! ConfigLoader.parse("""
        store: { sqlite: /tmp/x.db }
        sources:
          - { name: s, type: ldap, uri: ldap://x, users: { base: "dc=x" }, mapping: { username: uid } }
        """, file: "t.yaml").sources[0]

    func check(_ limit: SyncOptions.Limit, maxUsers: Int? = nil, maxSkipped: SyncOptions.Limit = .percent(10), force: Bool = false,
               allowEmpty: Bool = false, read: Int = 100, deactivations: Int, skipped: Int = 0,
               before: Int = 100, after: Int = 100) -> String? {
        var options = SyncOptions()
        options.maxDeactivations = limit
        options.maxUsers = maxUsers
        options.maxSkipped = maxSkipped
        return SyncGuard(options: options, force: force, allowEmpty: allowEmpty)
            .check(entriesRead: read, deactivations: deactivations, activeBefore: before, activeAfter: after, skipped: skipped)?
            .message(for: source)
    }

    @Test("maxDeactivations as a share (at least one user) or a number; --force overrides it, not the empty-read stop")
    func limits() {
        #expect(check(.percent(10), deactivations: 10) == nil)
        #expect(check(.percent(10), deactivations: 11)?.contains("11 users would be deactivated, more than the 10 allowed") == true)
        #expect(check(.percent(10), deactivations: 1, before: 4) == nil, "a small directory may lose one user")
        #expect(check(.absolute(0), deactivations: 1) != nil)
        #expect(check(.absolute(0), force: true, deactivations: 1) == nil)
        #expect(check(.percent(10), read: 0, deactivations: 0)?.contains("no entries") == true)
        #expect(check(.percent(10), force: true, read: 0, deactivations: 100)?.contains("--allow-empty") == true,
                "--force never lets an empty read through")
        #expect(check(.percent(10), allowEmpty: true, read: 0, deactivations: 100)?.contains("100 users would be deactivated") == true)
        #expect(check(.percent(10), force: true, allowEmpty: true, read: 0, deactivations: 100) == nil)
    }

    @Test("maxSkipped: a run that skips more records than allowed stops (every record skipped included); --force overrides it")
    func skipLimit() {
        #expect(check(.percent(10), read: 100, deactivations: 0, skipped: 10) == nil)
        #expect(check(.percent(10), read: 100, deactivations: 0, skipped: 11)?.contains("11 of 100 records would be skipped, more than the 10 allowed") == true)
        #expect(check(.percent(10), read: 5, deactivations: 0, skipped: 1) == nil, "one bad entry in a small directory")
        #expect(check(.percent(10), read: 5, deactivations: 0, skipped: 5) != nil, "every record skipped")
        #expect(check(.percent(10), maxSkipped: .percent(100), read: 5, deactivations: 0, skipped: 5) == nil)
        #expect(check(.percent(10), maxSkipped: .absolute(0), read: 100, deactivations: 0, skipped: 1) != nil)
        #expect(check(.percent(10), force: true, read: 100, deactivations: 0, skipped: 100) == nil)
    }

    @Test("maxUsers stops a run even when forced")
    func licenceCap() {
        #expect(check(.percent(10), maxUsers: 99, deactivations: 0)?.contains("exceed maxUsers (99)") == true)
        #expect(check(.percent(10), maxUsers: 99, force: true, deactivations: 0) != nil)
        #expect(check(.percent(10), maxUsers: 100, deactivations: 0) == nil)
    }
}

@Suite("Kept records")
struct RecordArchiveTests {
    @Test("a page of entries survives the archive byte for byte, binary values, attribute order and empty values included")
    func roundTrip() throws {
        let entries = [
            SourceRecord(.dn("uid=a,dc=x"), attributes: [LDAPAttribute(name: "cn", values: [LDAPValue("Ann \"Quote\" \\ Lee\nline")]),
                                                     LDAPAttribute(name: "photo", values: [LDAPValue([0, 0xff, 0x10])])]),
            SourceRecord(.dn("uid=é,dc=x"), attributes: [LDAPAttribute(name: "mail", values: [LDAPValue("a@x"), LDAPValue("b@x")])]),
        ]
        let data = try RecordArchive.encode(entries)
        #expect(data.prefix(2) == [0x1f, 0x8b], "gzip")
        let back = try RecordArchive.decode(data)
        #expect(back.map(\.locator) == [.dn("uid=a,dc=x"), .dn("uid=é,dc=x")])
        #expect(back[0]["cn"].first?.string == "Ann \"Quote\" \\ Lee\nline")
        #expect(back[0]["photo"].first?.bytes == [0, 0xff, 0x10])
        #expect(back[1].strings("mail") == ["a@x", "b@x"])
        #expect(back[0].attributes.map(\.name) == ["cn", "photo"])
        let empty = try RecordArchive.decode(try RecordArchive.encode([SourceRecord(.dn(""), attributes: [LDAPAttribute(name: "x", values: [LDAPValue([])])])]))
        #expect(empty.count == 1 && empty[0].locator == .dn("") && empty[0]["x"].map(\.bytes) == [[]])
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(data.prefix(data.count / 2))) }
        // A chunk that decompresses but is cut inside an entry is reported, not misread.
        var raw = try Gzip.decompress(data)
        raw.removeLast(3)
        #expect(throws: RecordArchive.Corrupt.self) { try RecordArchive.decode(try Gzip.compress(raw)) }
    }

    @Test("a compressed chunk holds only its own bytes: a page's chunks in flight cost what they weigh, not the page's size")
    func compressedChunkSize() throws {
        // A page of records compresses about fourfold; the output buffer zlib is given is the
        // bound, a little over the input's size.
        let page = (0..<20_000).flatMap { Array("uid=u\($0 % 997),ou=people,dc=example,dc=com;".utf8) }
        let compressed = try Gzip.compress(page, level: 1)
        #expect(compressed.count * 4 < page.count)
        #expect(compressed.capacity < compressed.count * 2, "capacity \(compressed.capacity) for \(compressed.count) bytes")
        #expect(try Gzip.decompress(compressed) == page)
    }

    @Test("the archive keeps each record's locator kind (a row's line past the bytes that follow it included), and reads chunks written before kinds")
    func archiveLocators() throws {
        let attributes = [LDAPAttribute(name: "id", values: [LDAPValue("7")])]
        let locators: [RecordLocator] = [.dn("uid=a,dc=x"), .row(file: "/srv/people.csv", line: 100_000),
                                         .resource("/Users/2819c223"), .groupPath("Sales/EMEA"), .resource("id=7")]
        let back = try RecordArchive.decode(try RecordArchive.encode(locators.map { SourceRecord($0, attributes: attributes) }))
        #expect(back.map(\.locator) == locators)
        #expect(back.allSatisfy { $0.string("id") == "7" })
        #expect(back.map(\.isGroup) == [false, false, false, true, false])

        // Format 1 (store migrations before v4): each record's locator text, then its packed attributes.
        var old: [UInt8] = []
        for text in ["uid=a,dc=x", "/srv/people.csv:12"] {
            RecordArchive.appendVarint(text.utf8.count, to: &old)
            old += Array(text.utf8)
            let packed = AttributePacking.pack(attributes)
            RecordArchive.appendVarint(packed.count, to: &old)
            old += packed
        }
        let legacy = try RecordArchive.decode(try Gzip.compress(old), format: 1)
        #expect(legacy.map(\.locator) == [.dn("uid=a,dc=x"), .resource("/srv/people.csv:12")])
        #expect(legacy.map(\.locator.description) == ["uid=a,dc=x", "/srv/people.csv:12"], "the text as it was shown")
        #expect(throws: RecordArchive.Corrupt.self) { try RecordArchive.decode(try Gzip.compress([9, 0, 0])) }

        // One record by its DN, past records of every other kind, reading only locators.
        let mixed = try RecordArchive.encode((locators + [.dn("uid=b,dc=x")]).map { SourceRecord($0, attributes: attributes) })
        #expect(try RecordArchive.record(withDN: "uid=b,dc=x", in: mixed)?.locator == .dn("uid=b,dc=x"))
        #expect(try RecordArchive.record(withDN: "uid=b,dc=x", in: mixed)?.string("id") == "7")
        #expect(try RecordArchive.record(withDN: "uid=a,dc=x", in: mixed) != nil)
        #expect(try RecordArchive.record(withDN: "uid=c,dc=x", in: mixed) == nil)
        #expect(try RecordArchive.record(withDN: "/srv/people.csv:12", in: mixed) == nil, "a row is not a DN")
        #expect(try RecordArchive.record(withDN: "uid=a,dc=x", in: try Gzip.compress(old), format: 1)?.string("id") == "7")
        #expect(throws: RecordArchive.Corrupt.self) { try RecordArchive.record(withDN: "x", in: try Gzip.compress([9, 0, 0])) }
    }
}

@Suite("Server schema")
struct DirectorySchemaTests {
    @Test("attribute type names are read from RFC 4512 definitions, aliases and options included")
    func names() {
        let schema = DirectorySchema(attributeTypes: [
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s)' SUP name )",
            "( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch )",
            "( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
        ])
        #expect(schema.knows("CN") && schema.knows("commonName") && schema.knows("uid") && schema.knows("samaccountname"))
        #expect(schema.knows("cn;lang-de") && schema.knows("2.5.4.3"))
        #expect(!schema.knows("mial"))
        #expect(schema.canonicalNames == ["cn", "uid", "sAMAccountName"])
    }
}
