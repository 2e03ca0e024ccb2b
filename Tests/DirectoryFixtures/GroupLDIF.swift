extension Slapd {
    /// LDIF of a groupOfNames under ou=groups with the given members (group cns and user numbers).
    public static func groupLDIF(_ cn: String, groups: [String] = [], users: [Int] = [], extra: [String] = []) -> String {
        var text = "dn: cn=\(cn),ou=groups,\(suffix)\nobjectClass: groupOfNames\ncn: \(cn)\n"
        for g in groups { text += "member: cn=\(g),ou=groups,\(suffix)\n" }
        for u in users { text += "member: \(userDN(u))\n" }
        for e in extra { text += "member: \(e)\n" }
        return text + "\n"
    }

    /// A sample tree for the group tests (users 1-10): l1 ⊃ l2 ⊃ l3 ⊃ l4 ⊃ l5 (five levels),
    /// `shared` under both l1 and `other`, `cyclea` ⇄ `cycleb`, and `outside` with a member that
    /// does not exist and one outside the directory's suffix.
    public static let sampleGroupTree = groupLDIF("l1", groups: ["l2", "shared"], users: [1])
        + groupLDIF("l2", groups: ["l3"], users: [2])
        + groupLDIF("l3", groups: ["l4"], users: [3])
        + groupLDIF("l4", groups: ["l5"], users: [4])
        + groupLDIF("l5", users: [5])
        + groupLDIF("shared", users: [6])
        + groupLDIF("other", groups: ["shared"], users: [7])
        + groupLDIF("cyclea", groups: ["cycleb"], users: [8])
        + groupLDIF("cycleb", groups: ["cyclea"], users: [9])
        + groupLDIF("outside", users: [10], extra: ["uid=ghost,ou=people,\(suffix)", "cn=nowhere,dc=elsewhere"])
}
