/// Why Active Directory refused a bind: the hexadecimal "data" sub-code AD puts in the
/// diagnostic message of an invalidCredentials (49) result, e.g.
/// `80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v3839`.
public enum ADBindReason: String, Sendable, CaseIterable, Codable {
    case noSuchUser = "525"
    case invalidCredentials = "52e"
    case logonRestrictedHours = "530"
    case logonRestrictedWorkstation = "531"
    case passwordExpired = "532"
    case accountDisabled = "533"
    case logonTypeNotGranted = "534"
    case accountExpired = "701"
    case mustChangePassword = "773"
    case accountLocked = "775"

    /// Extracts the sub-code from an AD diagnostic message; nil when it carries none or an unknown one.
    public init?(diagnosticMessage: String) {
        guard let code = ADBindReason.subcode(in: diagnosticMessage),
              let reason = ADBindReason(rawValue: code) else { return nil }
        self = reason
    }

    /// The raw `data XXX` sub-code in a diagnostic message, lowercased (known or not).
    public static func subcode(in message: String) -> String? {
        // AD writes ", data 52e," — find "data " followed by hex digits.
        let lower = message.lowercased()
        var search = lower[...]
        while let r = search.range(of: "data ") {
            let hex = lower[r.upperBound...].prefix { $0.isHexDigit }
            if !hex.isEmpty, r.lowerBound == lower.startIndex || !lower[lower.index(before: r.lowerBound)].isLetter {
                return String(hex)
            }
            search = lower[r.upperBound...]
        }
        return nil
    }

    /// A short phrase for the reason.
    public var summary: String {
        switch self {
        case .noSuchUser: return "no such user"
        case .invalidCredentials: return "invalid credentials (wrong password)"
        case .logonRestrictedHours: return "logon not permitted at this time"
        case .logonRestrictedWorkstation: return "logon not permitted from this workstation"
        case .passwordExpired: return "password expired"
        case .accountDisabled: return "account disabled"
        case .logonTypeNotGranted: return "logon type not granted to this account"
        case .accountExpired: return "account expired"
        case .mustChangePassword: return "user must change password before first logon"
        case .accountLocked: return "account locked out"
        }
    }

    /// A stable machine-readable word for JSON output: the case name, e.g. `accountLocked`.
    public var word: String { String(describing: self) }
}
