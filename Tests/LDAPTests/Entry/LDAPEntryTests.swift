import Testing
@testable import LDAP

@Suite("Entries")
struct LDAPEntryTests {
    static let entry = LDAPEntry(dn: "uid=ann,dc=x", attributes: [
        LDAPAttribute(name: "cn", values: [LDAPValue("Ann Lee")]),
        LDAPAttribute(name: "mail", values: [LDAPValue("a@x"), LDAPValue("b@x")]),
        LDAPAttribute(name: "jpegPhoto", values: [LDAPValue([0, 0xff, 0x80, 0x0a])]),
        LDAPAttribute(name: "description", values: [LDAPValue([])]),
        LDAPAttribute(name: "member;range=0-1499", values: []),
    ])

    @Test("packed attributes give back every name and value in order, binary and empty values included")
    func roundTrip() {
        let attributes = LDAPEntryTests.entry.attributes
        #expect(attributes.map(\.name) == ["cn", "mail", "jpegPhoto", "description", "member;range=0-1499"])
        #expect(attributes[1].values.map(\.string) == ["a@x", "b@x"])
        #expect(attributes[2].values[0].bytes == [0, 0xff, 0x80, 0x0a])
        #expect(attributes[3].values.map(\.bytes) == [[]])
        #expect(attributes[4].values.isEmpty)
        // A long value: its length takes more than one varint byte.
        let long = String(repeating: "x", count: 70_000)
        #expect(LDAPEntry(dn: "", attributes: [LDAPAttribute(name: "a", values: [LDAPValue(long)])]).string("a") == long)
    }

    @Test("lookups ignore the case of attribute names; absent attributes give nothing")
    func lookups() {
        let entry = LDAPEntryTests.entry
        #expect(entry.strings("MAIL") == ["a@x", "b@x"])
        #expect(entry.string("Cn") == "Ann Lee")
        #expect(entry.bytes("jpegphoto") == [0, 0xff, 0x80, 0x0a])
        #expect(entry.string("jpegPhoto") == nil, "not UTF-8")
        #expect(entry["sn"].isEmpty && !entry.has("sn") && entry.has("mail"))
        #expect(entry.hasAttributeName(containing: UInt8(ascii: ";")))
        #expect(!LDAPEntry(dn: "", attributes: [LDAPAttribute(name: "cn", values: [LDAPValue("a;b")])]).hasAttributeName(containing: UInt8(ascii: ";")),
                "values are not names")
    }

    @Test("set replaces or adds, remove removes, the rest stays")
    func edits() {
        var entry = LDAPEntryTests.entry
        entry.set("MAIL", values: [LDAPValue("c@x")])
        entry.set("sn", values: [LDAPValue("Lee")])
        entry.remove("member;range=0-1499")
        #expect(entry.attributes.map(\.name) == ["cn", "mail", "jpegPhoto", "description", "sn"])
        #expect(entry.strings("mail") == ["c@x"] && entry.string("sn") == "Lee")
    }

    @Test("a packed block that is cut short or overruns is refused")
    func malformed() {
        let packed = LDAPEntryTests.entry.packed
        #expect(LDAPEntry(dn: "x", packed: packed)?.attributes.count == 5)
        #expect(LDAPEntry(dn: "x", packed: []) != nil, "no attributes")
        #expect(LDAPEntry(dn: "x", packed: Array(packed.dropLast())) == nil)
        #expect(LDAPEntry(dn: "x", packed: [5, 0x61]) == nil, "a name longer than the block")
        #expect(LDAPEntry(dn: "x", packed: [0xff, 0xff, 0xff]) == nil, "an unfinished varint")
    }

    @Test("values are text exactly when they are valid UTF-8, as the standard library's validation says")
    func utf8Text() {
        let cases: [[UInt8]] = [
            [], Array("ann".utf8), Array("Zoë Müller — 東京 🙂".utf8), Array("\u{FFFD} kept as sent".utf8),
            [0xff], [0x61, 0x80], [0xc3], [0xe2, 0x82], [0xc0, 0x80] /* overlong NUL */,
            [0xed, 0xa0, 0x80] /* a UTF-16 surrogate */, [0xf4, 0x90, 0x80, 0x80] /* past U+10FFFF */,
            [0xef, 0xbf, 0xbd, 0xff], [0, 0xff, 0x80, 0x0a], Array(String(repeating: "é", count: 40).utf8) + [0xe9],
        ]
        for bytes in cases {
            let expected = String(validating: bytes, as: UTF8.self)
            #expect(bytes.withUnsafeBufferPointer(LDAPValue.string) == expected, "\(bytes)")
            #expect(LDAPValue(bytes).string == expected, "\(bytes)")
        }
        #expect(LDAPValue([0x61, 0x80]).string == nil && LDAPValue("Zoë").string == "Zoë")
    }

    @Test("an attribute's values are walked in place: first, every one, none for an absent or empty attribute")
    func valuesInPlace() {
        let entry = LDAPEntryTests.entry
        #expect(entry.withValues("mail") { values in values.map { Array($0) } } == [Array("a@x".utf8), Array("b@x".utf8)])
        #expect(entry.withValues("MAIL") { $0.first.map { Array($0) } } == Array("a@x".utf8))
        #expect(entry.withValues("sn") { $0.isEmpty && $0.first == nil && Array($0).isEmpty })
        #expect(entry.withValues("member;range=0-1499") { $0.isEmpty })
        #expect(entry.withValues("description") { !$0.isEmpty && $0.first?.count == 0 }, "an empty value is a value")
    }

    @Test("the writer of a search's entries packs as the packer does, and says when the room runs out without writing past it")
    func packedWriter() {
        let values: [[UInt8]] = [Array("Ann Lee".utf8), [], Array(repeating: 0xff, count: 300), Array(repeating: 0x41, count: 20_000)]
        var packer = LDAPEntry.Packer()
        packer.appendName(Array("cn".utf8), valueCount: values.count)
        for value in values { value.withUnsafeBufferPointer { packer.appendValue($0) } }
        let expected = packer.bytes
        func write(room: Int) -> (fitted: Bool, bytes: [UInt8], guardIntact: Bool) {
            // Eight guard bytes after the room given: they must stay as they are.
            let storage = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: room + 8)
            defer { storage.deallocate() }
            storage.initialize(repeating: 0xee)
            var writer = LDAPEntry.PackedWriter(UnsafeMutableBufferPointer(rebasing: storage[..<room]))
            var fitted = Array("cn".utf8).withUnsafeBufferPointer { writer.appendName($0, valueCount: values.count) }
            for value in values where fitted { fitted = value.withUnsafeBufferPointer { writer.appendValue($0) } }
            return (fitted, Array(storage[..<writer.count]), storage[room...].allSatisfy { $0 == 0xee })
        }
        let roomy = write(room: expected.count + 16)
        #expect(roomy.fitted && roomy.bytes == expected && roomy.guardIntact)
        for room in [0, 3, 20, 330, expected.count - 1] {
            let short = write(room: room)
            #expect(!short.fitted && short.guardIntact && short.bytes.count <= room, "room \(room)")
        }
    }
}
