import LDAP
import Testing

@Suite("Filter escaping and building (RFC 4515)")
struct LDAPFilterTests {
    @Test func escapesSpecialCharacters() {
        #expect(LDAPFilter.escape("a*b(c)d\\e") == #"a\2ab\28c\29d\5ce"#)
        #expect(LDAPFilter.escape("nul\0") == #"nul\00"#)
        #expect(LDAPFilter.escape("Jürgen") == "Jürgen")
        #expect(LDAPFilter.escape(bytes: [0x00, 0xff, 0x2a]) == #"\00\ff\2a"#)
    }

    @Test func buildsFilters() {
        let filter = LDAPFilter.and([
            .equal("objectClass", "user"),
            .not(.bitAnd("userAccountControl", 2)),
            .or([.equal("sAMAccountName", "j*"), .present("mail")]),
            .substring("cn", initial: "An", any: ["(x)"], final: "th"),
            .greaterOrEqual("uSNChanged", "100"),
            .lessOrEqual("age", "9"),
            .approx("sn", "smyth"),
        ])
        #expect(filter.description == #"(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|(sAMAccountName=j\2a)(mail=*))(cn=An*\28x\29*th)(uSNChanged>=100)(age<=9)(sn~=smyth))"#)
        #expect(LDAPFilter.memberOfInChain("CN=G (1),DC=x").description == #"(memberOf:1.2.840.113556.1.4.1941:=CN=G \281\29,DC=x)"#)
        #expect(LDAPFilter.extensible(attribute: "ou", rule: nil, dnAttributes: true, value: "Sales").description == "(ou:dn:=Sales)")
        #expect(LDAPFilter.substring("cn", initial: nil, any: [], final: "x").description == "(cn=*x)")
    }

    @Test("a value ending in a prepended mark (U+0605) keeps the ')' after it (found by the filter fuzz target)")
    func prependedMarks() throws {
        // "\u{605})" is one Character; the checker reads scalars.
        #expect(try LDAPFilter.check("(cn=\u{7f}\u{15}c\u{605})") == "(cn=\u{7f}\u{15}c\u{605})")
        #expect(try LDAPFilter.check("(&(cn=\u{605})(sn=x))") == "(&(cn=\u{605})(sn=x))")
        #expect(try LDAPFilter.check("cn=" + LDAPFilter.escape("a\u{605}")) == "(cn=a\u{605})")
        #expect(throws: LDAPFilterError.self) { try LDAPFilter.check("(cn=\u{605}") }
    }

    @Test func checksAdministratorFilters() throws {
        #expect(try LDAPFilter.check("uid=ann") == "(uid=ann)")
        #expect(try LDAPFilter.check("  (&(a=1)(b=2)) ") == "(&(a=1)(b=2))")
        #expect(try LDAPFilter.check(#"(cn=a\29b)"#) == #"(cn=a\29b)"#)
        for bad in ["", "(uid=a", "(a=1))", "(a=1)(b=2)", "()", #"(a=\"#] {
            #expect(throws: LDAPFilterError.self, "\(bad)") { try LDAPFilter.check(bad) }
        }
    }
}
