import Foundation

/// Stops a run whose result looks like a fault rather than a change in the directory: an empty
/// read, more deactivations than `maxDeactivations` allows, more skipped records than
/// `maxSkipped` allows, or more active users than the `maxUsers` licence cap.
///
/// `--force` overrides the two thresholds, never the licence cap, and never the empty read:
/// a filter typo plus a `--force` meant for yesterday's large deactivation must not deactivate
/// everyone, so an empty read needs its own override (`--allow-empty`).
public struct SyncGuard: Sendable {
    public let options: SyncOptions
    public let force: Bool
    public let allowEmpty: Bool

    public init(options: SyncOptions, force: Bool, allowEmpty: Bool = false) {
        self.options = options
        self.force = force
        self.allowEmpty = allowEmpty
    }

    /// How many deactivations one run may make, given the source's active users before it.
    /// A percentage allows at least one, so that a small directory can lose a user.
    public func allowedDeactivations(activeBefore: Int) -> Int {
        SyncGuard.allowed(options.maxDeactivations, of: activeBefore)
    }

    /// How many records one run may skip, given the records it read. A percentage allows at
    /// least one, so that one bad entry in a small directory does not stop every run.
    public func allowedSkips(entriesRead: Int) -> Int {
        SyncGuard.allowed(options.maxSkipped, of: entriesRead)
    }

    /// A limit as messages quote it: `maxSkipped: 10% of 4 records read`, `maxDeactivations: 25`.
    static func rule(_ key: String, _ limit: SyncOptions.Limit, of total: Int, _ what: String) -> String {
        switch limit {
        case .absolute(let count): return "\(key): \(count)"
        case .percent(let share): return "\(key): \(share.formatted())% of \(total) \(what)"
        }
    }

    static func allowed(_ limit: SyncOptions.Limit, of total: Int) -> Int {
        switch limit {
        case .absolute(let count): return count
        case .percent(let share):
            if share <= 0 { return 0 }
            return max(1, Int((Double(total) * share / 100).rounded(.down)))
        }
    }

    /// Why the run must stop, or nil to let it through. A `delta` read sends only what changed,
    /// often nothing: it is "empty" when it would leave the source without an active user that
    /// it had, the same outcome an empty full read would have.
    public func check(entriesRead: Int, deactivations: Int, activeBefore: Int, activeAfter: Int, skipped: Int = 0,
                      delta: Bool = false) -> GuardStop? {
        let empty = delta ? (activeBefore > 0 && activeAfter == 0) : entriesRead == 0
        if !allowEmpty && empty { return .emptyRead }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if !force && deactivations > allowed {
            return .tooManyDeactivations(count: deactivations, allowed: allowed,
                                         rule: SyncGuard.rule("maxDeactivations", options.maxDeactivations, of: activeBefore, "active users"))
        }
        let allowedSkips = allowedSkips(entriesRead: entriesRead)
        if !force && skipped > allowedSkips {
            return .tooManySkipped(count: skipped, read: entriesRead, allowed: allowedSkips,
                                   rule: SyncGuard.rule("maxSkipped", options.maxSkipped, of: entriesRead, "records read"))
        }
        if let cap = options.maxUsers, activeAfter > cap { return .overLicence(active: activeAfter, cap: cap) }
        return nil
    }

    /// The same rules for groups: an empty group read while the source has groups, or more group
    /// deactivations than maxDeactivations allows (of the source's active groups).
    /// A delta reads only the groups that changed, often none: its empty read says nothing, and
    /// the deactivations it would make are weighed as a full read's are.
    public func checkGroups(groupsRead: Int, deactivations: Int, activeBefore: Int, delta: Bool = false) -> GuardStop? {
        if !allowEmpty && !delta && groupsRead == 0 && activeBefore > 0 { return .emptyGroupRead(activeGroups: activeBefore) }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if !force && deactivations > allowed {
            return .tooManyGroupDeactivations(count: deactivations, allowed: allowed, activeGroups: activeBefore)
        }
        return nil
    }
}

/// Why the guard stopped a run: the rule that did, with the figures it weighed. What to tell
/// the administrator about it is `message(for:)` (Advice/RunAdvice.swift).
public enum GuardStop: Sendable, Equatable {
    /// The source returned nothing: every user would be treated as deleted.
    case emptyRead
    /// More deactivations than `maxDeactivations` allows; `rule` quotes the limit.
    case tooManyDeactivations(count: Int, allowed: Int, rule: String)
    /// More skipped records than `maxSkipped` allows.
    case tooManySkipped(count: Int, read: Int, allowed: Int, rule: String)
    /// More active users than the `maxUsers` licence cap.
    case overLicence(active: Int, cap: Int)
    /// The group search returned nothing while the source has active groups.
    case emptyGroupRead(activeGroups: Int)
    /// More group deactivations than `maxDeactivations` allows.
    case tooManyGroupDeactivations(count: Int, allowed: Int, activeGroups: Int)
}
