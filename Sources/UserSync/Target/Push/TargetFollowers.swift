import Foundation
import Logging
import Metrics

/// The targets that follow a source: after a run of the source is applied (by `usersync sync`
/// or a slot of `usersync serve`), each target that takes its users is pushed. A push after a
/// run that changed nothing is cheap (a few requests) and retries what failed before.
public enum TargetFollowers {
    /// Pushes the targets of `report.source` when the run was applied (not a dry run, not a
    /// stopped or failed run: the store did not change), in file order.
    public static func push(after report: SyncReport, configuration: Configuration, store: UserStore, logger: Logger,
                            lockTimeout: Duration = .seconds(30)) async -> [PushReport] {
        guard report.status == .applied, !report.dryRun else { return [] }
        let engine = PushEngine(store: store, logger: logger, lockTimeout: lockTimeout)
        var reports: [PushReport] = []
        for target in configuration.targets(of: report.source) {
            var options = PushEngine.Options()
            options.afterRun = report.runId
            let pushed = await engine.push(target, options: options)
            record(pushed)
            reports.append(pushed)
        }
        return reports
    }

    /// `/metrics`: pushes by status, and the last push's outcome per target (requests are
    /// counted by `SCIMClient` as they are sent).
    public static func record(_ report: PushReport) {
        let dimensions = [("target", report.target)]
        Counter(label: "usersync_pushes_total", dimensions: dimensions + [("status", report.status.rawValue)]).increment()
        Gauge(label: "usersync_last_push_success", dimensions: dimensions).record(report.status == .applied ? 1 : 0)
        Gauge(label: "usersync_last_push_timestamp_seconds", dimensions: dimensions).record(Date().timeIntervalSince1970)
        Gauge(label: "usersync_target_quarantined", dimensions: dimensions).record(report.quarantined)
    }
}
