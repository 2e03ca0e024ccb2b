import LDAP

/// What a sync may do, per source.
public struct SyncOptions: Sendable, Equatable {
    public enum Limit: Sendable, Equatable {
        case absolute(Int)
        case percent(Double)
    }

    public enum AdoptBy: String, Sendable, CaseIterable { case none, username, email }

    public var createUsers = true
    public var updateUsers = true
    public var deactivateMissing = true
    public var reactivateReturning = true
    public var lowercaseUsernames = false
    public var lowercaseEmails = false
    public var requiredFields: [String] = ["username"]
    public var adoptExistingBy: AdoptBy = .none
    /// A licence cap on active users: the run stops before applying if it would exceed it.
    public var maxUsers: Int?
    /// At most this many (or this share of the source's active users) deactivated in one run.
    public var maxDeactivations: Limit = .percent(10)
    /// At most this many (or this share of the records read) skipped in one run: a run that
    /// skips more stops like the guard, since monitoring would otherwise see success while
    /// nothing syncs.
    public var maxSkipped: Limit = .percent(10)
    /// AD: a user whose userAccountControl has this bit set is disabled (2 = ACCOUNTDISABLE).
    /// Entries without userAccountControl are never disabled by it; 0 turns it off.
    public var disabledUserAccountControlBit: Int = ADValue.accountDisabledFlag
    /// Any source: a user whose `attribute` (a column, an attribute) has one of `values` (compared
    /// without regard to case) is disabled: `{ attribute: status, values: [inactive, left] }`.
    public var disabledWhenValue: DisabledValue?

    public struct DisabledValue: Sendable, Equatable {
        public var attribute: String
        public var values: [String]

        public init(attribute: String, values: [String]) {
            self.attribute = attribute
            self.values = values
        }
    }
    /// How many runs keep the records the source sent.
    public var keepRecords = 10

    public init() {}

    /// The options a type of source starts from, before its `options:` section.
    public static func defaults(for type: SourceType) -> SyncOptions {
        var options = SyncOptions()
        switch type {
        case .ldap:
            break
        case .csv, .json, .command:
            // No userAccountControl outside AD: disabled records come from disabledWhen.attribute.
            options.disabledUserAccountControlBit = 0
        case .entra:
            options.disabledUserAccountControlBit = 0
            // Graph's user.accountEnabled: false when sign-in is blocked.
            options.disabledWhenValue = DisabledValue(attribute: "accountEnabled", values: ["false"])
        case .okta:
            options.disabledUserAccountControlBit = 0
            // Okta's user status: SUSPENDED and DEPROVISIONED users cannot sign in, nor can
            // STAGED ones (created, never activated). ACTIVE, PROVISIONED (activation
            // pending), RECOVERY, LOCKED_OUT and PASSWORD_EXPIRED are still the org's users.
            options.disabledWhenValue = DisabledValue(attribute: "status", values: ["SUSPENDED", "DEPROVISIONED", "STAGED"])
        case .scim:
            options.disabledUserAccountControlBit = 0
            // SCIM's active attribute (RFC 7643 section 4.1.1): false means disabled.
            options.disabledWhenValue = DisabledValue(attribute: "active", values: ["false"])
        }
        return options
    }
}
