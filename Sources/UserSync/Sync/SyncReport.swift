import Foundation

/// What one sync run of one source did, as `usersync sync --json` prints it.
public struct SyncReport: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// The changes were written.
        case applied
        /// A dry run: the changes were computed and not written.
        case planned
        /// The guard stopped the run: nothing was written.
        case stopped
        /// The run failed (the source, the store, the configuration): nothing was written.
        case failed
    }

    /// Counts of users by what the run did to them. Every record read counts once (created,
    /// updated, reactivated, unchanged, skipped, or deactivated when disabled); users missing from
    /// the read add to `deactivated`.
    public struct Counts: Codable, Sendable, Equatable {
        public var created = 0
        public var updated = 0
        public var deactivated = 0
        public var reactivated = 0
        public var unchanged = 0
        public var skipped = 0

        public init() {}
    }

    /// The store's `runs.id`; nil when the run could not be recorded (store busy or unreadable).
    public var runId: Int64?
    public var source: String
    public var dryRun: Bool
    public var status: Status
    public var users = Counts()
    /// Entries the source sent.
    public var entriesRead = 0
    /// Of those, records identical to what their users' rows were last written from: recognised
    /// by their fingerprint, neither mapped nor compared field by field (they count as unchanged).
    public var identicalRecords = 0
    /// With a `groups` section: what happened to the groups and memberships.
    public var groups: GroupCounts?
    public var memberships: MembershipCounts?
    public var groupsRead: Int?
    /// Groups that are their own ancestors (reported; the run completes).
    public var cycles: [String]?
    /// Member values that point outside what was read, or to missing entries.
    public var unresolvedMembers: Int?
    public var durationSeconds = 0.0
    /// Why the run stopped or failed.
    public var error: String?
    /// What kind of failure (its raw value in the JSON: an `LDAPError.Kind` name, or
    /// `configuration`, `busy`, `store`, `guard`, `malformed`).
    public var errorKind: FailureKind?
    /// The planned or applied changes (dry runs and the human report); not in the JSON.
    public var changes: [PlannedChange] = []
    /// How many changes there were in all, when `changes` holds only the first ones.
    public var totalChanges = 0

    enum CodingKeys: String, CodingKey {
        case runId, source, dryRun, status, users, entriesRead, identicalRecords, durationSeconds, error, errorKind
        case groups, memberships, groupsRead, cycles, unresolvedMembers
    }

    public init(source: String, dryRun: Bool, status: Status) {
        self.source = source
        self.dryRun = dryRun
        self.status = status
    }

    /// Sets `error` and `errorKind` from a failure.
    mutating func fail(_ error: any Error) {
        let failure = SyncFailure(error)
        self.error = failure.message
        errorKind = failure.kind
    }
}

/// One change of a run, as recorded in `changes`.
public struct PlannedChange: Codable, Sendable, Equatable {
    public var userId: Int64
    public var username: String?
    public var action: ChangeAction
    public var field: String?
    public var oldValue: String?
    public var newValue: String?
    /// The DN (or locator) of the record behind the change.
    public var record: String?
    public var objectType = ObjectType.user
    /// For a membership: the member's username or group name.
    public var memberName: String?
    /// The `changes` row's id (0 before it is written): the order of the changes.
    public var changeId: Int64 = 0

    public init(userId: Int64, username: String?, action: ChangeAction, field: String?, oldValue: String?, newValue: String?,
                record: String?) {
        self.userId = userId
        self.username = username
        self.action = action
        self.field = field
        self.oldValue = oldValue
        self.newValue = newValue
        self.record = record
    }
}

/// What a change did, as the `changes` table and reports name it.
public enum ChangeAction: String, Codable, Sendable, CaseIterable {
    case create, update, deactivate, reactivate
    /// A user the application had (made by hand) taken over by the source.
    case adopt
    /// A record not synced (its reason in `newValue`).
    case skip
    /// A membership added or removed.
    case add, remove
}

/// What a change is about.
public enum ObjectType: String, Codable, Sendable, CaseIterable {
    case user, group, membership
}
