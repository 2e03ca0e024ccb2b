import GRDB

extension ChangeAction: DatabaseValueConvertible {}
extension ObjectType: DatabaseValueConvertible {}

extension DatabaseError: StoreFailure {
    var storeMessage: String {
        "the store: \(message ?? "\(self)")\(StoreAdvice.hint(self).map { " (\($0))" } ?? "")"
    }
}

/// What an administrator can do about a store failure.
enum StoreAdvice {
    static func hint(_ error: DatabaseError) -> String? {
        switch error.resultCode {
        case .SQLITE_FULL:
            return "the disk holding the store, or SQLite's temporary files (SQLITE_TMPDIR, TMPDIR, else /var/tmp), is full: free space and run again"
        case .SQLITE_IOERR:
            return "an I/O error on the disk holding the store or SQLite's temporary files: check the disk and the system log"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return "the store file is damaged: check it with sqlite3 FILE 'PRAGMA integrity_check' and restore it from a backup"
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
            return "the store file or its folder cannot be written by this user"
        default:
            return nil
        }
    }
}
