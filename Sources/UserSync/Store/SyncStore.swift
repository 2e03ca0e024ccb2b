import Foundation
import LDAP
import Logging

/// What the engine asks of a store during a run (internal: every store lives in this module): the seam a second store (PostgreSQL) plugs
/// into. The store owns its SQL — migrations, staging tables, the planners' set-based
/// statements, run history; the engine reads the source, maps records and decides, and never
/// touches a database.
///
/// A run goes: `lockRuns` → `beginRun` → `makeStaging` (pages staged as they are read) →
/// `plan` (one transaction that applies or rolls back) → `finishRun`, or `recordFailedRun`
/// when anything before the plan failed.
protocol SyncStore: Sendable {
    /// Waits up to `timeout` for the run lock of `source`: two runs of one source never
    /// interleave, in one process or on several machines. (SQLite's lock covers the whole store.)
    func lockRuns(source: String, timeout: Duration) async throws -> any RunLease

    /// Whether a run of `source` that has ended (not one left `running`) started at `time` or later.
    func hasEndedRun(source: String, startedSince time: String) async throws -> Bool

    /// Records a run as started; a run left `running` by a killed process is marked failed.
    func beginRun(source: String, dryRun: Bool, at time: String) async throws -> Int64

    /// The fingerprints of the source's users, to recognise records that did not change.
    /// `snapshotTaken` is called once what they are read from is fixed (the read transaction's
    /// first statement), before the rows are loaded.
    func knownRecords(source: String, snapshotTaken: @escaping @Sendable () -> Void) async throws -> KnownRecords

    /// Empty staging tables for one run's records, on the run's own connection (the lease's,
    /// where the store has one per run).
    func makeStaging(for lease: any RunLease) async throws -> any RunStaging

    /// Plans the run from its staged records in one transaction: applies the changes, asks
    /// `decide` whether to keep them (the guard, a dry run), and commits (recording the run as
    /// `decide` reported it) or rolls back.
    func plan(_ request: PlanRequest, staging: any RunStaging,
              decide: @escaping @Sendable (PlanFigures) -> PlanDecision) async throws -> PlanOutcome

    /// Records how a run that was not applied ended (planned, stopped, failed after the plan),
    /// with the records staged (on `staging`'s connection) unless it is a dry run.
    func finishRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int, staging: (any RunStaging)?) async throws

    /// Records a run that failed before its plan, its records kept if there is room: returns
    /// why they had to be dropped (a full disk), nil when they were kept; throws when the run
    /// could not be recorded at all (it stays `running` until the next run marks it failed).
    func recordFailedRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int,
                         staging: any RunStaging) async throws -> (any Error)?

    /// The source's incremental watermark, if it has one.
    func watermark(source: String) async throws -> Watermark?

    /// Logs the statements of the runs that take at least `threshold` seconds (nil: stop).
    func traceSlowStatements(_ logger: Logger?, threshold: Double) async
}

/// The run lock, held until `release` (or the process ends).
protocol RunLease: Sendable {
    func release()
}

