import Foundation

/// A `type: command` source: a program of the administrator's whose standard output is the
/// export, read as CSV (`format: csv`, the default) or as JSON lines (`format: jsonl`).
public struct CommandSourceSettings: Sendable, Equatable {
    public enum Format: Sendable, Equatable {
        /// A CSV file with a header row, read as a `csv` source reads its file (`path` is the
        /// name in messages: `output of <command>`).
        case csv(CSVSettings)
        /// One JSON object per line; blank lines are skipped.
        case jsonLines
    }

    public var command: CommandSettings
    public var format: Format

    public init(command: CommandSettings, format: Format) {
        self.command = command
        self.format = format
    }
}

/// How a `type: command` source runs its program.
public struct CommandSettings: Sendable, Equatable {
    /// The program and its arguments, run without a shell; with `shell`, one command line
    /// given to `/bin/sh -c`.
    public var arguments: [String]
    public var shell = false
    public var workingDirectory: String?
    /// Added to the environment usersync runs in (which the program inherits).
    public var environment: [String: String] = [:]
    /// The longest the program may run; it is then stopped (SIGTERM, and SIGKILL 5 s later).
    public var timeout: Duration = .seconds(600)

    public init(arguments: [String]) { self.arguments = arguments }

    /// The command as messages name it.
    public var display: String { shell ? (arguments.first ?? "") : arguments.joined(separator: " ") }
}

