import Foundation
import LDAP
import Testing

@Suite("Active Directory values")
struct ADValueTests {
    // Microsoft's layout: the first three fields little-endian.
    static let guidBytes: [UInt8] = [0xf1, 0xe9, 0x62, 0xf4, 0x4c, 0x0e, 0x85, 0x4c,
                                     0x8f, 0x2f, 0x5a, 0x6f, 0xd0, 0xe0, 0xb1, 0xa2]

    @Test func decodesObjectGUID() {
        #expect(ADValue.guidString(Self.guidBytes) == "f462e9f1-0e4c-4c85-8f2f-5a6fd0e0b1a2")
        #expect(ADValue.guidBytes("F462E9F1-0E4C-4C85-8F2F-5A6FD0E0B1A2") == Self.guidBytes)
        #expect(ADValue.guidBytes("{f462e9f1-0e4c-4c85-8f2f-5a6fd0e0b1a2}") == Self.guidBytes)
        #expect(ADValue.guidString([1, 2, 3]) == nil)
        #expect(ADValue.guidBytes("not-a-guid") == nil)
    }

    @Test func decodesObjectSid() {
        // S-1-5-21-3623811015-3361044348-30300820-1013, the example in MS-DTYP.
        let bytes: [UInt8] = [0x01, 0x05, 0, 0, 0, 0, 0, 0x05,
                              0x15, 0, 0, 0, 0xc7, 0xf7, 0xfe, 0xd7, 0x7c, 0x77, 0x55, 0xc8,
                              0x94, 0x5a, 0xce, 0x01, 0xf5, 0x03, 0, 0]
        #expect(ADValue.sidString(bytes) == "S-1-5-21-3623811015-3361044348-30300820-1013")
        #expect(ADValue.sidBytes("S-1-5-21-3623811015-3361044348-30300820-1013") == bytes)
        #expect(ADValue.sidString([0x01, 0x01, 0, 0, 0, 0, 0, 0x05, 0x20, 0, 0, 0]) == "S-1-5-32")
        #expect(ADValue.sidString([0x01, 0x02, 0, 0, 0, 0, 0, 0x05]) == nil)
        #expect(ADValue.sidBytes("S-1-x") == nil)
    }

    @Test func decodesFileTime() throws {
        // 2024-01-01T00:00:00Z = 133485408000000000 in 100 ns since 1601.
        let date = try #require(ADValue.date(fileTime: 133_485_408_000_000_000))
        #expect(date == Date(timeIntervalSince1970: 1_704_067_200))
        #expect(ADValue.date(fileTime: "133485408000000000") == date)
        #expect(ADValue.date(fileTime: 0) == nil)
        #expect(ADValue.date(fileTime: Int64.max) == nil)
        #expect(ADValue.date(fileTime: "never") == nil)
    }

    @Test func decodesGeneralizedTime() {
        let base = Date(timeIntervalSince1970: 1_704_067_200 + 12 * 3600 + 34 * 60 + 56)
        #expect(ADValue.date(generalizedTime: "20240101123456.0Z") == base)
        #expect(ADValue.date(generalizedTime: "20240101123456Z") == base)
        #expect(ADValue.date(generalizedTime: "20240101143456+0200") == base)
        #expect(ADValue.date(generalizedTime: "20240101123456.5Z") == base.addingTimeInterval(0.5))
        #expect(ADValue.date(generalizedTime: "2024010112Z") == Date(timeIntervalSince1970: 1_704_067_200 + 12 * 3600))
        for bad in ["20240101123456", "2024-01-01", "20241301000000Z", "20240101123456Zjunk", ""] {
            #expect(ADValue.date(generalizedTime: bad) == nil, "\(bad)")
        }
    }

    @Test func userAccountControl() {
        #expect(ADValue.isDisabled(userAccountControl: "514") == true)
        #expect(ADValue.isDisabled(userAccountControl: "512") == false)
        #expect(ADValue.isDisabled(userAccountControl: "66050") == true)
        #expect(ADValue.isDisabled(userAccountControl: "x") == nil)
    }

    @Test(arguments: [
        ("525", ADBindReason.noSuchUser), ("52e", .invalidCredentials), ("530", .logonRestrictedHours),
        ("531", .logonRestrictedWorkstation), ("532", .passwordExpired), ("533", .accountDisabled),
        ("701", .accountExpired), ("773", .mustChangePassword), ("775", .accountLocked),
    ])
    func decodesBindSubcodes(code: String, reason: ADBindReason) {
        let message = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data \(code), v3839"
        #expect(ADBindReason(diagnosticMessage: message) == reason)
        let error = LDAPError(code: .invalidCredentials, operation: "bind", diagnosticMessage: message)
        #expect(error.adBindReason == reason)
        #expect(error.kind == .authentication)
        #expect(error.description.contains(reason.summary))
        #expect(error.hint != nil)
    }

    @Test func bindSubcodeEdgeCases() {
        #expect(ADBindReason(diagnosticMessage: "Invalid credentials") == nil)
        #expect(ADBindReason(diagnosticMessage: "comment: AcceptSecurityContext error, data 999, v1") == nil)
        #expect(ADBindReason.subcode(in: "…, data 52E, v1db1") == "52e")
        #expect(ADBindReason.subcode(in: "metadata 775") == nil)
        #expect(ADBindReason.accountLocked.word == "accountLocked")
    }
}