/// One run's staged records: users, groups, membership links and the compressed pages, in
/// tables of the store that only this run sees.
protocol RunStaging: Sendable {
    /// Adds one page of user records, numbered from `firstSeq` in the order read.
    func add(_ records: [StagedRecord], firstSeq: Int64, archive: ArchiveChunk, withDNs: Bool, idAttribute: String) async throws
    /// After the last page of users: fails on a stable id seen twice, and prepares the plan
    /// (`stageIdentical`: see `StagingTables.stageIdenticalRecords`). Returns whether the records
    /// not skipped give distinct usernames (`PlanRequest.usernamesDistinct`).
    func finishUsers(source: String, idAttribute: String, stageIdentical: Bool, fingerprintRows: Int?) async throws -> Bool
    func addGroups(_ groups: [GroupMapper.StagedGroup], idAttribute: String) async throws
    func addLinks(_ links: [GroupMapper.Link]) async throws
    /// Adds members resolved as they were read (`MemberIndex`).
    func addMembers(_ members: [GroupMapper.Member]) async throws
    /// The identical records' link keys with their user ids (after the last page of users).
    func identicalLinkKeys() async throws -> MemberIndex
    /// Adds the kept copy of a page of group records.
    func addArchive(_ archive: ArchiveChunk, count: Int) async throws
    /// After the last page of groups.
    func finishLinks() async throws
    /// Keeps only the users who are members (directly or nested) of these groups; returns how many remain.
    func scope(toMembersOf memberOf: [String]) async throws -> Int
    /// Adds stable ids to one of a delta read's id lists (`staged_gone`, `staged_present`).
    func addIDs(_ ids: [String], to list: DeltaList) async throws
    /// Drops the staging tables (what they hold is gone).
    func drop() async
    /// Runs statements both stores share on the staging tables' connection, outside the plan.
    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
}

/// The id lists of a delta read, as staging tables.
enum DeltaList: String, Sendable {
    case gone = "staged_gone"
    case present = "staged_present"
}

/// What a delta read says of the users it did not send.
enum DeltaScope: Sendable, Equatable {
    /// Only those in `staged_gone` are gone (a delete phase, DirSync, USN with tombstones).
    case listedGone
    /// Every user not in `staged_present` is gone, as after a full read (a present phase).
    case listedPresent
}

/// What a plan needs beyond the staged records.
struct PlanRequest: Sendable {
    var source: String
    var runId: Int64
    var now: String
    var options: SyncOptions
    var mapping: Mapping
    var stableID: String
    /// The records' locators are DNs, kept in `users.dn`.
    var locatorIsDN: Bool
    /// Groups were read: plan them too, following nesting when `groupTree`.
    var groups: Bool
    var groupTree: Bool
    /// How many changes of each kind to return.
    var changeListLimit: Int
    var dryRun: Bool
    /// A delta read (only changed records staged) and how it names the users it did not
    /// send; nil for a full read.
    var delta: DeltaScope? = nil
    /// The watermark to write if the plan is applied (in its transaction).
    var watermark: Watermark? = nil
    /// The staged records not skipped give distinct usernames (a unique index took them), so
    /// the planner need not look for two records giving one name.
    var usernamesDistinct = false
    /// The group read resolved every member naming an identical user (`MemberIndex`, complete):
    /// the links staged name none, and the plan resolves them against the staged records only.
    var membersResolvedAsRead = false
    /// `PageReader.Result`'s figures for `Planner.noneMissing`: identical records read, how many
    /// of their rows were active, and the store's fingerprints, when they were loaded.
    var identicalRead: Int? = nil
    var identicalActive: Int? = nil
    var fingerprintRows: Int? = nil
}

/// The figures the guard weighs, once the plan is applied (not yet committed).
struct PlanFigures: Sendable {
    var activeBefore = 0
    var activeAfter = 0
    var groupsBefore = 0
    var counts = SyncReport.Counts()
    var identical = 0
    var groups: GroupOutcome?
}

/// Whether to keep a plan: `applied` is the report to record with the changes (nil rolls back).
struct PlanDecision: Sendable {
    var stop: GuardStop?
    var applied: SyncReport?

    init(stop: GuardStop?, applied: SyncReport?) {
        self.stop = stop
        self.applied = applied
    }
}

/// What a plan did (or would have done).
struct PlanOutcome: Sendable {
    var figures = PlanFigures()
    var stop: GuardStop?
    var committed = false
    /// The first changes of each kind (only skips once applied), and how many there were.
    var changes: [PlannedChange] = []
    var totalChanges = 0
}

/// What the group plan did.
struct GroupOutcome: Sendable {
    var groups = GroupCounts()
    var memberships = MembershipCounts()
    var cycles: [String] = []
    var unresolved = 0
    var unresolvedSamples: [String] = []
}
