import Foundation

/// Makes sure two runs on the same store never interleave, in one process or across several
/// (a cron job overlapping a service): an exclusive `flock(2)` on `<store>.lock`, held for the
/// whole run and released when the lock is released or the process ends, even by `kill -9`.
///
/// The lock file sits beside the store file itself, its path resolved (`realpath(3)`): a store
/// named through a symbolic link (of the file or of a folder on its path) and by its real path
/// is one store with one lock. (Not the database file itself: SQLite keeps POSIX locks on it,
/// and closing any other descriptor of that file would drop them.)
public final class RunLock: @unchecked Sendable {
    // The descriptor is only closed once, by release() or deinit, under `lock`.
    private var fd: Int32
    private let lock = NSLock()
    public let path: String

    /// Takes the lock, waiting up to `timeout` for a run in progress to finish; throws
    /// `StoreError.busy` if it does not.
    public init(store: String, timeout: Duration = .zero, suffix: String = ".lock") throws {
        path = RunLock.resolve(store) + suffix
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.cannotCreate(path, String(cString: strerror(errno))) }
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                close(fd)
                throw StoreError.busy(store)
            }
            usleep(100_000)
        }
    }

    /// The store's real path: symbolic links resolved; for a store not yet created, its folder's.
    static func resolve(_ store: String) -> String {
        if let real = realpath(store, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let url = URL(fileURLWithPath: store)
        let folder = url.deletingLastPathComponent().path
        guard let real = realpath(folder, nil) else { return store }
        defer { free(real) }
        return URL(fileURLWithPath: String(cString: real)).appendingPathComponent(url.lastPathComponent).path
    }

    /// Releases the lock (also done when the lock is deinitialised).
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

extension RunLock {
    /// Takes the lock without blocking Swift's cooperative threads while it waits.
    public static func acquire(store: String, timeout: Duration, suffix: String = ".lock") async throws -> RunLock {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    continuation.resume(returning: try RunLock(store: store, timeout: timeout, suffix: suffix))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

extension RunLock {
    /// A name as part of a file name: letters, digits, '-', '_' and '.' kept, the rest as %XX.
    static func fileSafe(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }
}
