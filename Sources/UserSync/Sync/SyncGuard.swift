import Foundation

/// Stops a run whose result looks like a fault rather than a change in the directory: an empty
/// read, more deactivations than `maxDeactivations` allows, or more active users than the
/// `maxUsers` licence cap. `--force` overrides the first two, never the licence cap.
public struct SyncGuard: Sendable {
    public let options: SyncOptions
    public let force: Bool

    public init(options: SyncOptions, force: Bool) {
        self.options = options
        self.force = force
    }

    /// How many deactivations one run may make, given the source's active users before it.
    /// A percentage allows at least one, so that a small directory can lose a user.
    public func allowedDeactivations(activeBefore: Int) -> Int {
        switch options.maxDeactivations {
        case .absolute(let count): return count
        case .percent(let share):
            if share <= 0 { return 0 }
            return max(1, Int((Double(activeBefore) * share / 100).rounded(.down)))
        }
    }

    /// Why the run must stop, or nil to let it through.
    public func check(entriesRead: Int, deactivations: Int, activeBefore: Int, activeAfter: Int,
                      source: SourceSettings) -> String? {
        if !force && entriesRead == 0 {
            switch source.type {
            case .ldap:
                return "the source returned no entries (base '\(source.users.base)', filter '\(source.users.filter)'), so every user would be treated as deleted; nothing was changed. Check the base, the filter and the bind account's rights with 'usersync test-bind --source \(source.name)'; if the directory really is empty, run again with --force"
            case .scim, .json:
                return "the source returned no users (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check the URL, the filter and the account's rights with 'usersync test-bind --source \(source.name)'; if the service really lists no one, run again with --force"
            case .csv:
                return "the source returned no rows (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check that the export is complete with 'usersync test-bind --source \(source.name)'; if the file really lists no one, run again with --force"
            }
        }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if !force && deactivations > allowed {
            let rule: String
            switch options.maxDeactivations {
            case .absolute(let count): rule = "maxDeactivations: \(count)"
            case .percent(let share): rule = "maxDeactivations: \(share.formatted())% of \(activeBefore) active users"
            }
            return "\(deactivations) users would be deactivated, more than the \(allowed) allowed (\(rule)); nothing was changed. Look at the plan with 'usersync sync --dry-run --source \(source.name)'; if it is right, run again with --force or raise options.maxDeactivations"
        }
        if let cap = options.maxUsers, activeAfter > cap {
            return "\(activeAfter) active users would exceed maxUsers (\(cap)); nothing was changed. Raise options.maxUsers or narrow the user filter (--force does not override a licence cap)"
        }
        return nil
    }

    /// The same rules for groups: an empty group read while the source has groups, or more group
    /// deactivations than maxDeactivations allows (of the source's active groups).
    public func checkGroups(groupsRead: Int, deactivations: Int, activeBefore: Int, source: SourceSettings) -> String? {
        guard !force else { return nil }
        if groupsRead == 0 && activeBefore > 0 {
            return "the group search returned no groups (base '\(source.groups?.base ?? "")'), so all \(activeBefore) groups would be deactivated; nothing was changed. Check the groups base and filter; if it is right, run again with --force"
        }
        let allowed = allowedDeactivations(activeBefore: activeBefore)
        if deactivations > allowed {
            return "\(deactivations) groups would be deactivated, more than the \(allowed) allowed by maxDeactivations (of \(activeBefore) active groups); nothing was changed. Look at the plan with --dry-run; if it is right, run again with --force"
        }
        return nil
    }
}
