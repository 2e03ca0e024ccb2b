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
        ]
    }
}
