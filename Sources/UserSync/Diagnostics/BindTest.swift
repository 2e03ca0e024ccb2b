import Foundation
import LDAP

/// Everything `usersync test-bind` checks about a directory connection.
public struct BindTest: Sendable {
    public var connection: LDAPConnectionOptions
    public var credentials: BindCredentials
    public var allowInsecureBind: Bool
    /// A search to run after binding; nil for none.
    public var search: SearchRequest?
    public var pageSize: Int
    /// How many DNs of the search to list.
    public var listLimit: Int

    public init(connection: LDAPConnectionOptions, credentials: BindCredentials, allowInsecureBind: Bool = false,
                search: SearchRequest? = nil, pageSize: Int = 500, listLimit: Int = 10) {
        self.connection = connection
        self.credentials = credentials
        self.allowInsecureBind = allowInsecureBind
        self.search = search
        self.pageSize = pageSize
        self.listLimit = listLimit
    }

    /// Runs the checks in order (connect, bind, WhoAmI, root DSE, search) and reports how far
    /// they got. A failure ends the run and is in `report.error`; it is not thrown.
    public func run() async -> BindTestReport {
        let started = ContinuousClock.now
        var report = BindTestReport()
        report.triedURIs = connection.uris
        report.bindMethod = credentials.methodName
        do {
            let ldap = try await LDAPConnection.connect(connection)
            report.uri = await ldap.uri
            report.skippedServers = await ldap.skippedServers.map(\.description)
            report.tls = await ldap.isTLS
            if report.tls {
                report.tlsMethod = connection.startTLS ? "StartTLS" : "LDAPS"
                report.certificateVerification = await ldap.certificateVerification?.rawValue
            }
            try await ldap.bind(credentials, allowInsecure: allowInsecureBind)
            report.bound = true

            let root = try await ldap.rootDSE()
            report.vendor = root.vendor
            report.namingContexts = root.namingContexts
            report.defaultNamingContext = root.defaultNamingContext
            report.pagedResults = root.supportsPagedResults
            report.inChain = root.supportsInChainMatchingRule
            report.activeDirectory = root.isActiveDirectory
            report.saslMechanisms = root.supportedSASLMechanisms

            if root.supportsWhoAmI {
                report.boundAs = try await ldap.whoAmI()
            } else {
                report.boundAs = credentials.claimedIdentity
                report.notes.append("the server does not offer WhoAmI (RFC 4532): boundAs is the identity given, not one the server confirmed")
            }

            if let search {
                report.search = BindTestReport.Search(base: search.base, scope: search.scope.rawValue, filter: search.filter)
                var count = 0, pages = 0, references = 0
                var listed: [String] = []
                var paged = true
                for try await page in ldap.pagedSearch(search, pageSize: pageSize) {
                    pages += 1
                    count += page.entries.count
                    references += page.references.count
                    paged = paged && page.pagedByServer
                    for entry in page.entries where listed.count < listLimit { listed.append(entry.dn) }
                }
                report.count = count
                report.entries = listed
                report.search?.pages = pages
                report.search?.references = references
                report.search?.pagedByServer = paged
                if references > 0 {
                    report.notes.append("\(references) search continuation reference(s) to other servers or partitions were not followed")
                }
                if !paged {
                    report.notes.append("the server ignored the paged results control and sent the whole result at once")
                }
            }
            await ldap.close()
        } catch let error as LDAPError {
            report.error = BindTestReport.Failure(error)
        } catch {
            report.error = BindTestReport.Failure(kind: .other, message: String(describing: error))
        }
        report.durationSeconds = (ContinuousClock.now - started).secondsValue
        return report
    }
}

/// The outcome of a `BindTest`, as `test-bind --json` prints it.
public struct BindTestReport: Codable, Sendable {
    /// The URI that answered.
    public var uri: String?
    public var triedURIs: [String] = []
    /// Servers tried before `uri` that did not answer.
    public var skippedServers: [String] = []
    public var tls = false
    /// "LDAPS" or "StartTLS" when TLS is on.
    public var tlsMethod: String?
    public var certificateVerification: String?
    public var bindMethod = "anonymous"
    public var bound = false
    /// The identity the server reports (WhoAmI), e.g. `dn:cn=admin,dc=example,dc=com`.
    public var boundAs: String?
    public var vendor: String?
    public var activeDirectory: Bool?
    public var namingContexts: [String] = []
    public var defaultNamingContext: String?
    public var pagedResults: Bool?
    public var inChain: Bool?
    public var saslMechanisms: [String] = []
    public var search: Search?
    /// Entries matching the search (all pages).
    public var count: Int?
    /// The first DNs of the search.
    public var entries: [String]?
    public var notes: [String] = []
    public var durationSeconds = 0.0
    public var error: Failure?

    public init() {}

    public struct Search: Codable, Sendable {
        public var base: String
        public var scope: String
        public var filter: String
        public var pages: Int?
        public var references: Int?
        public var pagedByServer: Bool?
    }

    public struct Failure: Codable, Sendable {
        /// One of `LDAPError.Kind`'s names, or `configuration`.
        public var kind: FailureKind
        public var message: String
        public var hint: String?
        public var operation: String?
        public var resultCode: Int32?
        public var diagnosticMessage: String?
        public var matchedDN: String?
        /// AD's bind sub-code as a word (`accountLocked`) and as its hex code.
        public var adReason: String?
        public var adCode: String?

        public init(kind: FailureKind, message: String, hint: String? = nil) {
            self.kind = kind
            self.message = message
            self.hint = hint
        }

        public init(_ error: LDAPError) {
            kind = FailureKind(error.kind)
            message = error.description
            hint = error.hint
            operation = error.operation
            resultCode = error.code.rawValue
            diagnosticMessage = error.diagnosticMessage
            matchedDN = error.matchedDN
            adReason = error.adBindReason?.word
            adCode = error.adBindReason?.rawValue
        }
    }
}

extension BindCredentials {
    /// "anonymous", "simple" or "SASL <MECH>".
    public var methodName: String {
        switch self {
        case .anonymous: return "anonymous"
        case .simple: return "simple"
        case let .sasl(mechanism, _, _, _, _): return "SASL \(mechanism.uppercased())"
        }
    }

    /// The identity the caller claims, for servers without WhoAmI.
    var claimedIdentity: String {
        switch self {
        case .anonymous: return ""
        case let .simple(dn, _): return dn
        case let .sasl(_, authcid, _, _, authzid): return authzid ?? authcid ?? ""
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var secondsValue: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

extension BindTest {
    /// The bind test of a configured source: its connection, credentials and user search.
    public init(directory: LDAPSourceSettings, listLimit: Int = 10) throws(Secrets.Unavailable) {
        let credentials = try directory.credentials()
        let users = directory.users
        let search = SearchRequest(base: users.base, scope: users.scope, filter: users.filter, attributes: ["1.1"])
        self.init(connection: directory.connection, credentials: credentials, allowInsecureBind: directory.allowInsecure,
                  search: search, pageSize: users.pageSize, listLimit: listLimit)
    }
}
