import Foundation
import UserSync

/// A received record for output: text values as strings, binary values as base64.
struct RecordJSON: Encodable {
    var dn: String
    var attributes: [String: [String]]
    /// Names of the attributes whose values are base64 (binary).
    var binary: [String]?
    /// The locator with its kind, for the text form.
    let locator: RecordLocator

    enum CodingKeys: String, CodingKey { case dn, attributes, binary }

    /// `dn`: the record's locator as text (a DN, `file:line`, a REST resource), the field's
    /// name kept from when every record was a directory entry.
    init(_ entry: SourceRecord) {
        dn = entry.locator.description
        locator = entry.locator
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

    /// LDIF-like text: `name: value`, `name:: base64` for binary values, after the DN (or, for
    /// a record that has none, a comment saying where it came from).
    var ldif: String {
        var text: String
        switch locator {
        case .dn(let dn): text = "dn: \(dn)\n"
        case .row(let file, let line): text = "# \(file) line \(line)\n"
        case .resource(let resource): text = "# \(resource)\n"
        case .groupPath(let path): text = "# group \(path)\n"
        }
        for name in attributes.keys.sorted() {
            let separator = binary?.contains(name) == true ? ":: " : ": "
            for value in attributes[name]! { text += "\(name)\(separator)\(value)\n" }
        }
        return text + "\n"
    }
}
