/// Active Directory's DirSync control ([MS-ADTS] 3.1.1.3.4.1.3, LDAP_SERVER_DIRSYNC_OID): a
/// search that returns the objects changed since a cookie, with the attributes of the request
/// that changed, deleted objects included, in chunks the client asks for until the server says
/// there are no more.
public enum DirSync {
    public static let oid = "1.2.840.113556.1.4.841"
    /// LDAP_SERVER_SHOW_DELETED_OID: searches also return tombstones (isDeleted TRUE).
    public static let showDeletedOID = "1.2.840.113556.1.4.417"

    /// LDAP_DIRSYNC_OBJECT_SECURITY: return only what the caller may read, which lets an
    /// account without the "Replicating Directory Changes" right use DirSync.
    public static let objectSecurity: Int64 = 0x1
    /// LDAP_DIRSYNC_ANCESTORS_FIRST_ORDER: parents before their children.
    public static let ancestorsFirstOrder: Int64 = 0x800

    /// `DirSyncRequestValue ::= SEQUENCE { Flags INTEGER, MaxBytes INTEGER, Cookie OCTET STRING }`.
    public static func requestValue(flags: Int64, maxBytes: Int64, cookie: [UInt8]) -> [UInt8] {
        BER.sequence([BER.integer(flags), BER.integer(maxBytes), BER.octetString(cookie)])
    }

    /// The request control: critical, as [MS-ADTS] requires of it.
    public static func control(cookie: [UInt8]?, flags: Int64 = objectSecurity, maxBytes: Int64 = 1 << 20) -> RequestControl {
        RequestControl(oid: oid, critical: true, value: requestValue(flags: flags, maxBytes: maxBytes, cookie: cookie ?? []))
    }

    /// `DirSyncResponseValue ::= SEQUENCE { MoreResults INTEGER, unused INTEGER, CookieServer OCTET STRING }`.
    public static func parseResponse(_ value: [UInt8]) throws -> (moreResults: Bool, cookie: [UInt8]) {
        var outer = BER.Reader(value)
        var reader = BER.Reader(try outer.next(BER.Tag.sequence, "DirSyncResponseValue").content)
        let more = try reader.next(BER.Tag.integer, "DirSyncResponseValue.MoreResults").integer()
        _ = try reader.next(BER.Tag.integer, "DirSyncResponseValue.unused")
        let cookie = try reader.next(BER.Tag.octetString, "DirSyncResponseValue.CookieServer").bytes
        return (more != 0, cookie)
    }
}
