import Foundation

/// Where each incremental source's last read ended, one definition for both stores (SQLite's
/// migration v6, PostgreSQL's v3). A watermark is written in the same transaction as the
/// changes it covers, so a run that fails or is killed leaves the previous one and the next run
/// reads the same changes again.
///
/// - `method`: how the changes are read (`dirsync`, `usn`, `syncrepl`).
/// - `cookie`: DirSync's or syncrepl's opaque cookie; `usn`: the highestCommittedUSN read
///   before the last delta.
/// - `server` and `invocation_id`: the domain controller the USN belongs to (`dnsHostName`,
///   `invocationID`); another DC, or the same one restored, means a full run.
/// - `settings_hash`: the base, filter and mapping the watermark was taken with; a change means
///   a full run.
/// - `last_full_at`: when the last full read was applied (`fullEvery` counts from it).
///
/// The same migration adds to `runs` how each run read its source: `read_mode` (`full` or
/// `delta`; NULL for runs of sources without incremental reads and for older runs),
/// `read_method` and `read_reason` (why a full read was chosen).
enum WatermarkTables {
    static func statements(_ dialect: SQLDialect) -> [String] {
        let text = dialect == .sqlite ? "TEXT" : "text"
        let integer = dialect == .sqlite ? "INTEGER" : "bigint"
        let bytes = dialect == .sqlite ? "BLOB" : "bytea"
        return [
            """
            CREATE TABLE source_watermarks (
                source \(text) PRIMARY KEY,
                method \(text) NOT NULL CHECK (method IN ('dirsync', 'usn', 'syncrepl')),
                cookie \(bytes),
                usn \(integer),
                server \(text),
                invocation_id \(text),
                settings_hash \(text) NOT NULL,
                last_full_at \(text) NOT NULL,
                updated_at \(text) NOT NULL
            )
            """,
            "ALTER TABLE runs ADD COLUMN read_mode \(text)",
            "ALTER TABLE runs ADD COLUMN read_method \(text)",
            "ALTER TABLE runs ADD COLUMN read_reason \(text)",
        ]
    }

    /// The source's watermark, or nil when it has none.
    static func load(_ db: any SQLSession, source: String) throws -> Watermark? {
        guard let row = try db.row("SELECT * FROM source_watermarks WHERE source = ?", source) else { return nil }
        let method: String = row["method"]
        let cookie: Data? = row["cookie"]
        return Watermark(method: IncrementalSettings.Method(rawValue: method) ?? .off, cookie: cookie.map { [UInt8]($0) },
                         usn: row["usn"], server: row["server"], invocationID: row["invocation_id"],
                         settingsHash: row["settings_hash"], lastFullAt: row["last_full_at"], updatedAt: row["updated_at"])
    }

    /// Writes the source's watermark (inside the plan's transaction: it commits with the
    /// changes it covers, or not at all).
    static func save(_ db: any SQLSession, source: String, _ mark: Watermark) throws {
        try db.execute("""
            INSERT INTO source_watermarks (source, method, cookie, usn, server, invocation_id, settings_hash, last_full_at, updated_at)
            VALUES (?, ?, CAST(? AS \(db.dialect == .sqlite ? "BLOB" : "bytea")), CAST(? AS \(db.dialect == .sqlite ? "INTEGER" : "bigint")),
                    ?, ?, ?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET method = excluded.method, cookie = excluded.cookie, usn = excluded.usn,
                server = excluded.server, invocation_id = excluded.invocation_id, settings_hash = excluded.settings_hash,
                last_full_at = excluded.last_full_at, updated_at = excluded.updated_at
            """, source, mark.method.rawValue, mark.cookie.map { Data($0) }, mark.usn, mark.server, mark.invocationID,
                         mark.settingsHash, mark.lastFullAt, mark.updatedAt)
    }

    /// Forgets the source's watermark (the next run reads everything).
    static func forget(_ db: any SQLSession, source: String) throws {
        try db.execute("DELETE FROM source_watermarks WHERE source = ?", source)
    }
}

/// Where an incremental source's last applied read ended: what the next delta starts from.
struct Watermark: Sendable, Equatable {
    var method: IncrementalSettings.Method
    /// syncrepl's (or DirSync's) cookie, as the server sent it.
    var cookie: [UInt8]?
    /// AD's highestCommittedUSN read before the last read.
    var usn: Int64?
    /// The server the cookie or USN belongs to, and (AD) its invocationID.
    var server: String?
    var invocationID: String?
    /// `IncrementalPlan.settingsHash` of the settings the watermark was taken with.
    var settingsHash: String
    /// When the last full read was applied, and when this watermark was written (store times).
    var lastFullAt: String
    var updatedAt: String
}

/// Where an incremental source's reads stand, as `usersync status` shows it.
public struct WatermarkStatus: Codable, Sendable {
    /// `syncrepl`, `dirsync` or `usn`.
    public var method: String
    /// When the watermark was last moved (the last applied run), and when the last full read was applied.
    public var updatedAt: String
    public var lastFullAt: String
    /// The server the watermark belongs to (AD's DC), when it matters.
    public var server: String?
}
