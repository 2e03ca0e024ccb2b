/// How an `ldap` source reads only what changed since its last run (`incremental:`), and how
/// often it reads everything regardless.
public struct IncrementalSettings: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        /// DirSync on Active Directory when the account may use it, else USN polling; syncrepl
        /// (RFC 4533 refreshOnly) on OpenLDAP when offered; else full reads, saying why.
        case auto
        /// Active Directory's DirSync control (1.2.840.113556.1.4.841), with object security.
        case dirsync
        /// Active Directory's uSNChanged against highestCommittedUSN, tombstones by Show Deleted.
        case usn
        /// RFC 4533 content synchronization, refreshOnly.
        case syncrepl
        /// Every run reads everything (the default).
        case off
    }

    public var method: Method = .off
    /// A full read at least this often, whatever the method.
    public var fullEvery: Duration = .seconds(24 * 3600)

    public init(method: Method = .off, fullEvery: Duration = .seconds(24 * 3600)) {
        self.method = method
        self.fullEvery = fullEvery
    }
}
