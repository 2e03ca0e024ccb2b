import Foundation

// What a run tells the administrator to do, in the words of usersync's commands and flags.
// The engine and the guard deal in typed outcomes (`GuardStop`, `FailureKind`); the sentences
// that name a command (`usersync test-bind`, `--allow-empty`) are written here, in one place.

extension GuardStop {
    /// The stop as the report's `error` and the log say it, naming what to check and the flag
    /// that overrides it (never for an empty read or the licence cap, which `--force` does not pass).
    public func message(for source: SourceSettings) -> String {
        let allowEmpty = "run again with --allow-empty (--force does not override an empty read)"
        switch self {
        case .emptyRead:
            switch source.kind {
            case .ldap(let directory):
                return "the source returned no entries (base '\(directory.users.base)', filter '\(directory.users.filter)'), so every user would be treated as deleted; nothing was changed. Check the base, the filter and the bind account's rights with 'usersync test-bind --source \(source.name)'; if the directory really is empty, \(allowEmpty)"
            case .scim, .json, .entra, .okta:
                return "the source returned no users (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check the URL, the filter and the account's rights with 'usersync test-bind --source \(source.name)'; if the service really lists no one, \(allowEmpty)"
            case .command:
                return "the program printed no records (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check what it prints with 'usersync test-bind --source \(source.name)'; if it really lists no one, \(allowEmpty)"
            case .csv:
                return "the source returned no rows (\(source.origin)), so every user would be treated as deleted; nothing was changed. Check that the export is complete with 'usersync test-bind --source \(source.name)'; if the file really lists no one, \(allowEmpty)"
            }
        case let .tooManyDeactivations(count, allowed, rule):
            return "\(count) users would be deactivated, more than the \(allowed) allowed (\(rule)); nothing was changed. Look at the plan with 'usersync sync --dry-run --source \(source.name)'; if it is right, run again with --force or raise options.maxDeactivations"
        case let .tooManySkipped(count, read, allowed, rule):
            return "\(count) of \(read) records would be skipped, more than the \(allowed) allowed (\(rule)); nothing was changed. The reasons are in 'usersync sync --dry-run --source \(source.name)' (a required field the mapping does not find, usernames taken); if they are right, run again with --force or raise options.maxSkipped"
        case let .overLicence(active, cap):
            return "\(active) active users would exceed maxUsers (\(cap)); nothing was changed. Raise options.maxUsers or narrow the user filter (--force does not override a licence cap)"
        case let .emptyGroupRead(activeGroups):
            return "the group search returned no groups (base '\(source.ldap?.groups?.base ?? "")'), so all \(activeGroups) groups would be deactivated; nothing was changed. Check the groups base and filter; if it is right, \(allowEmpty)"
        case let .tooManyGroupDeactivations(count, allowed, activeGroups):
            return "\(count) groups would be deactivated, more than the \(allowed) allowed by maxDeactivations (of \(activeGroups) active groups); nothing was changed. Look at the plan with --dry-run; if it is right, run again with --force"
        }
    }
}

enum RunAdvice {
    /// The warning of an applied run that skipped records.
    static func skipped(runId: Int64) -> String {
        "records skipped: those users are not synced (the reasons: 'usersync runs show \(runId)')"
    }

    /// users.memberOf against a server without the in-chain rule and no group tree to use instead.
    static let memberOfNeedsGroups = "users.memberOf: the server does not offer the in-chain matching rule (Active Directory's 1.2.840.113556.1.4.1941), so the group tree must be read: add a 'groups' section whose base and filter include those groups"
}
