import Foundation
import Logging

/// Pushes the store's users to targets: for each, reads what changed since its position (the
/// outbox), decides every object's action, lets the guard stop a mass deactivation before
/// anything is sent, sends the requests (a few at a time), and keeps what each did — so that a
/// push that stops anywhere (killed, the target down) resumes where it stopped.
public struct PushEngine: Sendable {
    let store: UserStore
    let logger: Logger
    /// How long to wait for another push to the same target.
    public var lockTimeout: Duration
    /// How many results are kept in one transaction.
    static let saveEvery = 500

    public init(store: UserStore, logger: Logger, lockTimeout: Duration = .seconds(30)) {
        self.store = store
        self.logger = logger
        self.lockTimeout = lockTimeout
    }

    /// What a push may do beyond the target's settings.
    public struct Options: Sendable {
        public var dryRun = false
        /// Past the guard (maxDeletions).
        public var force = false
        /// Every user of the sources compared, not only those changed since the last push.
        public var full = false
        /// Quarantined objects tried again.
        public var retryQuarantined = false
        /// The run whose apply this push follows (`runs show` lists it).
        public var afterRun: Int64?

        public init(dryRun: Bool = false, force: Bool = false, full: Bool = false, retryQuarantined: Bool = false) {
            self.dryRun = dryRun
            self.force = force
            self.full = full
            self.retryQuarantined = retryQuarantined
        }
    }

    /// Runs one push; never throws (a failure is the report's status and error).
    public func push(_ target: TargetSettings, options: Options = Options()) async -> PushReport {
        let started = ContinuousClock.now
        var report = PushReport(target: target.name, status: .failed, dryRun: options.dryRun)
        do {
            let lease = try await store.backend.lockPush(target: target.name, timeout: lockTimeout)
            defer { lease.release() }
            let id = try await store.write { db in try TargetBook.beginPush(db, target: target.name, run: options.afterRun, dryRun: options.dryRun, at: Timestamp.now()) }
            report.pushId = id
            do {
                try await HTTPFetcher.with(target.http, logger: logger) { fetcher in
                    try await run(target, options, SCIMClient(fetcher: fetcher, target: target.name), &report)
                }
            } catch {
                let failure = SyncFailure(error)
                report.status = .failed
                report.error = failure.message
                report.errorKind = failure.kind
            }
            let finished = report
            try await store.write { db in try TargetBook.finishPush(db, finished, at: Timestamp.now()) }
        } catch {
            let failure = SyncFailure(error)
            report.status = .failed
            report.error = report.error ?? failure.message
            report.errorKind = report.errorKind ?? failure.kind
        }
        let elapsed = ContinuousClock.now - started
        report.durationSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        log(report)
        return report
    }

    private func log(_ report: PushReport) {
        let metadata: Logger.Metadata = ["target": "\(report.target)", "status": "\(report.status.rawValue)",
                                         "created": "\(report.users.created)", "updated": "\(report.users.updated)",
                                         "deactivated": "\(report.users.deactivated)", "failed": "\(report.failed)",
                                         "seconds": "\(String(format: "%.2f", report.durationSeconds))"]
        if report.status == .failed || report.status == .partial {
            logger.error("push \(report.status.rawValue)\(report.error.map { ": \($0)" } ?? "")", metadata: metadata)
        } else {
            logger.info("push \(report.status.rawValue)", metadata: metadata)
        }
    }

    private func run(_ target: TargetSettings, _ options: Options, _ client: SCIMClient, _ report: inout PushReport) async throws {
        let provider = try await client.serviceProvider()
        report.requests += 1

        // Everything is decided, and weighed by the guard, before anything is sent.
        var users = try await prepareUsers(target, options, client, provider, &report)
        var groups = try await prepareGroups(target, options, client, provider, &report)
        if let stop = guardStop(target, users: users, groups: groups) {
            report.status = .stopped
            report.errorKind = .guardStop
            report.error = stop
            return
        }
        report.status = options.dryRun ? .planned : .applied
        try await listForCreates(&users, client, provider, &report)
        let userPusher = UserPusher(client: client, provider: provider, resources: users.resources, dryRun: options.dryRun,
                                    quarantineAfter: target.quarantineAfter, index: users.index, targetEmpty: users.total == 0,
                                    deletes: target.onDeactivate == .delete)
        let userActions = users.actions
        try await send(userActions.count, concurrency: target.concurrency, options: options, report: &report) { await userPusher.run(userActions[$0]) }
        if report.status == .failed { return }
        if var prepared = groups {
            try await pushGroups(&prepared, target, options, client, provider, &report)
            groups = prepared
        }
        if report.status == .failed { return }
        if !options.dryRun {
            let next = users.next
            try await store.write { db in try TargetBook.setPosition(db, target: target.name, position: next, at: Timestamp.now()) }
        }
        report.status = options.dryRun ? .planned : report.failed > 0 ? .partial : .applied
        if report.failed > 0 && report.error == nil {
            report.error = "\(report.failed) object\(report.failed == 1 ? "" : "s") failed (tried again by the next push): \(report.failures.first?.error ?? "")"
        }
    }

    /// Why the guard stops the push (nil: it may go on): more users, or more groups, disabled
    /// or deleted than the target's maxDeletions allows of those active there.
    func guardStop(_ target: TargetSettings, users: PreparedUsers, groups: PreparedGroups?) -> String? {
        func allowed(_ base: Int) -> Int {
            switch target.maxDeletions {
            case .absolute(let n): return n
            case .percent(let p): return Int((Double(base) * p / 100).rounded(.down))
            }
        }
        let verb = target.onDeactivate == .delete ? "delete" : "disable"
        let advice = "nothing was sent. Check the sources' last runs; if this is intended, run usersync push --target \(target.name) --force"
        let userRemovals = users.actions.filter { $0.kind == .deactivate || $0.kind == .delete }.count
        if userRemovals > allowed(users.activeThere) && users.activeThere > 0 && !users.force {
            return "the push would \(verb) \(userRemovals) of the \(users.activeThere) users active on '\(target.name)', more than maxDeletions allows (\(allowed(users.activeThere))): \(advice)"
        }
        if let groups {
            let removals = groups.actions.filter { $0.kind == .disable || $0.kind == .delete }.count
            if removals > allowed(groups.activeThere) && groups.activeThere > 0 && !users.force {
                return "the push would \(target.onDeactivate == .delete ? "delete" : "empty") \(removals) of the \(groups.activeThere) groups on '\(target.name)', more than maxDeletions allows (\(allowed(groups.activeThere))): \(advice)"
            }
        }
        return nil
    }
}
