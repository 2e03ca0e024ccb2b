import ArgumentParser
import Foundation
import UserSync

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each source's last run, its result, and its next scheduled run.",
        discussion: """
        Reads the store's run history and the schedules of the configuration file; it does not need 'usersync serve' to be running. Records the last run skipped (no value for a required field, a username taken) are counted, with the command that lists why. The next run is the next slot of the source's schedule after its last run (a failed run may be retried earlier).
          usersync status
          usersync status --json
        """
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var output: OutputOptions

    struct Entry: Codable {
        var source: String
        var type: String
        var schedule: String?
        var lastRun: RunRecord?
        /// The last run says `running` but no process holds the store's lock: it ended without
        /// recording how (killed, or the store's disk was full). The next run marks it failed.
        var stale: Bool?
        /// Who holds the source's run lock now (a node, on a shared PostgreSQL store), if anyone.
        var lockHeldBy: String?
        var nextRun: Date?
        /// An incremental source's watermark: what the next delta starts from.
        var watermark: WatermarkStatus?
    }

    func run() async throws {
        let configuration = try file.load()
        let store = try await file.openStore(configuration)
        var entries: [Entry] = []
        for source in configuration.sources {
            let last = try await store.runs(limit: 1, source: source.name).first
            var next: Date?
            if let schedule = source.schedule {
                let lastStart = last.flatMap { ISO8601DateFormatter.withFractions.date(from: $0.startedAt) }
                next = schedule.next(after: lastStart, now: Date(), random: { _ in 0 }).start
            }
            // Runs hold the run lock while they run: a run left `running` whose lock is free is stale.
            let holder = try await store.runLockHolder(source: source.name)
            let stale: Bool? = last?.status == "running" ? holder == nil : nil
            let watermark = source.ldap?.incremental.method == .off ? nil : try await store.watermarkStatus(source: source.name)
            entries.append(Entry(source: source.name, type: source.type.rawValue, schedule: source.schedule?.description,
                                 lastRun: last, stale: stale, lockHeldBy: holder, nextRun: next, watermark: watermark))
        }
        if output.json {
            Output.printJSON(entries)
            return
        }
        var text = ""
        for entry in entries {
            text += "\(entry.source) (\(entry.type))\n"
            if let run = entry.lastRun {
                var line = "  last run   #\(run.id) \(run.status) at \(run.startedAt)"
                if let error = run.error { line += ": \(error)" }
                if entry.stale == true {
                    line += " (stale: no process is running it; it ended without recording how, killed or with the store's disk full; the next run marks it failed)"
                }
                text += line + "\n"
                if let mode = run.mode {
                    text += "  read       \(mode)\(run.method.map { " by \($0)" } ?? "")\(run.fullReason.map { " (\($0))" } ?? "")\n"
                }
                if run.skipped > 0 {
                    // Skipped records are users who are not synced: never to go unseen behind "applied".
                    text += "  skipped    \(run.skipped) of \(run.entriesRead) records (the reasons: usersync runs show \(run.id))\n"
                }
            } else {
                text += "  last run   none yet\n"
            }
            if let mark = entry.watermark {
                text += "  watermark  \(mark.method), moved \(Self.age(mark.updatedAt)) ago; last full read \(Self.age(mark.lastFullAt)) ago"
                    + (mark.server.map { " (from \($0))" } ?? "") + "\n"
            } else if let incremental = configuration.sources.first(where: { $0.name == entry.source })?.ldap?.incremental,
                      incremental.method != .off {
                text += "  watermark  none yet: the next run reads everything\n"
            }
            if let holder = entry.lockHeldBy {
                text += "  running    now, by \(holder) (it holds the run lock)\n"
            }
            text += "  schedule   \(entry.schedule ?? "none (only 'usersync sync' runs it)")\n"
            if let next = entry.nextRun {
                text += "  next run   \(next.ISO8601Format()) (under 'usersync serve')\n"
            }
        }
        Output.write(text, to: .standardOutput)
    }
}

extension StatusCommand {
    /// How long ago a store time was: 42s, 15m, 3h, 2d.
    static func age(_ time: String) -> String {
        guard let date = ISO8601DateFormatter.withFractions.date(from: time) else { return "?" }
        let seconds = max(0, Int(Date().timeIntervalSince(date)))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }
}

extension ISO8601DateFormatter {
    /// The store's times: ISO 8601 with fractions of a second.
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
