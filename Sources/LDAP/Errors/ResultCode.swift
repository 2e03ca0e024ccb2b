import CLDAP

/// An LDAP result code (RFC 4511 §4.1.9) or one of libldap's client-side codes (negative).
public struct LDAPResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let success = Self(LDAP_SUCCESS)
    public static let operationsError = Self(LDAP_OPERATIONS_ERROR)
    public static let protocolError = Self(LDAP_PROTOCOL_ERROR)
    public static let timeLimitExceeded = Self(LDAP_TIMELIMIT_EXCEEDED)
    public static let sizeLimitExceeded = Self(LDAP_SIZELIMIT_EXCEEDED)
    public static let authMethodNotSupported = Self(LDAP_AUTH_METHOD_NOT_SUPPORTED)
    public static let strongAuthRequired = Self(LDAP_STRONG_AUTH_REQUIRED)
    public static let referral = Self(LDAP_REFERRAL)
    public static let adminLimitExceeded = Self(LDAP_ADMINLIMIT_EXCEEDED)
    public static let unavailableCriticalExtension = Self(LDAP_UNAVAILABLE_CRITICAL_EXTENSION)
    public static let confidentialityRequired = Self(LDAP_CONFIDENTIALITY_REQUIRED)
    public static let saslBindInProgress = Self(LDAP_SASL_BIND_IN_PROGRESS)
    public static let noSuchAttribute = Self(LDAP_NO_SUCH_ATTRIBUTE)
    public static let undefinedAttributeType = Self(LDAP_UNDEFINED_TYPE)
    public static let inappropriateMatching = Self(LDAP_INAPPROPRIATE_MATCHING)
    public static let noSuchObject = Self(LDAP_NO_SUCH_OBJECT)
    public static let invalidDNSyntax = Self(LDAP_INVALID_DN_SYNTAX)
    public static let inappropriateAuthentication = Self(LDAP_INAPPROPRIATE_AUTH)
    public static let invalidCredentials = Self(LDAP_INVALID_CREDENTIALS)
    public static let insufficientAccessRights = Self(LDAP_INSUFFICIENT_ACCESS)
    public static let busy = Self(LDAP_BUSY)
    public static let unavailable = Self(LDAP_UNAVAILABLE)
    public static let unwillingToPerform = Self(LDAP_UNWILLING_TO_PERFORM)
    public static let other = Self(LDAP_OTHER)
    // libldap's client-side codes.
    public static let serverDown = Self(LDAP_SERVER_DOWN)
    public static let localError = Self(LDAP_LOCAL_ERROR)
    public static let encodingError = Self(LDAP_ENCODING_ERROR)
    public static let decodingError = Self(LDAP_DECODING_ERROR)
    public static let timeout = Self(LDAP_TIMEOUT)
    public static let authUnknown = Self(LDAP_AUTH_UNKNOWN)
    public static let filterError = Self(LDAP_FILTER_ERROR)
    public static let paramError = Self(LDAP_PARAM_ERROR)
    public static let noMemory = Self(LDAP_NO_MEMORY)
    public static let connectError = Self(LDAP_CONNECT_ERROR)
    public static let notSupported = Self(LDAP_NOT_SUPPORTED)
    public static let controlNotFound = Self(LDAP_CONTROL_NOT_FOUND)
    public static let noResultsReturned = Self(LDAP_NO_RESULTS_RETURNED)
    public static let clientLoop = Self(LDAP_CLIENT_LOOP)
    public static let referralLimitExceeded = Self(LDAP_REFERRAL_LIMIT_EXCEEDED)

    /// libldap's text for the code (`ldap_err2string`), e.g. "Invalid credentials".
    public var text: String { String(cString: ldap_err2string(rawValue)) }

    public var description: String { "\(text) (\(rawValue))" }
}
