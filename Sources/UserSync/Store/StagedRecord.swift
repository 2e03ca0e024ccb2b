import LDAP

/// One staged user record: mapped in full, or only identified because it is unchanged.
enum StagedRecord: Sendable {
    /// `attributes`: the user's extra attributes as the store's JSON text; `dnNorm`: the
    /// normalised DN, when groups need it (both made by the page task, off the writer).
    case mapped(MappedUser, fingerprint: UInt64, idHash: UInt64?, attributes: String, dnNorm: String?)
    /// `dnNorm`: the normalised DN, when groups need it.
    case identical(externalId: String, userId: Int64, fingerprint: UInt64, dnNorm: String?)
}


extension StagedRecord {
    /// A DN in the form links are matched on (RFC 4514 normalised; lowercased if it does not parse).
    static func normalize(_ dn: String) -> String {
        DistinguishedName.normalize(dn) ?? dn.lowercased()
    }
}
