/// What a server says about itself in its root DSE (RFC 4512 §5.1), plus Active Directory's
/// additions.
public struct RootDSE: Sendable {
    /// The whole entry as the server returned it.
    public let entry: LDAPEntry

    public init(entry: LDAPEntry) { self.entry = entry }

    /// The attributes read from the root DSE (operational ones must be asked for by name).
    public static let attributes = [
        "namingContexts", "defaultNamingContext", "rootDomainNamingContext", "configurationNamingContext",
        "schemaNamingContext", "subschemaSubentry", "supportedControl", "supportedExtension", "supportedFeatures",
        "supportedSASLMechanisms", "supportedLDAPVersion", "supportedCapabilities", "vendorName", "vendorVersion",
        "dnsHostName", "serverName", "domainFunctionality", "forestFunctionality", "domainControllerFunctionality",
        "isGlobalCatalogReady", "configContext", "objectClass", "highestCommittedUSN", "dsServiceName",
    ]

    public var namingContexts: [String] { entry.strings("namingContexts") }
    /// AD: the domain's DN.
    public var defaultNamingContext: String? { entry.string("defaultNamingContext") }
    public var supportedControls: [String] { entry.strings("supportedControl") }
    public var supportedExtensions: [String] { entry.strings("supportedExtension") }
    public var supportedFeatures: [String] { entry.strings("supportedFeatures") }
    public var supportedSASLMechanisms: [String] { entry.strings("supportedSASLMechanisms") }
    public var supportedCapabilities: [String] { entry.strings("supportedCapabilities") }
    public var vendorName: String? { entry.string("vendorName") }
    public var vendorVersion: String? { entry.string("vendorVersion") }
    public var dnsHostName: String? { entry.string("dnsHostName") }
    /// Active Directory: the highest update sequence number this DC has committed.
    public var highestCommittedUSN: Int64? { entry.string("highestCommittedUSN").flatMap { Int64($0) } }
    /// Active Directory: the DN of this DC's NTDS Settings object (which holds its invocationId).
    public var dsServiceName: String? { entry.string("dsServiceName") }
    public var configurationNamingContext: String? { entry.string("configurationNamingContext") }

    /// Whether the server is Active Directory (or Samba acting as an AD DC, or AD LDS).
    public var isActiveDirectory: Bool {
        supportedCapabilities.contains(ActiveDirectoryOIDs.capabilityActiveDirectory)
            || supportedCapabilities.contains(ActiveDirectoryOIDs.capabilityADLDS)
    }

    /// Whether the server is 389 Directory Server or a product built on it (Red Hat Directory
    /// Server, FreeIPA's directory): vendorName "389 Project" (Red Hat's builds: "Red Hat,
    /// Inc." with a vendorVersion of "Red Hat-Directory/…").
    public var isDirectoryServer389: Bool {
        let name = vendorName?.lowercased() ?? "", version = vendorVersion?.lowercased() ?? ""
        return name.contains("389 project") || version.hasPrefix("389-directory") || version.hasPrefix("red hat-directory")
    }

    /// The attribute that identifies an entry for ever on this server: objectGUID on Active
    /// Directory, nsUniqueId on 389 Directory Server (whose entryUUID needs a plugin that is
    /// off by default and leaves entries made before it without one), entryUUID (RFC 4530)
    /// elsewhere.
    public var stableIDAttribute: String {
        if isActiveDirectory { return "objectGUID" }
        if isDirectoryServer389 { return "nsUniqueId" }
        return "entryUUID"
    }

    /// Whether the server offers the paged results control (RFC 2696).
    /// Whether the server offers RFC 4533 content sync (OpenLDAP's syncprov, 389-DS's plugin).
    public var supportsContentSync: Bool { supportedControls.contains(ContentSync.requestOID) }
    public var supportsPagedResults: Bool { supportedControls.contains(ActiveDirectoryOIDs.pagedResultsControl) }

    /// Whether the server evaluates LDAP_MATCHING_RULE_IN_CHAIN (nested membership in one
    /// query). Servers do not list matching rules in the root DSE; every Active Directory
    /// since Windows Server 2003 SP2, and Samba's AD DC, support it.
    public var supportsInChainMatchingRule: Bool { isActiveDirectory }

    /// Whether the server offers the WhoAmI extended operation (RFC 4532).
    public var supportsWhoAmI: Bool { supportedExtensions.contains("1.3.6.1.4.1.4203.1.11.3") }

    /// Whether the server offers StartTLS (RFC 4511 §4.14.1).
    public var supportsStartTLS: Bool { supportedExtensions.contains("1.3.6.1.4.1.1466.20037") }

    /// The server's product, as best the root DSE tells: its vendorName, or what its
    /// capabilities give away.
    public var vendor: String {
        if let name = vendorName, !name.isEmpty {
            let version = vendorVersion.map { " \($0)" } ?? ""
            if isActiveDirectory, name.lowercased().contains("samba") { return "\(name)\(version) (Active Directory)" }
            return name + version
        }
        if supportedCapabilities.contains(ActiveDirectoryOIDs.capabilityADLDS) { return "Microsoft AD LDS" }
        if isActiveDirectory { return "Microsoft Active Directory" }
        let openLDAPOIDs = supportedFeatures + supportedExtensions
        if openLDAPOIDs.contains(where: { $0.hasPrefix("1.3.6.1.4.1.4203.") }), entry.has("configContext") {
            return "OpenLDAP"
        }
        if openLDAPOIDs.contains(where: { $0.hasPrefix("1.3.6.1.4.1.4203.") }) { return "OpenLDAP (probably)" }
        if openLDAPOIDs.contains(where: { $0.hasPrefix("2.16.840.1.113730.") }) { return "389 Directory Server / Netscape-derived" }
        return "unknown"
    }
}

extension LDAPConnection {
    /// Reads the root DSE.
    public func rootDSE() throws -> RootDSE {
        let result = try search(SearchRequest(base: "", scope: .base, filter: "(objectClass=*)",
                                              attributes: RootDSE.attributes))
        return RootDSE(entry: result.entries.first ?? LDAPEntry(dn: "", attributes: []))
    }
}
