import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// A `type: csv` source.
    mutating func csvSource(_ f: [String: Node], _ path: String) -> SourceKindParts? {
        let problemsBefore = problems.count
        let http = f["url"] != nil ? httpSettings(f, path) : nil
        if f["path"] == nil && f["url"] == nil {
            problem(f["type"], "\(path).path", "missing (required): give path (a local file) or url (https://…)")
        } else if f["path"] != nil && f["url"] != nil {
            problem(f["url"], "\(path).url", "give path or url, not both")
        }
        let file = string(f["path"], "\(path).path") ?? http?.url
        let idColumn = string(f["idColumn"], "\(path).idColumn")
        var csv = CSVSettings(path: file ?? "", idColumn: idColumn ?? "")
        csv.http = http
        csvFormat(&csv, f, path)
        guard problems.count == problemsBefore, file != nil, idColumn != nil else { return nil }
        return SourceKindParts(kind: .csv(csv), stableID: csv.idColumn, groups: csv.groupsColumn.map(CSVSource.groupMapping))
    }

    /// How a CSV text is read (a `csv` source's file, a `command` source's output): delimiter,
    /// encoding and groups column.
    mutating func csvFormat(_ csv: inout CSVSettings, _ f: [String: Node], _ path: String) {
        if let node = f["delimiter"], let text = string(node, "\(path).delimiter", allowEmpty: true) {
            let named = ["tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"]
            let value = named[text.lowercased()] ?? text
            if value.unicodeScalars.count == 1, let scalar = value.unicodeScalars.first, scalar.isASCII,
               !["\"", "\r", "\n"].contains(scalar) {
                csv.delimiter = scalar
            } else {
                problem(node, "\(path).delimiter", "expected one character such as ',', ';', '|' or tab, found \(describe(node))")
            }
        }
        if let encoding = choice(f["encoding"], "\(path).encoding", CSVSettings.Encoding.self) { csv.encoding = encoding }
        if let node = f["groupsColumn"] {
            if case .scalar = node, let column = string(node, "\(path).groupsColumn") {
                csv.groupsColumn = CSVSettings.GroupsColumn(column: column)
            } else if let g = fields(node, "\(path).groupsColumn", allowed: ConfigLoader.Keys.groupsColumn, required: ["column"]),
                      let column = string(g["column"], "\(path).groupsColumn.column") {
                var groups = CSVSettings.GroupsColumn(column: column)
                if let separator = string(g["separator"], "\(path).groupsColumn.separator") { groups.separator = separator }
                if let node = g["pathSeparator"] {
                    // An empty value or null: flat group names, no tree.
                    if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" {
                        groups.pathSeparator = nil
                    } else {
                        groups.pathSeparator = string(node, "\(path).groupsColumn.pathSeparator")
                    }
                }
                if groups.pathSeparator == groups.separator {
                    problem(node, "\(path).groupsColumn", "separator and pathSeparator must differ")
                }
                csv.groupsColumn = groups
            }
        }
    }
}
