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

    /// Why the run must stop, or nil to let it through.
    public func check(entriesRead: Int, deactivations: Int, activeBefore: Int, activeAfter: Int, skipped: Int = 0,
                      source: SourceSettings) -> String? {
        if !allowEmpty && entriesRead == 0 {
            switch source.type {
            case .ldap:
                return "the source returned no entries (base '\(source.users.base)', filter '\(source.users.filter)'), so every user would be treated as deleted; nothing was changed. Check the base, the filter and the bind account's rights with 'usersync test-bind --source \(source.name)'; if the directory really is empty, run again with --allow-empty (--force does not override an empty read)"
            case .scim, .json:
                return "the source returned no users (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check the URL, the filter and the account's rights with 'usersync test-bind --source \(source.name)'; if the service really lists no one, run again with --allow-empty (--force does not override an empty read)"
            case .csv:
                return "the source returned no rows (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check that the export is complete with 'usersync test-bind --source \(source.name)'; if the file really lists no one, run again with --allow-empty (--force does not override an empty read)"
            }
        }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if !force && deactivations > allowed {
            let rule = SyncGuard.rule("maxDeactivations", options.maxDeactivations, of: activeBefore, "active users")
            return "\(deactivations) users would be deactivated, more than the \(allowed) allowed (\(rule)); nothing was changed. Look at the plan with 'usersync sync --dry-run --source \(source.name)'; if it is right, run again with --force or raise options.maxDeactivations"
        }
        let allowedSkips = allowedSkips(entriesRead: entriesRead)
        if !force && skipped > allowedSkips {
            let rule = SyncGuard.rule("maxSkipped", options.maxSkipped, of: entriesRead, "records read")
            return "\(skipped) of \(entriesRead) records would be skipped, more than the \(allowedSkips) allowed (\(rule)); nothing was changed. The reasons are in 'usersync sync --dry-run --source \(source.name)' (a required field the mapping does not find, usernames taken); if they are right, run again with --force or raise options.maxSkipped"
        }
        if let cap = options.maxUsers, activeAfter > cap {
            return "\(activeAfter) active users would exceed maxUsers (\(cap)); nothing was changed. Raise options.maxUsers or narrow the user filter (--force does not override a licence cap)"
        }
        return nil
    }

    /// The same rules for groups: an empty group read while the source has groups, or more group
    /// deactivations than maxDeactivations allows (of the source's active groups).
    public func checkGroups(groupsRead: Int, deactivations: Int, activeBefore: Int, source: SourceSettings) -> String? {
        if !allowEmpty && groupsRead == 0 && activeBefore > 0 {
            return "the group search returned no groups (base '\(source.groups?.base ?? "")'), so all \(activeBefore) groups would be deactivated; nothing was changed. Check the groups base and filter; if it is right, run again with --allow-empty (--force does not override an empty read)"
        }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if !force && deactivations > allowed {
            return "\(deactivations) groups would be deactivated, more than the \(allowed) allowed by maxDeactivations (of \(activeBefore) active groups); nothing was changed. Look at the plan with --dry-run; if it is right, run again with --force"
        }
        return nil
    }
}
