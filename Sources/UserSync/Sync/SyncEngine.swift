import Foundation
import GRDB
import LDAP
import Logging

/// Runs syncs: source → mapper → staging → planner → guard → store, and records each run.
///
/// A run reads the source completely before it writes anything; the changes are written in one
/// transaction that the guard can still roll back; a failure or a kill at any point leaves the
/// users exactly as they were. Runs on one store never interleave (`RunLock`).
public struct SyncEngine: Sendable {
    public let store: UserStore
    public var logger: Logger
    /// How long a run waits for another run on the same store to finish.
    public var lockTimeout: Duration
    /// How many changes of each kind a report lists (the counts are always complete).
    public var changeListLimit: Int

    public init(store: UserStore, logger: Logger = Logger(label: "usersync"), lockTimeout: Duration = .seconds(30),
                changeListLimit: Int = 200) {
        self.store = store
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.changeListLimit = changeListLimit
    }

    /// Syncs one source. Never throws: the report says what happened, failures included.
    /// `recordSource` replaces the source the settings describe (tests, previews).
    public func run(_ settings: SourceSettings, from recordSource: (any RecordSource)? = nil,
                    dryRun: Bool = false, force: Bool = false) async -> SyncReport {
        let clock = ContinuousClock.now
        var report = SyncReport(source: settings.name, dryRun: dryRun, status: .failed)
        var log = logger
        log[metadataKey: "source"] = "\(settings.name)"
        func finish(_ report: inout SyncReport) {
            report.durationSeconds = (ContinuousClock.now - clock).secondsValue
        }

        let lock: RunLock
        do {
            lock = try await RunLock.acquire(store: store.path, timeout: lockTimeout)
        } catch {
            (report.error, report.errorKind) = SyncEngine.describe(error)
            log.error("\(report.error!)")
            finish(&report)
            return report
        }
        defer { lock.release() }

        let started = Timestamp.now()
        let runId: Int64
        do {
            runId = try await store.beginRun(source: settings.name, dryRun: dryRun, at: started)
        } catch {
            (report.error, report.errorKind) = SyncEngine.describe(error)
            log.error("cannot record the run: \(report.error!)")
            finish(&report)
            return report
        }
        report.runId = runId
        log[metadataKey: "run"] = "\(runId)"
        log.info("run started", metadata: ["dryRun": "\(dryRun)", "base": "\(settings.users.base)", "filter": "\(settings.users.filter)"])

        let mapper = Mapper(source: settings)
        let source = recordSource ?? LDAPSource(settings: settings)
        let staging = Staging(database: store.database)
        defer { Task { await staging.drop() } }

        // Read everything first. Any error here ends the run before a single user is touched.
        let pages = Counter()
        do {
            try await staging.reset()
            let idAttribute = settings.users.idAttribute
            let pageLog = log
            try await source.read(attributes: mapper.requestedAttributes) { entries in
                let users = entries.map(mapper.map)
                try await staging.add(users, archive: try RecordArchive.encode(entries), idAttribute: idAttribute)
                let (page, total) = pages.add(entries.count)
                pageLog.debug("page read", metadata: ["page": "\(page)", "entries": "\(entries.count)", "total": "\(total)"])
            }
        } catch {
            report.entriesRead = pages.total
            (report.error, report.errorKind) = SyncEngine.describe(error)
            report.error = "reading the source failed after \(pages.total) entries; nothing was changed: \(report.error!)"
            log.error("\(report.error!)")
            finish(&report)
            try? await store.finishRun(runId, report: report, at: Timestamp.now(), keepRecords: settings.options.keepRecords)
            return report
        }
        report.entriesRead = pages.total
        log.info("source read", metadata: ["entries": "\(pages.total)", "pages": "\(pages.pages)"])

        // Plan, guard and write in one transaction; roll back unless it is to be applied.
        let planner = Planner(source: settings.name, runId: runId, now: Timestamp.now(), options: settings.options,
                              mapping: settings.mapping, idAttribute: settings.users.idAttribute)
        let limit = changeListLimit
        let entriesRead = pages.total
        let pending = report
        do {
            let outcome: Outcome = try await store.database.writeWithoutTransaction { db in
                var outcome = Outcome()
                try db.inTransaction(.immediate) {
                    let activeBefore = try planner.activeUsers(db)
                    outcome.counts = try planner.apply(db)
                    let activeAfter = try planner.activeUsers(db)
                    (outcome.changes, outcome.totalChanges) = try planner.changes(db, limit: limit)
                    outcome.stop = SyncGuard(options: settings.options, force: force)
                        .check(entriesRead: entriesRead, deactivations: outcome.counts.deactivated,
                               activeBefore: activeBefore, activeAfter: activeAfter, source: settings)
                    if outcome.stop != nil || dryRun { return .rollback }
                    var applied = pending
                    applied.status = .applied
                    applied.users = outcome.counts
                    try UserStore.finishRun(db, runId, report: applied, at: Timestamp.now(), keepRecords: settings.options.keepRecords)
                    try SyncEngine.holdBeforeCommitForTests()
                    return .commit
                }
                return outcome
            }
            report.users = outcome.counts
            report.changes = outcome.changes
            report.totalChanges = outcome.totalChanges
            if let stop = outcome.stop {
                report.status = .stopped
                report.error = stop
                report.errorKind = "guard"
                log.warning("stopped by the guard: \(stop)")
            } else if dryRun {
                report.status = .planned
            } else {
                report.status = .applied
            }
        } catch {
            report.status = .failed
            (report.error, report.errorKind) = SyncEngine.describe(error)
            report.error = "writing the changes failed; nothing was changed: \(report.error!)"
            log.error("\(report.error!)")
        }
        finish(&report)
        if report.status != .applied {
            do {
                try await store.finishRun(runId, report: report, at: Timestamp.now(), keepRecords: settings.options.keepRecords)
            } catch {
                log.error("cannot record the end of the run: \(error)")
            }
        }
        let u = report.users
        log.info("run \(report.status.rawValue)", metadata: [
            "created": "\(u.created)", "updated": "\(u.updated)", "deactivated": "\(u.deactivated)",
            "reactivated": "\(u.reactivated)", "unchanged": "\(u.unchanged)", "skipped": "\(u.skipped)",
            "seconds": "\(String(format: "%.3f", report.durationSeconds))",
        ])
        return report
    }

