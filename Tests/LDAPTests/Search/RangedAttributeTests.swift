import LDAP
import Testing

@Suite("Ranged attribute descriptions")
struct RangedAttributeTests {
    @Test func parsesRanges() throws {
        let first = try #require(RangedAttribute("member;range=0-1499"))
        #expect(first.baseName == "member")
        #expect(first.low == 0)
        #expect(first.high == 1499)
        #expect(first.nextRequest == "member;range=1500-*")
        let last = try #require(RangedAttribute("Member;Range=1500-*"))
        #expect(last.baseName == "Member")
        #expect(last.high == nil)
        #expect(last.nextRequest == nil)
        let withOption = try #require(RangedAttribute("member;binary;range=10-19"))
        #expect(withOption.baseName == "member;binary")
        #expect(withOption.nextRequest == "member;binary;range=20-*")
    }

    @Test func rejectsNonRanges() {
        for text in ["member", "member;binary", "member;range=", "member;range=5-1", "member;range=a-b", "member;range=-5"] {
            #expect(RangedAttribute(text) == nil, "\(text)")
        }
    }
}

@Suite("Errors")
struct LDAPErrorTests {
    @Test func classifiesResultCodes() {
        #expect(LDAPError.classify(.serverDown) == .unreachable)
        #expect(LDAPError.classify(.invalidCredentials) == .authentication)
        #expect(LDAPError.classify(.strongAuthRequired) == .encryptionRequired)
        #expect(LDAPError.classify(.sizeLimitExceeded) == .limitExceeded)
        #expect(LDAPError.classify(.noSuchObject) == .noSuchObject)
        #expect(LDAPError.classify(.filterError) == .invalidRequest)
        #expect(LDAPError.classify(.timeout) == .timeout)
    }

    @Test func describesWithDiagnosticAndMatchedDN() {
        let error = LDAPError(code: .noSuchObject, operation: "search", diagnosticMessage: "  no such entry\n",
                              matchedDN: "dc=example,dc=com", uri: "ldap://h")
        #expect(error.diagnosticMessage == "no such entry")
        #expect(error.description == "search failed: No such object (LDAP result 32); server: no such entry; matched DN: dc=example,dc=com")
        #expect(LDAPResultCode.invalidCredentials.description == "Invalid credentials (49)")
    }
}
