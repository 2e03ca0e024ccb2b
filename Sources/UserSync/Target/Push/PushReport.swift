import Foundation

/// What one push to one target did (or, for a dry run, would do): `usersync push --json`.
public struct PushReport: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// Every object went through.
        case applied
        /// Some objects failed; they are tried again by the next push (and quarantined after
        /// `quarantineAfter` pushes in a row).
        case partial
        /// A dry run: the requests it would send are listed; nothing was sent.
        case planned
        /// The guard stopped it (`maxDeletions`): nothing was sent.
        case stopped
        /// Nothing could be pushed (the target unreachable, credentials refused, its
        /// ServiceProviderConfig unreadable, the store failing).
        case failed
    }

    public struct Counts: Codable, Sendable, Equatable {
        public var created = 0
        public var updated = 0
        public var deactivated = 0
        public var reactivated = 0
        public var deleted = 0
        /// Found on the target (by externalId or userName) and taken over instead of created.
        public var adopted = 0
        public var unchanged = 0
    }

    /// An object whose requests failed in this push.
    public struct Failure: Codable, Sendable {
        public var objectType: String
        public var objectId: Int64
        public var name: String?
        public var error: String
        /// How many pushes in a row it failed.
        public var failures: Int
        public var quarantined: Bool
    }

    /// A request a dry run would send.
    public struct PlannedRequest: Codable, Sendable {
        public var method: String
        public var path: String
        public var body: String?
        public var object: String
    }

    public var target: String
    public var pushId: Int64?
    public var status: Status
    public var dryRun: Bool
    public var users = Counts()
    /// Groups, when the target takes them (deactivated: emptied of members).
    public var groups: Counts?
    public var membersAdded = 0
    public var membersRemoved = 0
    public var failed = 0
    public var quarantined = 0
    /// Objects left alone because they are quarantined (`--retry-quarantined` tries them).
    public var skippedQuarantined = 0
    public var requests = 0
    /// Requests kept in `push_requests` so far (their numbering).
    var requestsKept = 0
    public var failures: [Failure] = []
    public var planned: [PlannedRequest] = []
    public var error: String?
    /// The kind of the error, as exit codes and `/metrics` name it.
    public var errorKind: FailureKind?
    public var durationSeconds: Double = 0

    /// What the push could not do and why (groups on a target without PATCH, …).
    public var notes: [String] = []

    private enum CodingKeys: String, CodingKey {
        case target, pushId, status, dryRun, users, groups, membersAdded, membersRemoved, failed, quarantined, skippedQuarantined
        case requests, failures, planned, error, errorKind, durationSeconds, notes
    }

    public init(target: String, status: Status, dryRun: Bool) {
        self.target = target
        self.status = status
        self.dryRun = dryRun
    }
}
