import Foundation
import LDAP
import Logging

/// Runs syncs: source → mapper → staging → planner → guard → store, and records each run.
///
/// A run reads the source completely before it writes anything; the changes are written in one
/// transaction that the guard can still roll back; a failure or a kill at any point leaves the
/// users exactly as they were. Runs on one store never interleave (the store's run lock).
///
/// `run` is three steps: a `RunSession` (the lock, the run's row, the one way out on failure),
/// a `PageReader` (every page of the source into the store's staging tables) and the plan
/// (`SyncStore.plan`, with the guard deciding inside its transaction).
public struct SyncEngine: Sendable {
    let store: any SyncStore
    public var logger: Logger
    /// How long a run waits for another run on the same store to finish.
    public var lockTimeout: Duration
    /// How many changes of each kind a report lists (the counts are always complete).
    public var changeListLimit: Int
    /// Told of each page read and each phase (a terminal's progress line); nil for none.
    public var progress: (@Sendable (SyncProgress) -> Void)?

    public init(store: UserStore, logger: Logger = Logger(label: "usersync"), lockTimeout: Duration = .seconds(30),
                changeListLimit: Int = 200) {
        self.store = store.backend
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.changeListLimit = changeListLimit
    }

    /// Syncs one source. Never throws: the report says what happened, failures included.
    /// `recordSource` replaces the source the settings describe (tests, previews). `force`
    /// overrides the guard's thresholds (maxDeactivations, maxSkipped); `allowEmpty` lets an
    /// empty read through: each must be given on its own.
    /// `full` reads everything even when the source reads incrementally (`sync --full`).
    public func run(_ settings: SourceSettings, from recordSource: (any RecordSource)? = nil,
                    dryRun: Bool = false, force: Bool = false, allowEmpty: Bool = false, full: Bool = false) async -> SyncReport {
        await perform(settings, from: recordSource, slot: nil, dryRun: dryRun, force: force, allowEmpty: allowEmpty, full: full)
            ?? SyncReport(source: settings.name, dryRun: dryRun, status: .failed)
    }

    /// Runs one slot of a schedule (`usersync serve`): nil when the slot has already been run
    /// (a run of the source that ended started at or after `slot`), by another node sharing the
    /// store, whose run this node waited for on the run lock. So several nodes run each slot
    /// once, whichever takes the lock first; a node that died mid-run leaves no ended run, and
    /// the next node to take the lock runs the slot itself.
    public func run(_ settings: SourceSettings, slot: Date) async -> SyncReport? {
        await perform(settings, from: nil, slot: slot, dryRun: false, force: false, allowEmpty: false)
    }

    func perform(_ settings: SourceSettings, from recordSource: (any RecordSource)?, slot: Date?,
                 dryRun: Bool, force: Bool, allowEmpty: Bool, full: Bool = false) async -> SyncReport? {
        var session = RunSession(store: store, settings: settings, dryRun: dryRun, logger: logger)
        guard let lease = await session.begin(lockTimeout: lockTimeout, slot: slot) else {
            return session.alreadyRun ? nil : session.report
        }
        defer { lease.release() }
        let log = session.log
        let staging: any RunStaging
        do {
            staging = try await store.makeStaging(for: lease)
        } catch {
            return await session.failBeforePlan(error, entriesRead: 0, staging: nil)
        }
        defer { Task { await staging.drop() } }
        session.staging = staging
        if log.logLevel <= .debug { await store.traceSlowStatements(log, threshold: 0.01) }
        defer { if log.logLevel <= .debug { Task { await store.traceSlowStatements(nil, threshold: 0) } } }

        var reader = PageReader(store: store, staging: staging, settings: settings, log: log, progress: progress,
                                started: session.clock)
        let read: PageReader.Result
        var incremental: IncrementalLDAPRead?
        var outcome: IncrementalOutcome?
        do {
            var source = recordSource ?? settings.recordSource(logger: log)
            if recordSource == nil, case .ldap(let directory) = settings.kind, directory.incremental.method != .off,
               let ldap = source as? LDAPSource {
                let stored = try await store.watermark(source: settings.name)
                let reason = IncrementalPolicy.fullReason(settings, directory, stored: stored, forceFull: full, now: Date())
                incremental = IncrementalLDAPRead(source: ldap, stored: reason == nil ? stored : nil, fullReason: reason,
                                                  settingsHash: IncrementalPolicy.settingsHash(settings, directory))
                source = incremental!
                // A delta is expected (the server may still refuse it, and the read is then full
                // and compares every record: slower, never different).
                reader.loadKnownRecords = reason != nil || stored == nil
            }
            read = try await reader.read(source)
            if let incremental {
                outcome = incremental.box.outcome
                session.report.read = outcome?.read
                if let outcome, outcome.read.mode == .delta {
                    try await staging.addIDs(outcome.gone, to: .gone)
                    if let present = outcome.present { try await staging.addIDs(present, to: .present) }
                    try await staging.addLinks(outcome.anchors)
                }
            }
        } catch {
            session.report.read = incremental?.box.outcome?.read
            return await session.failBeforePlan(error, entriesRead: reader.entriesRead, staging: staging)
        }
        if let read = session.report.read {
            log.info("read \(read.mode.rawValue)\(read.method.map { " by \($0)" } ?? "")",
                     metadata: read.reason.map { ["why": "\($0)"] } ?? [:])
        }
        session.report.entriesRead = read.entries
        if settings.groups != nil { session.report.groupsRead = read.groups }
        log.info("source read", metadata: ["entries": "\(read.entries)", "pages": "\(read.pages)"])

        reader.tell(.writing)
        await plan(&session, staging: staging, read: read, force: force, allowEmpty: allowEmpty, incremental: outcome)
        return await session.finish()
    }

