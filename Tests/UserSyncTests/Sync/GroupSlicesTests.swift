import Foundation
import LDAP
import Testing
@testable import UserSync

@Suite("Group slices")
struct GroupSlicesTests {
    func group(_ k: Int, members: Int) -> SourceRecord {
        SourceRecord(.dn("cn=g\(k),ou=groups,dc=example,dc=com"), attributes: [
            LDAPAttribute(name: "cn", values: [LDAPValue("g\(k)")]),
            LDAPAttribute(name: "member", values: (0..<members).map { LDAPValue("uid=u\($0),ou=people,dc=example,dc=com") }),
        ])
    }

    @Test("every group once, in order; at most 50 groups, and none after their members reach 10,000; a huge group ends its slice")
    func slices() {
        // 120 small groups, a huge one, 3 of 4,000 members, then small ones again.
        let sizes = Array(repeating: 50, count: 120) + [25_000] + [4_000, 4_000, 4_000] + Array(repeating: 0, count: 7)
        let records = sizes.enumerated().map { group($0.offset, members: $0.element) }
        let slices = Array(GroupSlices(records, attribute: "member"))
        #expect(slices.flatMap { Array($0) } == Array(records.indices))
        #expect(slices.map(\.count) == [50, 50, 21, 3, 7])
        for slice in slices {
            let members = slice.map { sizes[$0] }
            #expect(slice.count <= GroupSlices.groups)
            // Only the slice's last group may take its members to 10,000 or past.
            #expect(members.dropLast().reduce(0, +) < GroupSlices.members)
        }
        #expect(Array(GroupSlices([], attribute: "member")).isEmpty)
        // Another attribute counts nothing: slices of 50.
        #expect(Array(GroupSlices(records, attribute: "uniqueMember")).map(\.count) == [50, 50, 31])
    }
}
