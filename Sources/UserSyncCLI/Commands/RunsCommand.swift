import ArgumentParser
import Foundation
import UserSync

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "The history of sync runs: counts, timing, errors and changes.",
        discussion: """
        Every run is recorded, dry runs and failed runs too. A run left 'running' by a killed process is marked failed by the next run.
          usersync runs                 the last 20 runs
          usersync runs show 42         one run: counts, timing, error, every change
          usersync runs show 42 --records   also what the directory sent (kept for options.keepRecords runs)
        """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The latest runs, newest first.")

        @OptionGroup var file: ConfigFileOptions
        @Option(name: .customLong("source"), help: ArgumentHelp("Only this source's runs.", valueName: "name"))
        var source: String?
        @Option(name: [.customShort("n"), .customLong("limit")], help: ArgumentHelp("How many runs.", valueName: "n"))
        var limit: Int = 20
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            let runs = try await store.runs(limit: limit, source: source)
            if output.json {
                Output.printJSON(runs)
                return
            }
            if runs.isEmpty {
                Output.write("no runs yet: 'usersync sync --dry-run' makes the first\n", to: .standardOutput)
                return
            }
            var text = "  id  source        started (UTC)         status    mode   secs  read  created updated deact. react. skipped\n"
            for r in runs {
                let secs = r.durationSeconds.map { String(format: "%.1f", $0) } ?? "-"
                let status = r.status + (r.dryRun ? "*" : "")
                text += "\(Output.pad(String(r.id), 4, right: true))  \(Output.pad(r.source, 12))  \(Output.pad(String(r.startedAt.prefix(19)), 20))  \(Output.pad(status, 8))"
                text += "  \(Output.pad(r.mode ?? "-", 5))"
                text += " \(Output.pad(secs, 5, right: true)) \(Output.pad(String(r.entriesRead), 5, right: true))"
                for n in [r.created, r.updated, r.deactivated, r.reactivated, r.skipped] {
                    text += " \(Output.pad(String(n), 7, right: true))"
                }
                text += "\n"
                if let error = r.error { text += "        \(error)\n" }
            }
            if runs.contains(where: \.dryRun) { text += "  * dry run\n" }
            Output.write(text, to: .standardOutput)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One run: counts, timing, error and its changes.")

        @OptionGroup var file: ConfigFileOptions
        @Argument(help: ArgumentHelp("The run's id (see 'usersync runs').", valueName: "id"))
        var id: Int64
        @Option(name: [.customShort("n"), .customLong("limit")], help: ArgumentHelp("At most this many changes (0: all).", valueName: "n"))
        var limit: Int = 0
        @Flag(name: .customLong("records"), help: "Also print the records the source sent in this run.")
        var records = false
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var run: RunRecord
            var durationSeconds: Double?
            var changes: [ChangeRecord]
            var records: [RecordJSON]?
            var recordsKept: Bool
            /// The pushes to targets that followed the run.
            var pushes: [PushRecord]
        }

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            guard let run = try await store.run(id: id) else {
                throw CommandFailure(status: .failure, message: "no run \(id) in \(configuration.store.name) ('usersync runs' lists them)")
            }
            let changes = try await store.changes(run: id, limit: limit == 0 ? nil : limit)
            let received = try await store.records(run: id)
            let pushes = try await store.pushes(afterRun: id)
            if output.json {
                Output.printJSON(Report(run: run, durationSeconds: run.durationSeconds, changes: changes,
                                        records: records ? received?.map(RecordJSON.init) : nil, recordsKept: received != nil, pushes: pushes))
                return
            }
            var text = "run \(run.id) of \(run.source)\(run.dryRun ? " (dry run)" : ""): \(run.status)\n"
            text += "  started   \(run.startedAt)\n  finished  \(run.finishedAt ?? "-")"
            if let secs = run.durationSeconds { text += String(format: " (%.2f s)", secs) }
            text += "\n  read      \(run.entriesRead) entries"
            if let mode = run.mode {
                text += " (\(mode)\(run.method.map { " by \($0)" } ?? "")\(run.fullReason.map { ": \($0)" } ?? ""))"
            }
            text += "\n"
            text += "  users     created \(run.created), updated \(run.updated), deactivated \(run.deactivated), reactivated \(run.reactivated), unchanged \(run.unchanged), skipped \(run.skipped)\n"
            if run.groupsRead > 0 || run.groupsDeactivated > 0 {
                text += "  groups    \(run.groupsRead) read: created \(run.groupsCreated), updated \(run.groupsUpdated), deactivated \(run.groupsDeactivated), reactivated \(run.groupsReactivated), unchanged \(run.groupsUnchanged); memberships +\(run.membershipsAdded) −\(run.membershipsRemoved)\n"
            }
            if let error = run.error { text += "  error     \(error)\n" }
            text += "  records   " + (received.map { "\($0.count) kept (--records prints them)" } ?? "not kept (options.keepRecords)") + "\n"
            for push in pushes {
                text += "  pushed    to \(push.target): push #\(push.id) \(push.status), users +\(push.created) ~\(push.updated) −\(push.deactivated + push.deleted), \(push.failed) failed\(push.error.map { ": \($0)" } ?? "") (usersync targets show \(push.id))\n"
            }
            if !changes.isEmpty {
                text += "changes:\n"
                text += SyncText.table(changes.map { c in
                    var change = PlannedChange(userId: c.objectId, username: c.username, action: c.action, field: c.field,
                                               oldValue: c.oldValue, newValue: c.newValue, record: c.record)
                    change.objectType = c.objectType
                    change.memberName = c.memberName
                    return change
                }, show: Int.max)
            } else if run.dryRun {
                text += "a dry run writes no changes: run 'usersync sync --dry-run' again to see its plan\n"
            }
            if records, let received {
                text += "records:\n"
                for entry in received { text += RecordJSON(entry).ldif }
            }
            Output.write(text, to: .standardOutput)
        }
    }
}
