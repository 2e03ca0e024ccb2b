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
    /// How the source was read, for a source with `incremental` set (nil otherwise): in the
    /// JSON as `mode`, `method` and `fullReason`.
    public var read: ReadMode?
    /// The planned or applied changes (dry runs and the human report); not in the JSON.
    public var changes: [PlannedChange] = []
    /// How many changes there were in all, when `changes` holds only the first ones.
    public var totalChanges = 0

    enum CodingKeys: String, CodingKey {
        case runId, source, dryRun, status, users, entriesRead, identicalRecords, durationSeconds, error, errorKind
        case groups, memberships, groupsRead, cycles, unresolvedMembers
        case mode, method, fullReason
    }

    public init(source: String, dryRun: Bool, status: Status) {
        self.source = source
        self.dryRun = dryRun
        self.status = status
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runId = try c.decodeIfPresent(Int64.self, forKey: .runId)
        source = try c.decode(String.self, forKey: .source)
        dryRun = try c.decode(Bool.self, forKey: .dryRun)
        status = try c.decode(Status.self, forKey: .status)
        users = try c.decode(Counts.self, forKey: .users)
        entriesRead = try c.decode(Int.self, forKey: .entriesRead)
        identicalRecords = try c.decodeIfPresent(Int.self, forKey: .identicalRecords) ?? 0
        durationSeconds = try c.decode(Double.self, forKey: .durationSeconds)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        errorKind = try c.decodeIfPresent(FailureKind.self, forKey: .errorKind)
        groups = try c.decodeIfPresent(GroupCounts.self, forKey: .groups)
        memberships = try c.decodeIfPresent(MembershipCounts.self, forKey: .memberships)
        groupsRead = try c.decodeIfPresent(Int.self, forKey: .groupsRead)
        cycles = try c.decodeIfPresent([String].self, forKey: .cycles)
        unresolvedMembers = try c.decodeIfPresent(Int.self, forKey: .unresolvedMembers)
        if let mode = try c.decodeIfPresent(ReadMode.Mode.self, forKey: .mode) {
            read = ReadMode(mode: mode, method: try c.decodeIfPresent(String.self, forKey: .method),
                            reason: try c.decodeIfPresent(String.self, forKey: .fullReason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(runId, forKey: .runId)
        try c.encode(source, forKey: .source)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(status, forKey: .status)
        try c.encode(users, forKey: .users)
        try c.encode(entriesRead, forKey: .entriesRead)
        try c.encode(identicalRecords, forKey: .identicalRecords)
        try c.encode(durationSeconds, forKey: .durationSeconds)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(errorKind, forKey: .errorKind)
        try c.encodeIfPresent(groups, forKey: .groups)
        try c.encodeIfPresent(memberships, forKey: .memberships)
        try c.encodeIfPresent(groupsRead, forKey: .groupsRead)
        try c.encodeIfPresent(cycles, forKey: .cycles)
        try c.encodeIfPresent(unresolvedMembers, forKey: .unresolvedMembers)
        if let read {
            try c.encode(read.mode, forKey: .mode)
            try c.encodeIfPresent(read.method, forKey: .method)
            try c.encodeIfPresent(read.reason, forKey: .fullReason)
        }
    }

    /// Sets `error` and `errorKind` from a failure.
    mutating func fail(_ error: any Error) {
        let failure = SyncFailure(error)
        self.error = failure.message
        errorKind = failure.kind
    }
}

/// How a run of an incremental source read it.
public struct ReadMode: Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Everything the settings select was read.
        case full
        /// Only what changed since the watermark.
        case delta
    }

    public var mode: Mode
    /// `syncrepl`, `dirsync` or `usn`; nil when none could be used.
    public var method: String?
    /// Why a full read was chosen (nil for a delta).
    public var reason: String?

    public init(mode: Mode, method: String?, reason: String?) {
        self.mode = mode
        self.method = method
        self.reason = reason
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