    /// Plans, guards and writes in one transaction of the store, rolled back unless it is to be
    /// applied, and puts what happened in the session's report.
    func plan(_ session: inout RunSession, staging: any RunStaging, read: PageReader.Result, force: Bool, allowEmpty: Bool,
              incremental: IncrementalOutcome? = nil) async {
        let settings = session.settings
        let log = session.log
        var planned = PlanRequest(source: settings.name, runId: session.runId, now: Timestamp.now(), options: settings.options,
                                  mapping: settings.mapping, stableID: settings.stableID, locatorIsDN: settings.locatorIsDN,
                                  groups: settings.groups != nil, groupTree: settings.groups?.tree ?? false,
                                  changeListLimit: changeListLimit, dryRun: session.dryRun)
        planned.delta = incremental?.read.mode == .delta ? incremental?.scope : nil
        planned.watermark = incremental?.watermark
        planned.usernamesDistinct = read.usernamesDistinct
        planned.membersResolvedAsRead = read.membersResolvedAsRead
        (planned.identicalRead, planned.identicalActive, planned.fingerprintRows) = (read.identicalRead, read.identicalActive, read.fingerprintRows)
        let request = planned
        let isDelta = request.delta != nil
        let pending = session.report
        let guardCheck = SyncGuard(options: settings.options, force: force, allowEmpty: allowEmpty)
        let entriesRead = read.inScope ?? read.entries
        let outcome: PlanOutcome
        do {
            outcome = try await store.plan(request, staging: staging) { figures in
                var stop = guardCheck.check(entriesRead: entriesRead, deactivations: figures.counts.deactivated,
                                            activeBefore: figures.activeBefore, activeAfter: figures.activeAfter,
                                            skipped: figures.counts.skipped, delta: isDelta)
                if stop == nil, let groups = figures.groups {
                    stop = guardCheck.checkGroups(groupsRead: read.groups, deactivations: groups.groups.deactivated,
                                                  activeBefore: figures.groupsBefore, delta: isDelta)
                }
                guard stop == nil, !request.dryRun else { return PlanDecision(stop: stop, applied: nil) }
                var applied = pending
                applied.status = .applied
                applied.users = figures.counts
                applied.identicalRecords = figures.identical
                applied.groups = figures.groups?.groups
                applied.memberships = figures.groups?.memberships
                return PlanDecision(stop: nil, applied: applied)
            }
        } catch {
            session.report.status = .failed
            session.report.fail(error)
            session.report.error = "writing the changes failed; nothing was changed: \(session.report.error!)"
            log.error("\(session.report.error!)")
            return
        }
        var report = session.report
        report.users = outcome.figures.counts
        report.identicalRecords = outcome.figures.identical
        if let groups = outcome.figures.groups {
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
        } else {
            report.status = session.dryRun ? .planned : .applied
        }
        if outcome.stop == nil && outcome.figures.counts.skipped > 0 {
            log.warning("\(RunAdvice.skipped(runId: session.runId))",
                        metadata: ["skipped": "\(outcome.figures.counts.skipped)", "read": "\(entriesRead)"])
        }
        session.report = report
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

/// A setting that cannot work against this source, found while running.
struct SyncConfigurationError: Error, CustomStringConvertible {
    let description: String
}

/// ISO 8601 UTC times, as the store keeps them.
enum Timestamp {
    static func now() -> String {
        text(Date())
    }

    /// A time as the store keeps it (ISO 8601, UTC, with fractions: texts sort as times).
    static func text(_ date: Date) -> String {
        date.ISO8601Format(.init(includingFractionalSeconds: true))
    }
}
