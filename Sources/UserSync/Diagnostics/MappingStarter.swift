import Foundation
import LDAP

/// Writes a commented starter mapping for a source, from the directory's kind (Active
/// Directory or another LDAP server), its schema and a sample entry (`mapping init`).
public enum MappingStarter {
    struct Field {
        let key: String
        let candidates: [String]
        let lowercase: Bool
        let rdnValue: Bool
    }

    /// Usual attributes per kind of directory, in order of preference.
    static func fields(activeDirectory: Bool) -> [Field] {
        [
            Field(key: "username", candidates: activeDirectory ? ["sAMAccountName", "userPrincipalName"] : ["uid", "cn"],
                  lowercase: true, rdnValue: false),
            Field(key: "email", candidates: ["mail", "userPrincipalName"], lowercase: true, rdnValue: false),
            Field(key: "firstName", candidates: ["givenName"], lowercase: false, rdnValue: false),
            Field(key: "lastName", candidates: ["sn"], lowercase: false, rdnValue: false),
            Field(key: "displayName", candidates: ["displayName", "cn"], lowercase: false, rdnValue: false),
            Field(key: "manager", candidates: ["manager"], lowercase: false, rdnValue: true),
        ]
    }

    /// Attributes never offered as extra fields: structure, secrets, binary and bookkeeping.
    static let skipped: Set<String> = [
        "objectclass", "userpassword", "unicodepwd", "jpegphoto", "thumbnailphoto", "objectguid", "objectsid", "entryuuid", "nsuniqueid",
        "usercertificate", "usnchanged", "usncreated", "whencreated", "whenchanged", "instancetype", "objectcategory",
        "dscorepropagationdata", "pwdlastset", "badpasswordtime", "badpwdcount", "lastlogon", "lastlogontimestamp",
        "lastlogoff", "logoncount", "accountexpires", "codepage", "countrycode", "primarygroupid", "samaccounttype",
        "useraccountcontrol", "memberof", "distinguishedname", "name", "sambantpassword", "msds-supportedencryptiontypes",
    ]

    /// The starter as YAML text.
    public static func generate(_ source: SourceSettings) async throws -> String {
        let directory = try source.directory(for: "mapping init")
        let ldap = try await LDAPConnection.connect(directory.connection)
        defer { Task { await ldap.close() } }
        try await ldap.bind(try directory.credentials(), allowInsecure: directory.allowInsecure)
        let root = try await ldap.rootDSE()
        let schema = try? await ldap.schema()
        let ad = root.isActiveDirectory
        let collector = RecordCollector()
        try await LDAPSource(settings: source, directory: directory, limit: 1)
            .read(attributes: ["*", root.stableIDAttribute]) { collector.add($0) }
        let sample = collector.records.first
        return render(source: source, users: directory.users, activeDirectory: ad, ds389: root.isDirectoryServer389, sample: sample, schema: schema)
    }

    static func render(source: SourceSettings, users: UserSearch, activeDirectory ad: Bool, ds389: Bool = false, sample: SourceRecord?,
                       schema: DirectorySchema?) -> String {
        let server = ad ? "an Active Directory" : ds389 ? "a 389 Directory Server" : "an LDAP directory"
        let idLine = ad ? "objectGUID      # AD's stable id: a rename or move keeps it"
            : ds389 ? "nsUniqueId      # 389 Directory Server's stable id: a rename or move keeps it"
            : "entryUUID       # the stable id (RFC 4530): a rename or move keeps it"
        func known(_ name: String) -> Bool { schema.map { $0.attributeNames.isEmpty || $0.knows(name) } ?? true }
        func sampleText(_ name: String) -> String? {
            guard let value = sample?[name].first else { return nil }
            guard let text = value.string else { return "<\(value.bytes.count) bytes>" }
            let line = text.replacingOccurrences(of: "\n", with: " ")
            return line.count > 48 ? String(line.prefix(45)) + "…" : line
        }
        var out = """
            # Starter mapping for the source '\(source.name)', written by 'usersync mapping init'
            # from \(server)'s schema and \(sample.map { "the sample entry\n#   \($0.locator)" } ?? "no sample entry (the search found none)").
            # Put these keys under the source in the configuration file, replacing its users/mapping/options,
            # then: usersync mapping check; usersync mapping preview --source \(source.name)

            users:
              base: \(yamlScalar(users.base))
              filter: \(yamlScalar(ad ? "(&(objectClass=user)(objectCategory=person))" : users.filter))
              scope: sub
              pageSize: \(ad ? 1000 : 500)
              idAttribute: \(idLine)

            mapping:

            """
        var used: Set<String> = []
        for field in fields(activeDirectory: ad) {
            let present = field.candidates.first { sample?.has($0) == true && known($0) }
            let chosen = present ?? field.candidates.first { known($0) }
            guard let attribute = chosen else {
                out += "  # \(field.key): (none of \(field.candidates.joined(separator: ", ")) is in the schema)\n"
                continue
            }
            used.insert(attribute.lowercased())
            var options: [String] = []
            if field.lowercase { options.append("lowercase: true") }
            if field.rdnValue { options.append("rdnValue: true") }
            let rule = options.isEmpty ? attribute : "{ from: \(attribute), \(options.joined(separator: ", ")) }"
            let line = "  \(field.key): \(rule)"
            let note = sampleText(attribute).map { "sample: \($0)" } ?? "not in the sample entry"
            out += (present == nil && field.key != "username" ? "  # \(field.key): \(rule)" : line).padded(to: 52) + "# \(note)\n"
        }
        let extra = (sample?.attributes ?? []).filter {
            !used.contains($0.name.lowercased()) && !skipped.contains($0.name.lowercased()) && $0.values.allSatisfy { $0.string != nil }
        }
        if !extra.isEmpty {
            out += "  # Other attributes of the sample entry; uncomment to keep them in the user's 'attributes' JSON:\n"
            out += "  # attributes:\n"
            for attribute in extra.sorted(by: { $0.name.lowercased() < $1.name.lowercased() }) {
                let rule = attribute.values.count > 1 ? "{ from: \(attribute.name), join: \", \" }" : attribute.name
                out += "  #   \(attribute.name): \(rule)".padded(to: 52) + "# sample: \(sampleText(attribute.name) ?? "")\n"
            }
        }
        out += """

            options:
              requiredFields: [ username ]
              lowercaseUsernames: true
              deactivateMissing: true
              maxDeactivations: 10%        # the guard: a run that would deactivate more stops (--force overrides)
              maxSkipped: 10%              # a run that would skip more records (no username, taken names) stops too

            """
        if ad { out += "  disabledWhen: { userAccountControlBit: 2 }   # ACCOUNTDISABLE: disabled accounts are stored deactivated\n" }
        return out
    }

    /// A YAML plain scalar when safe, else double-quoted.
    static func yamlScalar(_ text: String) -> String {
        let risky = text.isEmpty || text.contains(": ") || text.contains(" #") || "!&*[]{}|>'\"%@`#,?-".contains(text.first!)
        guard risky else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

extension String {
    func padded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
