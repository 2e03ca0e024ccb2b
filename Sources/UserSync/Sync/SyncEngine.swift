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
    /// Told of each page read and each phase (a terminal's progress line); nil for none.
    public var progress: (@Sendable (SyncProgress) -> Void)?

    public init(store: UserStore, logger: Logger = Logger(label: "usersync"), lockTimeout: Duration = .seconds(30),
                changeListLimit: Int = 200) {
        self.store = store
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.changeListLimit = changeListLimit
    }

    /// Syncs one source. Never throws: the report says what happened, failures included.
    /// `recordSource` replaces the source the settings describe (tests, previews). `force`
    /// overrides the guard's thresholds (maxDeactivations, maxSkipped); `allowEmpty` lets an
    /// empty read through: each must be given on its own.
    public func run(_ settings: SourceSettings, from recordSource: (any RecordSource)? = nil,
                    dryRun: Bool = false, force: Bool = false, allowEmpty: Bool = false) async -> SyncReport {
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
            report.fail(error)
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
            report.fail(error)
            log.error("cannot record the run: \(report.error!)")
            finish(&report)
            return report
        }
        report.runId = runId
        log[metadataKey: "run"] = "\(runId)"
        log.info("run started", metadata: ["dryRun": "\(dryRun)", "from": "\(settings.origin)"])

        let mapper = Mapper(source: settings)
        let source = recordSource ?? settings.recordSource(logger: log)
        let staging = Staging(database: store.database)
        defer { Task { await staging.drop() } }
        if log.logLevel <= .debug {
            // -v: the statements of the run that take 10 ms or more, with their time.
            let sqlLog = log
            try? await store.database.writeWithoutTransaction { db in
                db.trace(options: .profile) { event in
                    guard case let .profile(statement, duration) = event, duration >= 0.01 else { return }
                    sqlLog.debug("slow statement", metadata: ["seconds": "\(String(format: "%.3f", duration))",
                                                              "sql": "\(statement.sql.prefix(300))"])
                }
            }
        }
        defer {
            if log.logLevel <= .debug { Task { try? await store.database.writeWithoutTransaction { db in db.trace(options: [], nil) } } }
        }

        // Read everything first. Any error here ends the run before a single user is touched.
        let pages = ReadCounter()
        let groupPages = ReadCounter()
        let progress = self.progress
        let progressSource = settings.name
        @Sendable func tell(_ phase: SyncProgress.Phase) {
            progress?(SyncProgress(source: progressSource, phase: phase, entries: pages.total, pages: pages.pages,
                                   groups: groupPages.total, elapsed: (ContinuousClock.now - clock).secondsValue))
        }
        tell(.connecting)
        let groupMapper = settings.groups.map { GroupMapper(mapping: $0, userIDAttribute: settings.stableID) }
        let linksFromUsers = settings.groups?.membership == .memberOf
        // Normalised DNs are needed only to match group members and to scope users by groups.
        let withDNs = settings.groups != nil || !settings.memberOf.isEmpty
        var inScope: Int?
        do {
            try await staging.reset()
            let idAttribute = settings.stableID
            let pageLog = log
            let attributes = mapper.requestedAttributes + (linksFromUsers ? ["memberOf"] : [])
            let fingerprint = RecordFingerprint(source: settings)
            let sourceName = settings.name
            // Loaded on a reader connection while the source connects, binds and sends its first page.
            let database = self.store.database
            let loadLog = log
            let knownRecords = Task {
                let known = try await database.read { db in try KnownRecords.load(db, source: sourceName) }
                loadLog.debug("fingerprints loaded", metadata: ["users": "\(known.count)"])
                return known
            }
            // A pipeline: while page N+1 is read from the server, page N is fingerprinted, mapped
            // and compressed on another thread, and page N-1 is written to the staging tables.
            // The reader waits only when more than `PagePipeline.depth` pages are in flight, so
            // memory stays bounded by a few pages.
            let pipeline = PagePipeline()
            let info: SourceReadInfo
            do {
                info = try await source.read(attributes: attributes) { entries in
                    let (page, total) = pages.add(entries.count)
                    tell(.readingUsers)
                    // Loaded before the first page is handed on (it overlapped the connect, the
                    // bind and the first page): what the read is compared with predates every page.
                    let known = try await knownRecords.value
                    let previous = pipeline.last
                    let task = Task.detached {
                        let prepared = PreparedPage(
                            records: entries.map {
                                SyncEngine.stage($0, mapper: mapper, fingerprint: fingerprint, known: known, withDNs: withDNs)
                            },
                            firstSeq: Int64(total - entries.count + 1),
                            archive: try RecordArchive.encode(entries),
                            links: linksFromUsers ? GroupMapper.userLinks(entries) : [])
                        try await previous?.value
                        try await staging.add(prepared.records, firstSeq: prepared.firstSeq, archive: prepared.archive,
                                              withDNs: withDNs, idAttribute: idAttribute)
                        try await staging.addLinks(prepared.links)
                    }
                    if let wait = pipeline.push(task) { try await wait.value }
                    pageLog.debug("page read", metadata: ["page": "\(page)", "entries": "\(entries.count)", "total": "\(total)"])
                }
            } catch {
                // Let the pages in flight finish before the staging tables are dropped.
                _ = try? await pipeline.last?.value
                throw error
            }
            try await pipeline.last?.value
            try await staging.finishUsers(source: settings.name, idAttribute: idAttribute, withDNs: withDNs)
            if let groupMapper {
                let groupIDAttribute = groupMapper.idAttribute
                try await source.readGroups(attributes: groupMapper.requestedAttributes) { entries in
                    // A page of big groups holds many members: their links are made and staged a
                    // few groups at a time, so that memory holds one page of entries, not also
                    // every link of it as text.
                    var start = 0
                    while start < entries.count {
                        let slice = Array(entries[start..<min(start + 50, entries.count)])
                        let mapped = groupMapper.map(slice)
                        try await staging.addGroups(mapped.groups, idAttribute: groupIDAttribute)
                        try await staging.addLinks(mapped.links)
                        _ = groupPages.add(mapped.groups.count)
                        tell(.readingGroups)
                        start += slice.count
                    }
                    try await staging.addArchive(try RecordArchive.encode(entries), count: entries.count)
                }
                log.info("groups read", metadata: ["groups": "\(groupPages.total)"])
            }
            if settings.groups != nil { try await staging.finishLinks() }
            if !settings.memberOf.isEmpty && !info.usersScopedByServer {
                guard settings.groups != nil else {
                    throw SyncConfigurationError(description: RunAdvice.memberOfNeedsGroups)
                }
                inScope = try await staging.scope(toMembersOf: settings.memberOf)
                log.info("users limited to the members of users.memberOf, from the group tree", metadata: ["users": "\(inScope!)"])
            }
        } catch {
            report.entriesRead = pages.total
            report.fail(error)
            // The read phase also writes: the records go to the staging tables as they arrive.
            // A failure there is the store's (a full disk, an I/O error, a damaged file), not the source's.
            let what = SyncFailure.isStoreFailure(error)
                ? "the store failed while the source was read (after \(pages.total) entries)"
                : "reading the source failed after \(pages.total) entries"
            report.error = "\(what); nothing was changed: \(report.error!)"
            log.error("\(report.error!)")
            finish(&report)
            await recordFailure(runId, report: report, staging: staging, keepRecords: settings.options.keepRecords, log: log)
            return report
        }
        report.entriesRead = pages.total
        if settings.groups != nil { report.groupsRead = groupPages.total }
        log.info("source read", metadata: ["entries": "\(pages.total)", "pages": "\(pages.pages)"])

        tell(.writing)
        // Plan, guard and write in one transaction; roll back unless it is to be applied.
        var plan = Planner(source: settings.name, runId: runId, now: Timestamp.now(), options: settings.options,
                           mapping: settings.mapping, idAttribute: settings.stableID)
        plan.recordCreatedIDs = settings.groups != nil
        plan.locatorIsDN = settings.locatorIsDN
        let planner = plan
        let limit = changeListLimit
        let entriesRead = inScope ?? pages.total
        let groupPlanner = settings.groups.map { GroupPlanner(source: settings.name, runId: runId, now: planner.now, tree: $0.tree) }
        let groupsRead = groupPages.total
        let pending = report
        do {
            let outcome: Outcome = try await store.database.writeWithoutTransaction { db in
                var outcome = Outcome()
                try db.inTransaction(.immediate) {
                    let activeBefore = try planner.activeUsers(db)
                    let groupsBefore = try groupPlanner?.activeGroups(db) ?? 0
                    outcome.counts = try planner.apply(db)
                    outcome.identical = try planner.identicalRecords(db)
                    outcome.groups = try groupPlanner?.apply(db)
                    let activeAfter = try planner.activeUsers(db)
                    let guardCheck = SyncGuard(options: settings.options, force: force, allowEmpty: allowEmpty)
                    outcome.stop = guardCheck.check(entriesRead: entriesRead, deactivations: outcome.counts.deactivated,
                                                    activeBefore: activeBefore, activeAfter: activeAfter,
                                                    skipped: outcome.counts.skipped)
                    if outcome.stop == nil, let groups = outcome.groups {
                        outcome.stop = guardCheck.checkGroups(groupsRead: groupsRead, deactivations: groups.groups.deactivated,
                                                              activeBefore: groupsBefore)
                    }
                    // An applied run reports only what it skipped (the rest is in `runs show`).
                    (outcome.changes, outcome.totalChanges) = try planner.changes(db, limit: limit,
                                                                                  onlySkips: !dryRun && outcome.stop == nil)
                    if outcome.stop != nil || dryRun { return .rollback }
                    var applied = pending
                    applied.status = .applied
                    applied.users = outcome.counts
                    applied.identicalRecords = outcome.identical
                    applied.groups = outcome.groups?.groups
                    applied.memberships = outcome.groups?.memberships
                    try UserStore.finishRun(db, runId, report: applied, at: Timestamp.now(), keepRecords: settings.options.keepRecords)
                    try SyncEngine.holdBeforeCommitForTests()
                    return .commit
                }
                return outcome
            }
            report.users = outcome.counts
            report.identicalRecords = outcome.identical
            if let groups = outcome.groups {
                report.groups = groups.groups
                report.memberships = groups.memberships
                report.cycles = groups.cycles
                report.unresolvedMembers = groups.unresolved
                if !groups.cycles.isEmpty {
                    log.warning("group nesting has cycles (the run goes on; each group in a cycle counts as its own ancestor)",
                                metadata: ["groups": "\(groups.cycles.joined(separator: ", "))"])
                }
                if groups.unresolved > 0 {
                    log.notice("group members that point outside the users and groups read, or to missing entries",
                               metadata: ["count": "\(groups.unresolved)", "examples": "\(groups.unresolvedSamples.joined(separator: "; "))"])
                }
            }
            report.changes = outcome.changes
            report.totalChanges = outcome.totalChanges
            if let stop = outcome.stop {
                report.status = .stopped
                report.error = stop.message(for: settings)
                report.errorKind = .guardStop
                log.warning("stopped by the guard: \(report.error!)")
            } else if dryRun {
                report.status = .planned
            } else {
                report.status = .applied
            }
            if outcome.stop == nil && outcome.counts.skipped > 0 {
                log.warning("\(RunAdvice.skipped(runId: runId))",
                            metadata: ["skipped": "\(outcome.counts.skipped)", "read": "\(entriesRead)"])
            }
        } catch {
            report.status = .failed
            report.fail(error)
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
            "reactivated": "\(u.reactivated)", "unchanged": "\(u.unchanged)", "skipped": "\(u.skipped)", "identicalRecords": "\(report.identicalRecords)",
            "seconds": "\(String(format: "%.3f", report.durationSeconds))",
        ])
        return report
    }

    /// Marks a failed run failed. When that fails too (a full disk or an I/O error: keeping the
    /// records read needs room), the staging tables are dropped, which frees what space it can,
    /// and the run is marked failed without its records on a connection of its own (the
    /// writer's may hold temporary files that cannot grow); only when even that fails does its row
    /// stay `running`, which `status` calls stale and the next run marks failed.
    func recordFailure(_ runId: Int64, report: SyncReport, staging: Staging, keepRecords: Int, log: Logger) async {
        do {
            try await store.finishRun(runId, report: report, at: Timestamp.now(), keepRecords: keepRecords)
        } catch {
            await staging.drop()
            do {
                try store.finishRunOnOwnConnection(runId, report: report, at: Timestamp.now())
                log.warning("the failed run's records were not kept: \(SyncFailure(error).message)")
            } catch {
                log.error("cannot record the end of the run (it stays 'running' until the next run): \(SyncFailure(error).message)")
            }
        }
    }

    /// One record as the staging table takes it: only its identity when it is exactly what the
    /// user's row was last written from, else mapped in full.
    static func stage(_ entry: LDAPEntry, mapper: Mapper, fingerprint: RecordFingerprint, known: KnownRecords,
                      withDNs: Bool) -> StagedRecord {
        let print = fingerprint(entry)
        func mapped(_ idHash: UInt64?) -> StagedRecord {
            let user = mapper.map(entry)
            return .mapped(user, fingerprint: print, idHash: idHash, attributes: user.attributesJSON,
                           dnNorm: withDNs ? Staging.normalize(entry.dn) : nil)
        }
        guard let id = Mapper.stableID(of: entry, attribute: mapper.idAttribute) else {
            return mapped(nil)
        }
        let idHash = RecordFingerprint.idHash(id)
        if let userId = known.unchangedUser(idHash: idHash, fingerprint: print) {
            return .identical(externalId: id, userId: userId, fingerprint: print,
                              dnNorm: withDNs ? Staging.normalize(entry.dn) : nil)
        }
        return mapped(idHash)
    }

    struct Outcome: Sendable {
        var counts = SyncReport.Counts()
        var identical = 0
        var groups: GroupPlanner.Outcome?
        var changes: [PlannedChange] = []
        var totalChanges = 0
        var stop: GuardStop?
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

/// Where a run is, for a progress line.
public struct SyncProgress: Sendable {
    public enum Phase: String, Sendable {
        case connecting
        case readingUsers = "reading users"
        case readingGroups = "reading groups"
        case writing = "planning and writing"
    }

    public var source: String
    public var phase: Phase
    /// Users' records read so far, and their pages.
    public var entries: Int
    public var pages: Int
    public var groups: Int
    /// Seconds since the run began.
    public var elapsed: Double
}

/// One page, mapped and compressed, waiting to be staged.
struct PreparedPage: Sendable {
    let records: [StagedRecord]
    /// The place in the read of the page's first record (1-based).
    let firstSeq: Int64
    let archive: [UInt8]
    let links: [GroupMapper.Link]
}

/// The pages in flight between the reader and the staging tables, oldest first. Each page's
/// task waits for the one before it, so pages are staged in the order read.
final class PagePipeline: @unchecked Sendable {
    /// Pages in flight before the reader waits.
    static let depth = 3
    private let lock = NSLock()
    private var tasks: [Task<Void, any Error>] = []

    /// The newest page's task.
    var last: Task<Void, any Error>? {
        lock.lock()
        defer { lock.unlock() }
        return tasks.last
    }

    /// Adds a page's task; returns the oldest one for the reader to wait for when too many are in flight.
    func push(_ task: Task<Void, any Error>) -> Task<Void, any Error>? {
        lock.lock()
        defer { lock.unlock() }
        tasks.append(task)
        return tasks.count > PagePipeline.depth ? tasks.removeFirst() : nil
    }
}

/// A setting that cannot work against this source, found while running.
struct SyncConfigurationError: Error, CustomStringConvertible {
    let description: String
}

/// Pages and entries read so far (the page callback is @Sendable).
final class ReadCounter: @unchecked Sendable {
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
