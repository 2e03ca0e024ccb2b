import ArgumentParser
import Foundation
import UserSync

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Bring the store's users in step with the configured sources.",
        discussion: """
        For each source: reads every entry its user search selects (any page error, size or time limit, or dropped connection fails the run), maps them, compares them with the users this source created or adopted, and writes the differences in one transaction:
          create      a new entry (one already disabled in AD is stored deactivated)
          update      changed fields only; a rename or move updates the same row
          deactivate  a user missing from the read, or disabled in AD (never deleted)
          reactivate  a user who is back (same row, same id), also when the account was re-created
          skip        a record without a required field, or whose username is taken (reported, never merged)
        Users made by hand or by another source are never touched.

        Before writing, a guard stops the run (exit 9) when the read is empty, when more users would be deactivated than options.maxDeactivations allows (default 10% of the source's active users), when more records would be skipped than options.maxSkipped allows (default 10% of the records read), or when active users would exceed options.maxUsers. --force overrides the two thresholds; an empty read needs --allow-empty of its own (a --force meant for a large deactivation must never let a filter typo deactivate everyone); nothing overrides maxUsers. A stopped or failed run changes nothing.

        An ldap source with incremental: { method: auto } reads only what changed since its last applied run when it can (Active Directory's DirSync or USNs, OpenLDAP's content sync, RFC 4533), and everything at least every incremental.fullEvery (default 24h), at the first run, after a change of its base, filter, mapping or groups section, after a failover to another DC (USN), and whenever the server no longer knows the changes; groups of member or uniqueMember links are read incrementally too (the changed groups whole, and the groups of each changed entry): the report says which (mode: full or delta) and why (README, "Incremental reads"). --full reads everything now. A delta is guarded like a full read: a delta that would deactivate more than maxDeactivations stops.

        After a source's run is applied, the targets that take its users (targets: in the configuration, an application's SCIM API) are pushed: see 'usersync push --help'; --no-push leaves that to a later 'usersync push'. A push that fails or is stopped by its guard does not undo the run.

        Every run, dry runs included, is recorded: see 'usersync runs'. On a terminal a progress line shows the phase, entries and pages read, the rate and the time, and a table of every source ends the output; with --json or when the output is a pipe or a file, neither appears.

        Typical first use:
          usersync mapping preview --source corp     # what the mapping makes of a few entries
          usersync sync --source corp --dry-run      # the whole plan, nothing written
          usersync sync --source corp                # apply; then schedule it

        Exit codes:
        \(ExitStatus.table)
        """
    )

    @OptionGroup var file: ConfigFileOptions

    @Option(name: .customLong("source"),
            help: ArgumentHelp("A source to sync, by name; repeat for several (default: all, in file order).", valueName: "name"))
    var sources: [String] = []

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Compute and print the plan; change nothing.")
    var dryRun = false

    @Flag(name: .customLong("force"),
          help: "Apply even when deactivations exceed maxDeactivations or skips exceed maxSkipped (never an empty read, never past maxUsers).")
    var force = false

    @Flag(name: .customLong("allow-empty"),
          help: "Apply even when the source returns no users (or no groups): every user of the source is deactivated. Not implied by --force.")
    var allowEmpty = false

    @Flag(name: .customLong("full"),
          help: "Read everything, even for a source that reads incrementally (its watermark is taken afresh).")
    var full = false

    @Option(name: .customLong("wait"),
            help: ArgumentHelp("Seconds to wait for another run on the same store to finish before giving up.", valueName: "seconds"))
    var wait: Double = 30

    @Flag(name: .customLong("no-push"), help: "Do not push the targets that follow a source after its run is applied ('usersync push' does it later).")
    var noPush = false

    @Option(name: .customLong("show"),
            help: ArgumentHelp("How many changes of each kind to list in the human report.", valueName: "n"))
    var show: Int = 50

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LogOptions

    struct MultiReport: Encodable {
        var sources: [SyncReport]
        /// The pushes to the targets that follow the sources, when any ran.
        var pushes: [PushReport]?
    }

    func validate() throws {
        if wait < 0 { throw ValidationError("--wait must be 0 or more seconds") }
        if show < 0 { throw ValidationError("--show must be 0 or more") }
    }

    func run() async throws {
        let configuration = try file.load()
        let selected = try configuration.sources(named: sources, allowSeveral: true)
        let logger = logging.bootstrap(configuration)
        let store = try await file.openStore(configuration)
        var engine = SyncEngine(store: store, logger: logger, lockTimeout: .milliseconds(Int(wait * 1000)),
                                changeListLimit: output.json ? 0 : max(show, 1))
        let progress = ProgressLine.forTerminal(json: output.json)
        if let progress { engine.progress = { progress.update($0) } }
        var reports: [SyncReport] = []
        var pushes: [PushReport] = []
        for source in selected {
            let report = await engine.run(source, dryRun: dryRun, force: force, allowEmpty: allowEmpty, full: full)
            progress?.clear()
            reports.append(report)
            if !output.json { Output.write(SyncText.render(report, show: show), to: .standardOutput) }
            guard !noPush else { continue }
            let pushed = await TargetFollowers.push(after: report, configuration: configuration, store: store, logger: logger,
                                                    lockTimeout: .milliseconds(Int(wait * 1000)))
            pushes += pushed
            if !output.json { for push in pushed { Output.write(PushText.render(push, show: show), to: .standardOutput) } }
        }
        if progress != nil { Output.write("\n" + SummaryTable.render(reports), to: .standardOutput) }
        if output.json {
            if reports.count == 1 && pushes.isEmpty {
                Output.printJSON(reports[0])
            } else {
                Output.printJSON(MultiReport(sources: reports, pushes: pushes.isEmpty ? nil : pushes))
            }
        }
        await store.close()
        let status = (reports.map(ExitStatus.init) + pushes.map(ExitStatus.init)).first { $0 != .success } ?? .success
        if status != .success { throw status.exitCode }
    }
}

