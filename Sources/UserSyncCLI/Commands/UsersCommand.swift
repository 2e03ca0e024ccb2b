import ArgumentParser
import Foundation
import UserSync

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "The users in the store, and one user's record and history.",
        discussion: """
          usersync users                         every user, by username
          usersync users --state deactivated     only deactivated ones
          usersync users show alice              the row, the last record the directory sent, its change history
        """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    enum State: String, ExpressibleByArgument, CaseIterable { case active, deactivated }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Users, by username.")

        @OptionGroup var file: ConfigFileOptions
        @Option(name: .customLong("state"), help: ArgumentHelp("Only users in this state: active or deactivated.", valueName: "state"))
        var state: State?
        @Option(name: .customLong("source"), help: ArgumentHelp("Only this source's users.", valueName: "name"))
        var source: String?
        @Option(name: [.customShort("n"), .customLong("limit")], help: ArgumentHelp("At most this many (0: all).", valueName: "n"))
        var limit: Int = 0
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            let users = try await store.users(state: state?.rawValue, source: source, limit: limit == 0 ? nil : limit)
            if output.json {
                Output.printJSON(users)
                return
            }
            let width = min(max(users.map(\.username.count).max() ?? 8, 8), 30)
            var text = "\(Output.pad("username", width))  state        source      email\n"
            for user in users {
                text += "\(Output.pad(user.username, width))  \(Output.pad(user.state, 11))  \(Output.pad(user.source ?? "(by hand)", 10))  \(user[.email] ?? "")\n"
            }
            text += "\(users.count) user\(users.count == 1 ? "" : "s")\n"
            Output.write(text, to: .standardOutput)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show",
                                                        abstract: "One user: the row, the last record received, and its change history.")

        @OptionGroup var file: ConfigFileOptions
        @Argument(help: ArgumentHelp("The username (or #ID).", valueName: "name"))
        var name: String
        @Option(name: [.customShort("n"), .customLong("limit")], help: ArgumentHelp("At most this many changes.", valueName: "n"))
        var limit: Int = 50
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var user: UserRecord
            var lastRecord: RecordJSON?
            var lastRecordRun: Int64?
            var history: [ChangeRecord]
            var groups: [String]
            var effectiveGroups: [String]
        }

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            guard let user = try await store.user(named: name) else {
                throw CommandFailure(status: .failure, message: "no user '\(name)' in \(configuration.store.name) ('usersync users' lists them)")
            }
            let last = try await store.lastRecord(of: user, stableIDAttribute: configuration.sources.first { $0.name == user.source }?.stableID)
            let history = try await store.history(user: user.id, limit: limit)
            if output.json {
                let groups = try await store.groups(ofUser: user.id)
                Output.printJSON(Report(user: user, lastRecord: last.map { RecordJSON($0.record) }, lastRecordRun: last?.runId, history: history,
                                        groups: groups.direct, effectiveGroups: groups.effective))
                return
            }
            var text = "user \(user.id): \(user.username) (\(user.state))\n"
            let rows: [(String, String?)] = [
                ("source", user.source ?? "(none: made by hand or by the application; usersync never changes it)"),
                ("external id", user.externalId), ("dn", user.dn),
            ] + UserField.allCases.filter { $0 != .username }.map { ($0.label, user[$0]) } + [
                ("created", user.createdAt), ("updated", user.updatedAt), ("deactivated", user.deactivatedAt),
            ]
            for (label, value) in rows { if let value { text += "  \(Output.pad(label, 13)) \(value)\n" } }
            for key in user.attributes.keys.sorted() { text += "  \(Output.pad(key, 13)) \(user.attributes[key]!)\n" }
            let groups = try await store.groups(ofUser: user.id)
            if !groups.effective.isEmpty {
                text += "groups: \(groups.direct.joined(separator: ", "))"
                let nested = Set(groups.effective).subtracting(groups.direct).sorted()
                text += nested.isEmpty ? "\n" : "; through nesting: \(nested.joined(separator: ", "))\n"
            }
            if let last {
                text += "last record received (run \(last.runId)):\n"
                text += RecordJSON(last.record).ldif.split(separator: "\n").map { "  \($0)\n" }.joined()
            } else if user.source != nil {
                text += "last record received: not kept any more (options.keepRecords)\n"
            }
            if !history.isEmpty {
                text += "history (newest first):\n"
                for change in history {
                    text += "  run \(change.runId)  \(String((change.runStartedAt ?? "").prefix(19)))  \(ChangeDescription.historyLine(change))\n"
                }
            }
            Output.write(text, to: .standardOutput)
        }
    }
}