    struct Outcome: Sendable {
        var counts = SyncReport.Counts()
        var changes: [PlannedChange] = []
        var totalChanges = 0
        var stop: String?
    }

    /// A failure's message and kind for the report.
    static func describe(_ error: any Error) -> (String, String) {
        switch error {
        case let error as LDAPError:
            return (error.description + (error.hint.map { " (\($0))" } ?? ""), error.kind.rawValue)
        case let error as Secrets.Unavailable:
            return (error.description, "configuration")
        case let error as StoreError:
            if case .busy = error { return (error.description, "busy") }
            return (error.description, "store")
        case let error as DatabaseError:
            return ("the store: \(error.message ?? "\(error)")", "store")
        default:
            return ("\(error)", "other")
        }
    }

    /// Test hook for the kill -9 test: with `USERSYNC_TEST_HOLD_BEFORE_COMMIT=SECONDS`, a run
    /// that has written all its changes waits that long before committing them, announcing it
    /// on standard error. Nothing else reads this variable.
    static func holdBeforeCommitForTests() throws {
        guard let text = ProcessInfo.processInfo.environment["USERSYNC_TEST_HOLD_BEFORE_COMMIT"],
              let seconds = Double(text) else { return }
        FileHandle.standardError.write(Data("usersync: holding the transaction open for \(seconds)s (test hook)\n".utf8))
        Thread.sleep(forTimeInterval: seconds)
    }
}

/// Pages and entries read so far (the page callback is @Sendable).
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var entries = 0
    private var pageCount = 0

    func add(_ count: Int) -> (page: Int, total: Int) {
        lock.lock()
        defer { lock.unlock() }
        entries += count
        pageCount += 1
        return (pageCount, entries)
    }

    var total: Int { lock.lock(); defer { lock.unlock() }; return entries }
    var pages: Int { lock.lock(); defer { lock.unlock() }; return pageCount }
}

/// ISO 8601 UTC times, as the store keeps them.
enum Timestamp {
    static func now() -> String {
        Date().ISO8601Format(.init(includingFractionalSeconds: true))
    }
}
