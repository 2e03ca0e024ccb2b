import Foundation
import Metrics

/// What `usersync serve` knows of each source: the last run and its result, the next one
/// planned, whether a failed run is still being retried. It answers `/healthz` and keeps the
/// metrics that `/metrics` shows (through swift-metrics; the serve command bootstraps the
/// Prometheus backend).
public actor ServiceStatus {
    public struct SourceState: Codable, Sendable, Equatable {
        public var source: String
        public var schedule: String
        public var running = false
        public var lastRunId: Int64?
        public var lastStatus: String?
        public var lastError: String?
        public var lastStarted: Date?
        public var lastFinished: Date?
        public var lastSuccess: Date?
        public var nextRun: Date?
        /// A failed run will be tried again at this time (before the next slot).
        public var retryAt: Date?
        public var consecutiveFailures = 0

        /// Healthy while the last run succeeded (applied or planned), or failed and is still
        /// being retried; before the first run ends, healthy too (starting).
        public var healthy: Bool {
            guard let lastStatus else { return true }
            return lastStatus == SyncReport.Status.applied.rawValue || lastStatus == SyncReport.Status.planned.rawValue
                || retryAt != nil
        }
    }

    private var states: [String: SourceState] = [:]
    private var order: [String] = []

    public init(sources: [(name: String, schedule: String)]) {
        for (name, schedule) in sources {
            states[name] = SourceState(source: name, schedule: schedule)
            order.append(name)
        }
    }

    public func planned(_ source: String, at date: Date) {
        states[source]?.nextRun = date
    }

    public func started(_ source: String, at date: Date) {
        states[source]?.running = true
        states[source]?.lastStarted = date
        states[source]?.retryAt = nil
    }

    public func finished(_ source: String, report: SyncReport, at date: Date, retryAt: Date?) {
        guard var state = states[source] else { return }
        state.running = false
        state.lastRunId = report.runId
        state.lastStatus = report.status.rawValue
        state.lastError = report.error
        state.lastFinished = date
        state.retryAt = retryAt
        if retryAt != nil { state.nextRun = retryAt }
        let succeeded = report.status == .applied || report.status == .planned
        if succeeded {
            state.lastSuccess = date
            state.consecutiveFailures = 0
        } else {
            state.consecutiveFailures += 1
        }
        states[source] = state
        ServiceStatus.record(report, source: source, at: date, succeeded: succeeded)
    }

    /// The slot was run by another node sharing the store: nothing changes here but `running`.
    public func ranElsewhere(_ source: String) {
        states[source]?.running = false
    }

    public func snapshot() -> [SourceState] { order.compactMap { states[$0] } }

    /// The store, once the service has opened it: `/healthz` asks it who holds each run lock.
    private var store: UserStore?

    public func use(_ store: UserStore) {
        self.store = store
    }

    /// Who holds each source's run lock now (this node or another sharing the store), for the
    /// sources whose lock is held.
    public func lockHolders() async -> [(source: String, holder: String)] {
        guard let store else { return [] }
        var holders: [(String, String)] = []
        for source in order {
            if let holder = try? await store.runLockHolder(source: source) { holders.append((source, holder)) }
        }
        return holders
    }

    public var healthy: Bool { states.values.allSatisfy(\.healthy) }

    /// Replaces the sources (a reloaded configuration), keeping what is known of those that stay.
    public func reset(sources: [(name: String, schedule: String)]) {
        var kept: [String: SourceState] = [:]
        for (name, schedule) in sources {
            var state = states[name] ?? SourceState(source: name, schedule: schedule)
            state.schedule = schedule
            kept[name] = state
        }
        states = kept
        order = sources.map(\.name)
    }

    // MARK: Metrics

    static func record(_ report: SyncReport, source: String, at date: Date, succeeded: Bool) {
        let dimensions = [("source", source)]
        Gauge(label: "usersync_last_run_success", dimensions: dimensions).record(succeeded ? 1 : 0)
        Gauge(label: "usersync_last_run_timestamp_seconds", dimensions: dimensions).record(date.timeIntervalSince1970)
        Gauge(label: "usersync_last_run_duration_seconds", dimensions: dimensions).record(report.durationSeconds)
        Gauge(label: "usersync_last_run_entries_read", dimensions: dimensions).record(report.entriesRead)
        Gauge(label: "usersync_last_run_skipped", dimensions: dimensions).record(report.users.skipped)
        if let read = report.read {
            // One series per mode, 1 for the mode of the last run (the Prometheus way of an enum).
            for mode in [ReadMode.Mode.full, .delta] {
                Gauge(label: "usersync_last_run_mode", dimensions: dimensions + [("mode", mode.rawValue)])
                    .record(read.mode == mode ? 1 : 0)
            }
        }
        Counter(label: "usersync_runs_total", dimensions: dimensions + [("status", report.status.rawValue)]).increment()
        if !succeeded {
            Counter(label: "usersync_run_failures_total", dimensions: dimensions + [("kind", report.errorKind?.rawValue ?? "other")]).increment()
        }
        guard report.status == .applied else { return }
        let u = report.users
        for (action, count) in [("created", u.created), ("updated", u.updated), ("deactivated", u.deactivated),
                                ("reactivated", u.reactivated), ("skipped", u.skipped)] {
            Counter(label: "usersync_user_changes_total", dimensions: dimensions + [("action", action)]).increment(by: count)
        }
        if let g = report.groups {
            for (action, count) in [("created", g.created), ("updated", g.updated), ("deactivated", g.deactivated),
                                    ("reactivated", g.reactivated)] {
                Counter(label: "usersync_group_changes_total", dimensions: dimensions + [("action", action)]).increment(by: count)
            }
        }
        if let m = report.memberships {
            Counter(label: "usersync_membership_changes_total", dimensions: dimensions + [("action", "added")]).increment(by: m.added)
            Counter(label: "usersync_membership_changes_total", dimensions: dimensions + [("action", "removed")]).increment(by: m.removed)
        }
    }

    /// Users and groups of each source by state, from the store (after each run).
    public static func recordStoreCounts(_ store: UserStore) async {
        guard let counts = try? await store.stateCounts() else { return }
        for row in counts {
            Gauge(label: row.table == "users" ? "usersync_users" : "usersync_groups",
                  dimensions: [("source", row.source), ("state", row.state)]).record(row.count)
        }
    }
}
