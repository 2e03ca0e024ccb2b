import Foundation

enum Output {
    enum Stream { case standardOutput, standardError }

    static func write(_ text: String, to stream: Stream) {
        let handle = stream == .standardOutput ? FileHandle.standardOutput : FileHandle.standardError
        handle.write(Data(text.utf8))
    }

    /// Prints a value as one pretty-printed JSON object with sorted keys.
    static func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n", to: .standardOutput)
    }

    /// `text` followed by spaces up to `width` (never cut).
    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        guard text.count < width else { return text }
        let spaces = String(repeating: " ", count: width - text.count)
        return right ? spaces + text : text + spaces
    }
}

/// A command that takes `--json`: on any failure it prints one error object on standard output
/// (`UserSyncCommand.main`), so that a script reading the output always gets JSON.
protocol JSONReporting {
    var output: OutputOptions { get }
}

extension SyncCommand: JSONReporting {}
extension StatusCommand: JSONReporting {}
extension TestBind: JSONReporting {}
extension MappingCommand.Check: JSONReporting {}
extension MappingCommand.Preview: JSONReporting {}
extension RunsCommand.List: JSONReporting {}
extension RunsCommand.Show: JSONReporting {}
extension UsersCommand.List: JSONReporting {}
extension UsersCommand.Show: JSONReporting {}
extension GroupsCommand.Tree: JSONReporting {}
extension GroupsCommand.Show: JSONReporting {}

/// The error object a `--json` command prints when it fails before it has a report of its
/// own: the fields of a failed sync report (`status`, `error`, `errorKind`) and the exit code.
struct JSONFailure: Encodable {
    var status = "failed"
    var error: String
    var errorKind: String
    var exitCode: Int32

    init(_ status: ExitStatus, message: String) {
        error = message
        errorKind = status.kind
        exitCode = status.rawValue
    }
}
