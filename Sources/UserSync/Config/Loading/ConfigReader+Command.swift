import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// A `type: command` source: the program, how it runs, and how its output is read.
    mutating func commandSource(_ f: [String: Node], _ path: String) -> SourceKindParts? {
        let problemsBefore = problems.count
        let shell = bool(f["shell"], "\(path).shell") ?? false
        var arguments: [String] = []
        if let node = f["command"], let given = strings(node, "\(path).command") {
            arguments = given
            if shell {
                if given.count != 1 {
                    problem(node, "\(path).command", "with shell: true, give the command line as one text (it is run by /bin/sh -c)")
                }
            } else if given.isEmpty {
                problem(node, "\(path).command", "give the program and its arguments as a list: [/usr/local/bin/export, --format, csv]")
            } else if case .scalar = node, given[0].contains(where: { $0 == " " || $0 == "\t" }) {
                // A line is not split here: quoting rules would be a shell's, and a shell is
                // what `shell: true` asks for, explicitly.
                problem(node, "\(path).command",
                        "'\(given[0])' is one text with spaces: give the program and each argument as a list ([\(given[0].split(separator: " ").map { "\($0)" }.joined(separator: ", "))]), or set shell: true to run the line with /bin/sh -c")
            }
        }
        var command = CommandSettings(arguments: arguments)
        command.shell = shell
        command.workingDirectory = string(f["workingDirectory"], "\(path).workingDirectory")
        if let node = f["environment"] {
            if let pairs = node.mapping {
                for (key, value) in pairs {
                    guard let name = key.string, !name.isEmpty, !name.contains("=") else {
                        problem(key, "\(path).environment", "a variable's name must be a plain word without '='")
                        continue
                    }
                    if let text = string(value, "\(path).environment.\(name)", allowEmpty: true) { command.environment[name] = text }
                }
            } else {
                problem(node, "\(path).environment", "expected a mapping of variables (HR_API_URL: https://…), found \(describe(node))")
            }
        }
        if let node = f["timeout"] {
            if let value = node.float, value > 0 {
                command.timeout = .milliseconds(Int(value * 1000))
            } else if let text = node.string, let duration = Schedule.parseDuration(text), duration > .zero {
                command.timeout = duration
            } else {
                problem(node, "\(path).timeout", "expected a duration (90s, 10m, 1h) or a number of seconds, found \(describe(node))")
            }
        }
        let jsonLines: Bool
        switch string(f["format"], "\(path).format") {
        case nil, "csv": jsonLines = false
        case "jsonl", "json-lines", "ndjson": jsonLines = true
        case let other?:
            problem(f["format"], "\(path).format", "'\(other)' is not one of csv, jsonl (one JSON object per line)")
            jsonLines = false
        }
        let stableID: String?
        let format: CommandSourceSettings.Format
        var groups: GroupMapping?
        if jsonLines {
            for key in ["idColumn", "delimiter", "encoding", "groupsColumn"] where f[key] != nil {
                problem(f[key], "\(path).\(key)", "'\(key)' is for format: csv; JSON lines name the stable id with idAttribute")
            }
            stableID = string(f["idAttribute"], "\(path).idAttribute") ?? "id"
            if let stableID, case .failure(let error) = JSONPath.parse(stableID) {
                problem(f["idAttribute"], "\(path).idAttribute", error.description)
            }
            format = .jsonLines
        } else {
            if f["idAttribute"] != nil {
                problem(f["idAttribute"], "\(path).idAttribute", "CSV output names the stable id with idColumn (idAttribute is for format: jsonl)")
            }
            if f["idColumn"] == nil {
                problem(f["type"], "\(path).idColumn", "missing (required): the column of each row's stable id")
            }
            stableID = string(f["idColumn"], "\(path).idColumn")
            var csv = CSVSettings(path: "output of \(command.display)", idColumn: stableID ?? "")
            csvFormat(&csv, f, path)
            groups = csv.groupsColumn.map(CSVSource.groupMapping)
            format = .csv(csv)
        }
        guard problems.count == problemsBefore, let stableID, !arguments.isEmpty else { return nil }
        return SourceKindParts(kind: .command(CommandSourceSettings(command: command, format: format)), stableID: stableID, groups: groups)
    }
}
