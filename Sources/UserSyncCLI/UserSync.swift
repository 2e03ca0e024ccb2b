import Foundation
import ArgumentParser

struct UserSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usersync",
        abstract: "Keep an application's user database in step with LDAP and Active Directory.",
        discussion: """
        Start by checking that usersync can reach and bind to the directory:
          usersync test-bind -H ldaps://dc1.corp.example.com \\
            -D svc-usersync@corp.example.com -y /etc/usersync/corp.pw \\
            -b OU=Staff,DC=corp,DC=example,DC=com
        Then write the configuration file (examples/ in the source tree) and:
          usersync mapping init --source corp     # a starter mapping
          usersync mapping check                  # problems, by line
          usersync mapping preview --source corp  # a few mapped users
          usersync sync --dry-run                 # the plan, unwritten
          usersync sync                           # apply; schedule it, or:
          usersync serve                          # each source on its schedule
          usersync status                         # last and next run of each source
          usersync runs | users | groups tree     # history and store

        Exit codes:
        \(ExitStatus.table)
        """,
        version: "0.1.0",
        subcommands: [SyncCommand.self, PushCommand.self, ServeCommand.self, TargetsCommand.self, StatusCommand.self, RunsCommand.self, UsersCommand.self, GroupsCommand.self, StoreCommand.self,
                      TestBind.self, MappingCommand.self]
    )

    /// Runs the command named on the command line. A `CommandFailure` prints its message and
    /// ends with its exit status; everything else is swift-argument-parser's to report. With
    /// `--json`, every failure also prints one JSON error object on standard output (a command
    /// that printed its own report ends with a bare exit code, and nothing more is printed).
    static func main() async {
        var json = CommandLine.arguments.dropFirst().contains("--json")
        do {
            var command = try parseAsRoot()
            json = (command as? JSONReporting)?.output.json ?? false
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            if json { Output.printJSON(JSONFailure(failure.status, message: failure.message)) }
            FileHandle.standardError.write(Data("error: \(failure.message)\n".utf8))
            Foundation.exit(failure.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if json && code != .success && !(error is ExitCode) {
                let status = code == .validationFailure ? ExitStatus.usage : ExitStatus(rawValue: code.rawValue) ?? .failure
                Output.printJSON(JSONFailure(status, message: fullMessage(for: error)))
            }
            exit(withError: error)
        }
    }
}
