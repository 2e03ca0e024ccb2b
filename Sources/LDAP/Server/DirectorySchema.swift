/// The attribute types a server knows (RFC 4512 section 4.2: the `attributeTypes` of its
/// subschema subentry), to check a mapping's attribute names before a sync meets them.
public struct DirectorySchema: Sendable {
    /// Every name of every attribute type, lowercased (`cn` and `commonname` alike).
    public let attributeNames: Set<String>
    /// The names as the server spells them (first name of each type), for suggestions.
    public let canonicalNames: [String]

    public init(attributeTypes: [String]) {
        var names: Set<String> = []
        var canonical: [String] = []
        for definition in attributeTypes {
            let typeNames = DirectorySchema.names(in: definition)
            if let first = typeNames.first { canonical.append(first) }
            for name in typeNames { names.insert(name.lowercased()) }
        }
        attributeNames = names
        canonicalNames = canonical
    }

    /// Whether `name` (an attribute description, options such as `;binary` ignored) is known.
    public func knows(_ name: String) -> Bool {
        let type = name.split(separator: ";", maxSplits: 1).first.map(String.init) ?? name
        // A numeric OID is accepted as is.
        if type.first?.isNumber == true { return true }
        return attributeNames.contains(type.lowercased())
    }

    /// The NAME values of one definition: `( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )`
    /// gives ["cn", "commonName"]; `NAME 'uid'` gives ["uid"].
    static func names(in definition: String) -> [String] {
        guard let range = definition.range(of: " NAME ") else { return [] }
        var rest = definition[range.upperBound...].drop { $0 == " " }
        var names: [String] = []
        let single = rest.first == "'"
        if rest.first == "(" { rest = rest.dropFirst() }
        while true {
            rest = rest.drop { $0 == " " }
            guard rest.first == "'" else { break }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "'") else { break }
            names.append(String(rest[..<end]))
            rest = rest[rest.index(after: end)...]
            if single { break }
        }
        return names
    }
}

extension LDAPConnection {
    /// The server's schema (its subschema subentry's attribute types). Active Directory and
    /// Samba publish it at `CN=Aggregate,CN=Schema,…`, OpenLDAP at `cn=Subschema`; both are
    /// named by the root DSE's `subschemaSubentry`.
    public func schema() throws -> DirectorySchema {
        let root = try rootDSE()
        let subentry = root.entry.string("subschemaSubentry") ?? "cn=Subschema"
        let result = try search(SearchRequest(base: subentry, scope: .base, filter: "(objectClass=*)",
                                              attributes: ["attributeTypes"]))
        return DirectorySchema(attributeTypes: result.entries.first?.strings("attributeTypes") ?? [])
    }
}
