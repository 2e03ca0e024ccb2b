import ArgumentParser
import Foundation
import UserSync

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Bring the configured targets' SCIM APIs in step with the store's users.",
        discussion: """
        A target (targets: in the configuration) is an application's SCIM 2.0 API. For each, push reads the target's ServiceProviderConfig (PATCH or PUT, filters, ETags), then the users of its sources that changed since its last push, and sends:
          create      POST /Users — after looking the user up by externalId and userName: one the application already has (made by hand, or created by a push whose answer was lost) is adopted, not duplicated
          update      PATCH of the changed attributes only (a GET and a PUT where the server has no PATCH)
          deactivate  active: false (DELETE with onDeactivate: delete), for a user deactivated in the store or gone from its sources
          reactivate  active: true
        With groups: in the target, its sources' groups are created (or adopted), renamed, emptied or deleted, and their members added and removed by PATCH in batches (never a PUT of a whole member list).
        What each object got is kept in the store, so a push that stops anywhere (killed, the target down) resumes where it stopped. A failed object is tried again by the next push, and after quarantineAfter failures in a row (default 5) it is quarantined: left alone until --retry-quarantined.

        Before sending anything, a guard stops the push (exit 9) when it would disable or delete more than the target's maxDeletions (default 10% of the users active there); --force overrides it. --dry-run lists the requests it would send and sends none (it still reads: the ServiceProviderConfig and lookups).

        Every push is recorded: see 'usersync targets status' and 'usersync targets show ID'.

        Exit codes:
        \(ExitStatus.table)
        """
    )

    @OptionGroup var file: ConfigFileOptions

    @Option(name: .customLong("target"),
            help: ArgumentHelp("A target to push, by name; repeat for several (default: all, in file order).", valueName: "name"))
    var targets: [String] = []

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "List the requests it would send; send none.")
    var dryRun = false

    @Flag(name: .customLong("force"), help: "Push even when it would disable or delete more users than maxDeletions allows.")
    var force = false

    @Flag(name: .customLong("full"), help: "Compare every user of the target's sources, not only those changed since its last push.")
    var full = false

    @Flag(name: .customLong("retry-quarantined"), help: "Try the quarantined objects again.")
    var retryQuarantined = false

    @Option(name: .customLong("wait"),
            help: ArgumentHelp("Seconds to wait for another push to the same target to finish.", valueName: "seconds"))
    var wait: Double = 30

    @Option(name: .customLong("show"), help: ArgumentHelp("How many failures (or planned requests) to list.", valueName: "n"))
    var show: Int = 50

    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LogOptions

    struct MultiReport: Encodable {
        var targets: [PushReport]
    }

    func validate() throws {
        if wait < 0 { throw ValidationError("--wait must be 0 or more seconds") }
        if show < 0 { throw ValidationError("--show must be 0 or more") }
    }

    func run() async throws {
        let configuration = try file.load()
        let selected = try configuration.targets(named: targets)
        let logger = logging.bootstrap(configuration)
        let store = try await file.openStore(configuration)
        let engine = PushEngine(store: store, logger: logger, lockTimeout: .milliseconds(Int(wait * 1000)))
        var reports: [PushReport] = []
        for target in selected {
            let report = await engine.push(target, options: .init(dryRun: dryRun, force: force, full: full, retryQuarantined: retryQuarantined))
            reports.append(report)
            if !output.json { Output.write(PushText.render(report, show: show), to: .standardOutput) }
        }
        if output.json {
            if reports.count == 1 { Output.printJSON(reports[0]) } else { Output.printJSON(MultiReport(targets: reports)) }
        }
        await store.close()
        let status = reports.map(ExitStatus.init).first { $0 != .success } ?? .success
        if status != .success { throw status.exitCode }
    }
}

extension Configuration {
    /// The targets named (all of them when `names` is empty), or a configuration failure.
    func targets(named names: [String]) throws -> [TargetSettings] {
        let all = targets.map(\.name)
        if targets.isEmpty {
            throw CommandFailure(status: .configuration,
                                 message: "\(file) has no targets: add a targets: section (an application's SCIM API; see examples/)")
        }
        if names.isEmpty { return targets }
        return try names.map { name in
            guard let found = target(named: name) else {
                let hint = ConfigLoader.suggestion(for: name, in: all).map { " Did you mean '\($0)'?" } ?? ""
                throw CommandFailure(status: .configuration,
                                     message: "\(file) has no target '\(name)' (it has: \(all.joined(separator: ", "))).\(hint)")
            }
            return found
        }
    }
}

extension ExitStatus {
    /// The status of a push that ended with `report`.
    init(_ report: PushReport) {
        switch report.status {
        case .applied, .planned: self = .success
        case .partial: self = .partial
        case .stopped: self = .guardStopped
        case .failed: self = report.errorKind.map { ExitStatus($0) } ?? .failure
        }
    }
}

/// The human report of a push.
enum PushText {
    static func render(_ report: PushReport, show: Int) -> String {
        var text = ""
        let push = report.pushId.map { "push \($0)" } ?? "not recorded"
        let seconds = String(format: "%.2f", report.durationSeconds)
        switch report.status {
        case .applied: text += "\(report.target): pushed (\(push), \(seconds) s, \(report.requests) requests)\n"
        case .partial: text += "\(report.target): PARTLY pushed (\(push), \(seconds) s): \(report.failed) failed, tried again next time\n"
        case .planned: text += "\(report.target): dry run (\(push), \(seconds) s): nothing was sent\n"
        case .stopped: text += "\(report.target): STOPPED by the guard (\(push)): \(report.error ?? "")\n"
        case .failed: text += "\(report.target): FAILED (\(push)): \(report.error ?? "")\n"
        }
        let u = report.users
        if report.status != .stopped {
            let verb = report.status == .planned ? "would be " : ""
            text += "  users: \(verb)created \(u.created), updated \(u.updated), deactivated \(u.deactivated), reactivated \(u.reactivated), deleted \(u.deleted), adopted \(u.adopted)\n"
            if let g = report.groups {
                text += "  groups: \(verb)created \(g.created), updated \(g.updated), emptied \(g.deactivated), reactivated \(g.reactivated), deleted \(g.deleted), adopted \(g.adopted); members +\(report.membersAdded) −\(report.membersRemoved)\n"
            }
        }
        for note in report.notes { text += "  note: \(note)\n" }
        if report.skippedQuarantined > 0 {
            text += "  \(report.skippedQuarantined) quarantined object\(report.skippedQuarantined == 1 ? "" : "s") left alone (usersync targets status; --retry-quarantined)\n"
        }
        for failure in report.failures.prefix(show) {
            text += "  failed     \(Output.pad(failure.name ?? "#\(failure.objectId)", 24))  \(failure.error)\(failure.quarantined ? " (quarantined after \(failure.failures) pushes)" : "")\n"
        }
        for request in report.planned.prefix(show) {
            text += "  \(Output.pad(request.method, 6)) \(request.path)  \(request.object)\(request.body.map { "  \($0)" } ?? "")\n"
        }
        if report.planned.count > show { text += "  … \(report.planned.count - show) more requests (raise --show)\n" }
        return text
    }
}