/// The human report of a sync run.
enum SyncText {
    static func render(_ report: SyncReport, show: Int) -> String {
        var text = ""
        let run = report.runId.map { "run \($0)" } ?? "not recorded"
        let seconds = String(format: "%.2f", report.durationSeconds)
        switch report.status {
        case .applied: text += "\(report.source): applied (\(run), \(seconds) s, \(report.entriesRead) entries read)\n"
        case .planned: text += "\(report.source): dry run (\(run), \(seconds) s, \(report.entriesRead) entries read): nothing was changed\n"
        case .stopped: text += "\(report.source): STOPPED by the guard (\(run)): \(report.error ?? "")\n"
        case .failed: text += "\(report.source): FAILED (\(run)): \(report.error ?? "")\n"
        }
        if let read = report.read {
            text += "  read \(read.mode.rawValue)\(read.method.map { " by \($0)" } ?? "")\(read.reason.map { ": \($0)" } ?? "")\n"
        }
        if report.status != .failed {
            let u = report.users
            let verb = report.status == .applied ? "" : "would be "
            text += "  users: \(verb)created \(u.created), updated \(u.updated), deactivated \(u.deactivated), reactivated \(u.reactivated); unchanged \(u.unchanged), skipped \(u.skipped)\n"
            if u.skipped > 0 && report.status == .applied {
                text += "  warning: \(u.skipped) of \(report.entriesRead) records skipped (within options.maxSkipped): those users are not synced; the reasons are below\n"
            }
            if let g = report.groups, let m = report.memberships {
                text += "  groups (\(report.groupsRead ?? 0) read): \(verb)created \(g.created), updated \(g.updated), deactivated \(g.deactivated), reactivated \(g.reactivated); unchanged \(g.unchanged); memberships +\(m.added) −\(m.removed)\n"
            }
            if let cycles = report.cycles, !cycles.isEmpty {
                text += "  note: nesting cycles through \(cycles.joined(separator: ", "))\n"
            }
            if let unresolved = report.unresolvedMembers, unresolved > 0 {
                text += "  note: \(unresolved) group member value\(unresolved == 1 ? "" : "s") point outside what was read (see the log)\n"
            }
        }
        // An applied run lists what it skipped (the rest is in 'usersync runs show'); a plan lists all.
        let listed = report.status == .applied ? report.changes.filter { $0.action == .skip } : report.changes
        // A stopped run shows a sample of what it would have done, not a thousand lines.
        let limit = report.status == .stopped ? min(show, 10) : show
        if report.status != .failed && !listed.isEmpty && limit > 0 {
            text += table(listed, show: limit)
            if report.totalChanges > report.changes.count || listed.count < report.changes.count {
                if report.status == .applied, let id = report.runId {
                    text += "  every change: usersync runs show \(id)\n"
                }
            }
            let shown = Dictionary(grouping: listed, by: { $0.action }).values.reduce(0) { $0 + min($1.count, limit) }
            if report.status != .applied && report.totalChanges > shown {
                text += "  … \(report.totalChanges - shown) more changes not listed" + (report.status == .planned ? " (raise --show)" : "") + "\n"
            }
        }
        return text
    }

    /// Changes as aligned rows: action, user, what.
    static func table(_ changes: [PlannedChange], show: Int) -> String {
        var perAction: [ChangeAction: Int] = [:]
        var rows: [(String, String, String)] = []
        for change in changes {
            perAction[change.action, default: 0] += 1
            guard perAction[change.action]! <= show else { continue }
            var who = change.username ?? change.record ?? "#\(change.userId)"
            if change.objectType == .group { who = "group " + who }
            let what = ChangeDescription.detail(action: change.action, field: change.field, oldValue: change.oldValue,
                                                newValue: change.newValue, memberName: change.memberName, record: change.record)
            rows.append((change.action.rawValue, who, what))
        }
        let width = min(rows.map { $0.1.count }.max() ?? 0, 32)
        return rows.map { "  \(Output.pad($0.0, 10)) \(Output.pad($0.1, width))  \($0.2)\n" }.joined()
    }
}
