import LDAP
import Testing

@Suite("DN parsing and comparison (RFC 4514)")
struct DistinguishedNameTests {
    @Test func parsesSimpleDN() throws {
        let dn = try DistinguishedName("uid=ann,ou=People,dc=example,dc=com")
        #expect(dn.rdns.count == 4)
        #expect(dn.rdns[0][0].type == "uid")
        #expect(dn.rdns[0][0].value == "ann")
        #expect(dn.rdnValue == "ann")
        #expect(dn.parent?.description == "ou=People,dc=example,dc=com")
    }

    @Test func decodesEscapes() throws {
        let dn = try DistinguishedName(#"CN=Smith\, John \2B Co,OU=Sales\\EMEA,DC=corp"#)
        #expect(dn.rdnValue == "Smith, John + Co")
        #expect(dn.rdns[1][0].value == #"Sales\EMEA"#)
        // Hex escapes are UTF-8 bytes.
        #expect(try DistinguishedName(#"cn=J\C3\BCrgen,dc=de"#).rdnValue == "Jürgen")
        #expect(try DistinguishedName(##"cn=\#test\ ,dc=x"##).rdnValue == "#test ")
    }

    @Test("a value that begins with a combining mark keeps the separator before it (found by the dn fuzz target)")
    func combiningMarks() throws {
        // "=\u{301}" and ",\u{301}" are one Character each; the parser reads scalars.
        let dn = try DistinguishedName("cn=\u{301}x,ou=\u{6DC}y+uid=\u{301},dc=example")
        #expect(dn.rdns.count == 3)
        #expect(dn.rdnValue == "\u{301}x")
        #expect(dn.rdns[1].map(\.value) == ["\u{6DC}y", "\u{301}"])
        // The fuzzer's input, escaped into a DN, reads back as itself.
        let found = String(decoding: [0xdb, 0x9c, 0x9c, 0x00, 0xff, 0xff, 0xff, 0x6e, 0x3d, 0x23, 0x32, 0x6e, 0x30, 0x2b, 0x3d] as [UInt8], as: UTF8.self)
        #expect(try DistinguishedName("cn=" + DistinguishedName.escape(found) + ",dc=example").rdnValue == found)
    }

    @Test func reEscapesOnOutput() throws {
        let dn = DistinguishedName(rdns: [[.init(type: "cn", value: "Smith, John")], [.init(type: "dc", value: "corp")]])
        #expect(dn.description == #"cn=Smith\, John,dc=corp"#)
        #expect(DistinguishedName.escape(" #lead;trail ") == ##"\ #lead\;trail\ "##)
        #expect(DistinguishedName.escape("#first") == ##"\#first"##)
        #expect(DistinguishedName.escape("a+b<c>d\"e\\f") == #"a\+b\<c\>d\"e\\f"#)
        let roundTrip = try DistinguishedName(dn.description)
        #expect(roundTrip.rdnValue == "Smith, John")
    }

    @Test func multiValuedRDN() throws {
        let dn = try DistinguishedName("cn=Ann+uid=ann,dc=example")
        #expect(dn.rdns[0].count == 2)
        #expect(try dn == DistinguishedName("UID=ann+CN=ann,DC=Example"))
    }

    @Test func comparesWithoutCaseAndInsignificantSpaces() throws {
        let a = try DistinguishedName("CN=Ann  Smith, OU=Staff ,DC=Corp")
        let b = try DistinguishedName("cn=ann smith,ou=staff,dc=corp")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.normalized == "cn=ann smith,ou=staff,dc=corp")
        #expect(try a != DistinguishedName("cn=ann smith,ou=staff,dc=corp2"))
        #expect(try DistinguishedName("OID.2.5.4.3=x,dc=y").normalized == "2.5.4.3=x,dc=y")
    }

    @Test func hexValueAndQuotedValue() throws {
        // #04 03 'a' 'b' 'c' : a BER OCTET STRING "abc".
        #expect(try DistinguishedName("cn=#0403616263,dc=x").rdnValue == "abc")
        #expect(try DistinguishedName(#"cn="Smith, John",dc=x"#).rdnValue == "Smith, John")
    }

    @Test func scopeChecks() throws {
        let user = try DistinguishedName("uid=ann,ou=people,dc=example,dc=com")
        #expect(user.isWithin(try DistinguishedName("DC=Example,DC=Com")))
        #expect(user.isWithin(user))
        #expect(!user.isWithin(try DistinguishedName("ou=groups,dc=example,dc=com")))
        #expect(try DistinguishedName("").rdns.isEmpty)
    }

    @Test(arguments: [
        ("cn", "expected '='"),
        ("=value,dc=x", "attribute type"),
        ("cn=a,", "separator at the end"),
        (#"cn=a\"#, "escapes nothing"),
        (#"cn=a\zz"#, "not a valid escape"),
        ("c n=a", "not an attribute type"),
        (#"cn="unterminated"#, "unterminated"),
        ("cn=#zz", "hex digits"),
    ])
    func rejectsMalformed(input: String, reason: String) {
        #expect {
            _ = try DistinguishedName(input)
        } throws: { error in
            (error as? DNParseError)?.description.contains(reason) == true
        }
    }

    @Test("the fast path for plain DNs gives exactly what the full parser gives")
    func fastPathAgrees() throws {
        let samples = [
            "", "dc=example,dc=com", "CN=Ann  Smith, OU=Staff ,DC=Corp,DC=Example", "uid=user00001,ou=people,dc=example,dc=com",
            "OID.2.5.4.3=Ann,dc=x", "cn=a=b,dc=x", "cn=Smith\\, Ann,dc=x", "cn=\"quoted\",dc=x", "cn=a+sn=b,dc=x",
            "cn=#41,dc=x", "cn=Ünïcode,dc=x", "cn=,dc=x", "=x,dc=y", "cn=x,,dc=y", "no equals", "cn=x;dc=y", "cn=  spaced  ,dc=x",
            "CN=t12345G1,OU=t12345,DC=corp,DC=example,DC=test", "oid.=x,dc=y", "cn=a   b  c,dc=x", " cn = x , dc = y ",
            "cn=x,dc=y ", "CN=MiXeD,O=Org-1.2", "cn=x,", ",cn=x", "cn=x, ,dc=y", "c-n.1=v",
        ]
        for dn in samples {
            let parsed = try? DistinguishedName(dn)
            #expect(DistinguishedName.normalize(dn) == parsed?.normalized, "\(dn)")
            #expect(DistinguishedName.firstRDNValue(dn) == parsed?.rdnValue, "\(dn)")
        }
    }
}
