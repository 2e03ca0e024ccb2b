import LDAP

/// One staged user record: mapped in full, or only identified because it is unchanged.
enum StagedRecord: Sendable {
    /// `attributes`: the user's extra attributes as the store's JSON text; `linkKey`: what group
    /// links to the record match (`RecordLocator.linkKey`, kept in `staged.dn_norm`), when groups
    /// need it (both made by the page task, off the writer).
    case mapped(MappedUser, fingerprint: UInt64, idHash: UInt64?, attributes: String, linkKey: String?)
    /// `linkKey`: as for `mapped`; `wasActive`: the user's row was active when the fingerprints
    /// were loaded (`Planner.noneMissing`).
    case identical(userId: Int64, fingerprint: UInt64, linkKey: String?, wasActive: Bool)
}


extension StagedRecord {
    /// A DN in the form links are matched on (RFC 4514 normalised; lowercased if it does not parse).
    static func normalize(_ dn: String) -> String {
        DistinguishedName.normalize(dn) ?? dn.lowercased()
    }
}
