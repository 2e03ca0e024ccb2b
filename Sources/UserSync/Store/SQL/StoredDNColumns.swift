import Foundation

/// Each user's and group's DN as group member lists are matched against it (RFC 4514
/// normalised: `StagedRecord.normalize`), one definition for both stores (SQLite's migration v7,
/// PostgreSQL's v4).
///
/// A full read of a source with groups resolves every member value against the users and groups
/// it has just read. A delta reads only the groups that changed, and their members are mostly
/// users it did not read: they are found by this column. It is written for sources with groups
/// (NULL otherwise), and kept current by every run that reads the entry.
///
/// The migration also forgets every watermark: the next run of an incremental source is a full
/// read, which writes the column for every user and group it reads before any delta relies on it.
enum StoredDNColumns {
    static func statements(_ dialect: SQLDialect) -> [String] {
        let text = dialect == .sqlite ? "TEXT" : "text"
        return [
            "ALTER TABLE users ADD COLUMN dn_norm \(text)",
            "ALTER TABLE groups ADD COLUMN dn_norm \(text)",
            "DELETE FROM source_watermarks",
        ]
    }
}
