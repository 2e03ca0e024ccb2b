import Crypto
import Foundation

/// What decides, before the directory is asked anything, whether a run of an incremental
/// source may read only what changed: a watermark to start from, taken with the same
/// settings, and a full read recent enough. Anything in doubt reads everything, and says why.
enum IncrementalPolicy {
    /// What the watermark was taken with: a change of any of it (base, scope, filter, stable id,
    /// mapping, method) means the users stored were read under other rules, which only a full
    /// read can bring in line.
    static func settingsHash(_ settings: SourceSettings, _ directory: LDAPSourceSettings) -> String {
        let parts = [
            "method=\(directory.incremental.method.rawValue)",
            "base=\(directory.users.base.lowercased())",
            "scope=\(directory.users.scope.rawValue)",
            "filter=\(directory.users.filter)",
            "memberOf=\(directory.users.memberOf.joined(separator: "|"))",
            "id=\(settings.stableID.lowercased())",
        ] + mappingParts(settings.mapping) + optionParts(settings.options) + groupParts(settings.groups, directory.groups)
        let digest = SHA256.hash(data: Data(parts.joined(separator: "\n").utf8))
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The mapping in a fixed order: its rules are dictionaries, whose order changes from one
    /// process to the next (Swift seeds its hashing per process), and the hash must not.
    static func mappingParts(_ mapping: Mapping) -> [String] {
        mapping.rules.sorted { $0.key.rawValue < $1.key.rawValue }.map { "field.\($0.key.rawValue)=\(String(reflecting: $0.value))" }
            + mapping.attributes.sorted { $0.key < $1.key }.map { "attribute.\($0.key)=\(String(reflecting: $0.value))" }
    }

    /// The group search and mapping (none when the source reads no groups): another group base,
    /// filter or rule means other groups, which only a full read brings in line.
    static func groupParts(_ mapping: GroupMapping?, _ search: GroupSearch?) -> [String] {
        guard let mapping, let search else { return [] }
        return ["groups.base=\(search.base.lowercased())", "groups.scope=\(search.scope.rawValue)",
                "groups.filter=\(search.effectiveFilter(mapping.membership))", "groups.id=\(mapping.idAttribute?.lowercased() ?? "")",
                "groups.name=\(mapping.nameAttribute.lowercased())", "groups.lowercase=\(mapping.lowercase)",
                "groups.include=\(mapping.include ?? "")", "groups.exclude=\(mapping.exclude ?? "")",
                "groups.tree=\(mapping.tree)", "groups.membership=\(mapping.membership.rawValue)"]
    }

    /// The options that decide what a record becomes (not the guard's thresholds, nor how many
    /// runs keep their records).
    static func optionParts(_ o: SyncOptions) -> [String] {
        ["create=\(o.createUsers)", "update=\(o.updateUsers)", "deactivateMissing=\(o.deactivateMissing)",
         "reactivate=\(o.reactivateReturning)", "lowerNames=\(o.lowercaseUsernames)", "lowerEmails=\(o.lowercaseEmails)",
         "required=\(o.requiredFields.joined(separator: ","))", "adopt=\(String(reflecting: o.adoptExistingBy))",
         "uacBit=\(o.disabledUserAccountControlBit)", "disabledWhen=\(String(reflecting: o.disabledWhenValue))"]
    }

    /// Why this run must read everything, whatever the server offers; nil when a delta may be tried.
    static func fullReason(_ settings: SourceSettings, _ directory: LDAPSourceSettings, stored: Watermark?,
                           forceFull: Bool, now: Date) -> String? {
        if forceFull { return "--full was given" }
        if let groups = settings.groups, groups.membership == .memberUid || groups.membership == .memberOf {
            return "groups.membership \(groups.membership.rawValue) links members by "
                + (groups.membership == .memberUid ? "username" : "the members' memberOf, which changes without changing their entries")
                + ": a delta cannot tell which groups a change touches; only member and uniqueMember groups are read incrementally"
        }
        if !directory.users.memberOf.isEmpty || directory.users.filter.lowercased().contains("memberof") {
            return "the users are chosen by group membership (users.memberOf or memberOf in the filter), which changes "
                + "without changing the user's entry: a delta could miss a user added to or removed from a group"
        }
        guard let stored else { return "no watermark yet: the first incremental run reads everything" }
        if stored.settingsHash != settingsHash(settings, directory) {
            return "the source's base, scope, filter, idAttribute or mapping changed since the watermark was taken"
        }
        if let last = Timestamp.date(stored.lastFullAt) {
            let age = now.timeIntervalSince(last)
            let every = Double(directory.incremental.fullEvery.components.seconds)
            if age >= every {
                return "the last full read was \(Self.duration(age)) ago (incremental.fullEvery: \(Self.duration(every)))"
            }
        } else {
            return "the watermark's time of the last full read cannot be read"
        }
        return nil
    }

    /// A duration as an administrator writes it: 90s, 15m, 25h.
    static func duration(_ seconds: Double) -> String {
        if seconds < 120 { return "\(Int(seconds))s" }
        if seconds < 2 * 3600 { return "\(Int(seconds / 60))m" }
        return "\(Int(seconds / 3600))h"
    }
}
