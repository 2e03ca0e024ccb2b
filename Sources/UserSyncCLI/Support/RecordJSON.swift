import Foundation
import LDAP

/// A received record for output: text values as strings, binary values as base64.
struct RecordJSON: Encodable {
    var dn: String
    var attributes: [String: [String]]
    /// Names of the attributes whose values are base64 (binary).
    var binary: [String]?

    init(_ entry: LDAPEntry) {
        dn = entry.dn
        var attributes: [String: [String]] = [:]
        var binary: [String] = []
        for attribute in entry.attributes {
            if attribute.values.allSatisfy({ $0.string != nil }) {
                attributes[attribute.name] = attribute.values.map { $0.string! }
            } else {
                attributes[attribute.name] = attribute.values.map { Data($0.bytes).base64EncodedString() }
                binary.append(attribute.name)
            }
        }
        self.attributes = attributes
        self.binary = binary.isEmpty ? nil : binary
    }

    /// LDIF-like text: `name: value`, `name:: base64` for binary values.
    var ldif: String {
        var text = "dn: \(dn)\n"
        for name in attributes.keys.sorted() {
            let separator = binary?.contains(name) == true ? ":: " : ": "
            for value in attributes[name]! { text += "\(name)\(separator)\(value)\n" }
        }
        return text + "\n"
    }
}
