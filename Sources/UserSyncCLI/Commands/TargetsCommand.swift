import ArgumentParser
import Foundation
import UserSync

struct TargetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "targets",
        abstract: "The targets' state: what was pushed, what fails, what is quarantined; past pushes and their requests.",
        subcommands: [Status.self, Pushes.self, Show.self],
        defaultSubcommand: Status.self
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each target's last push, how far behind the store it is, and the objects that fail or are quarantined.",
            discussion: """
            A quarantined object failed quarantineAfter pushes in a row: pushes leave it alone until 'usersync push --retry-quarantined' (fix what its error says first). Its row in the store is untouched.
              usersync targets status
              usersync targets status --target intranet --json
            """
        )

        @OptionGroup var file: ConfigFileOptions
        @Option(name: .customLong("target"), help: ArgumentHelp("One target, by name (default: all).", valueName: "name"))
        var target: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let configuration = try file.load()
            let targets = try configuration.targets(named: target.map { [$0] } ?? [])
            let store = try await file.openStore(configuration)
            var statuses: [TargetStatus] = []
            for target in targets { statuses.append(try await store.targetStatus(target.name)) }
            await store.close()
            if output.json { return Output.printJSON(statuses) }
            var text = ""
            for (target, status) in zip(targets, statuses) {
                text += "\(target.name) (scim \(target.http.url); sources \(target.sources.joined(separator: ", ")))\n"
                if let push = status.lastPush {
                    text += "  last push  #\(push.id) \(push.status)\(push.dryRun ? " (dry run)" : "") at \(push.startedAt)\(push.error.map { ": \($0)" } ?? "")\n"
                } else {
                    text += "  last push  none yet (usersync push --target \(target.name))\n"
                }
                text += "  behind     \(status.runsBehind) applied run\(status.runsBehind == 1 ? "" : "s") since the last push\n"
                for type in ["user", "group"] {
                    guard let states = status.objects[type] else { continue }
                    text += "  \(Output.pad(type + "s", 10)) " + states.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + "\n"
                }
                let quarantined = status.failing.filter { $0.quarantinedAt != nil }
                let failing = status.failing.filter { $0.quarantinedAt == nil }
                if !failing.isEmpty { text += "  failing    \(failing.count) (tried again by the next push)\n" }
                if !quarantined.isEmpty { text += "  QUARANTINED \(quarantined.count) (left alone until usersync push --retry-quarantined)\n" }
                for object in status.failing.prefix(50) {
                    let who = "\(object.objectType) \(object.name ?? "#\(object.objectId)")"
                    text += "    \(Output.pad(who, 28)) \(object.failures) failure\(object.failures == 1 ? "" : "s")\(object.quarantinedAt.map { ", quarantined since \($0)" } ?? ""): \(object.lastError ?? "")\n"
                }
            }
            Output.write(text, to: .standardOutput)
        }
    }

    struct Pushes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Past pushes, newest first.")

        @OptionGroup var file: ConfigFileOptions
        @Option(name: .customLong("target"), help: ArgumentHelp("One target, by name (default: all).", valueName: "name"))
        var target: String?
        @Option(name: .customLong("limit"), help: "How many pushes to list.")
        var limit = 20
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            let pushes = try await store.pushes(target: target, limit: limit)
            await store.close()
            if output.json { return Output.printJSON(pushes) }
            let lines = pushes.map { p in
                "#\(p.id)  \(Output.pad(p.target, 12)) \(Output.pad(p.status + (p.dryRun ? " (dry)" : ""), 15)) \(p.startedAt)  users +\(p.created) ~\(p.updated) −\(p.deactivated + p.deleted) adopted \(p.adopted); groups +\(p.groupsCreated) ~\(p.groupsUpdated) −\(p.groupsDeleted); members +\(p.membersAdded) −\(p.membersRemoved); failed \(p.failed); \(p.requests) requests\(p.error.map { "  \($0)" } ?? "")"
            }
            Output.write(lines.isEmpty ? "no pushes yet\n" : lines.joined(separator: "\n") + "\n", to: .standardOutput)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One push and every request it sent, with its outcome (kept for the last 10 pushes of each target).")

        @OptionGroup var file: ConfigFileOptions
        @Argument(help: "The push's id (usersync targets pushes).")
        var id: Int64
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var push: PushRecord
            var requests: [PushRequest]
        }

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            guard let push = try await store.push(id: id) else {
                await store.close()
                throw CommandFailure(status: .usage, message: "no push #\(id) in the store (usersync targets pushes lists them)")
            }
            let requests = try await store.pushRequests(push: id)
            await store.close()
            if output.json { return Output.printJSON(Report(push: push, requests: requests)) }
            var text = "push #\(push.id) to \(push.target): \(push.status) at \(push.startedAt)\(push.error.map { ": \($0)" } ?? "")\n"
            for r in requests {
                text += "  \(Output.pad(r.method, 6)) \(Output.pad(String(r.status), 3)) \(Output.pad(r.outcome, 11)) \(Output.pad(r.name ?? "\(r.objectType) #\(r.objectId)", 20)) \(r.path)\(r.error.map { "  \($0)" } ?? "")\n"
            }
            if requests.isEmpty { text += "  (no requests kept)\n" }
            Output.write(text, to: .standardOutput)
        }
    }
}
