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
            let id = try await store.write { db in try TargetBook.beginPush(db, target: target.name, dryRun: options.dryRun, at: Timestamp.now()) }
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
        let name = target.name, sources = target.sources
        let provider = try await client.serviceProvider()
        report.requests += 1

        // What the target holds: how many users, and whether it lost any usersync pushed (a
        // server restored from a backup, or emptied). Those are created again (or adopted).
        let known = try await store.read { db in try TargetBook.remoteIDs(db, target: name, objectType: "user") }
        let total = try await client.query("Users", attributes: ["id"], count: 1).total
        report.requests += 1
        var index: RemoteIndex?
        var lost: Set<Int64> = []
        if total < known.count {
            let all = try await client.list("Users", attributes: ["id", "userName", "externalId"], pageSize: provider.pageSize)
            report.requests += (all.count + provider.pageSize - 1) / provider.pageSize
            let listed = RemoteIndex(all)
            index = listed
            lost = Set(known.filter { !listed.ids.contains($0.1) }.map(\.0))
            logger.warning("the target no longer has users it was sent: they are created again",
                           metadata: ["target": "\(name)", "missing": "\(lost.count)", "targetUsers": "\(total)"])
            if !options.dryRun && !lost.isEmpty {
                let ids = Array(lost)
                try await store.write { db in try TargetBook.forget(db, target: name, objectType: "user", ids: ids, at: Timestamp.now()) }
            }
        }

        // The outbox: what changed since the position, what failed, what departed.
        let full = options.full || !lost.isEmpty
        let (candidates, next, activeThere) = try await store.read { db in
            let position = try TargetBook.position(db, target: name)
            let next = try TargetBook.nextPosition(db, after: position)
            var candidates = try TargetBook.userCandidates(db, target: name, sources: sources, position: position, full: full)
            candidates += try TargetBook.departedUsers(db, target: name, sources: sources)
            return (candidates, next, try TargetBook.activeRemoteUsers(db, target: name))
        }
        let resources = UserResources(mapping: target.userMapping)
        var actions: [PushAction] = []
        for var candidate in candidates {
            if lost.contains(candidate.objectId) { candidate.remote = candidate.remote.map { PushCandidate.Remote(id: nil, sent: SCIMAttributes(), state: "pending", failures: $0.failures, quarantined: $0.quarantined) } }
            if candidate.remote?.quarantined == true && !options.retryQuarantined {
                report.skippedQuarantined += 1
                continue
            }
            if let action = decide(candidate, target, resources) { actions.append(action) }
        }

        // The guard: before anything is sent.
        let removals = actions.filter { $0.kind == .deactivate || $0.kind == .delete }.count
        let allowed: Int
        switch target.maxDeletions {
        case .absolute(let n): allowed = n
        case .percent(let p): allowed = Int((Double(activeThere) * p / 100).rounded(.down))
        }
        if removals > allowed && activeThere > 0 && !options.force {
            report.status = .stopped
            report.errorKind = .guardStop
            report.error = "the push would \(target.onDeactivate == .delete ? "delete" : "disable") \(removals) of the \(activeThere) users active on '\(name)', more than maxDeletions allows (\(allowed)): nothing was sent. Check the sources' last runs; if this is intended, run usersync push --target \(name) --force"
            return
        }

        // Creates look for a user the target already has (made there by hand, or created by a
        // push whose answer was lost) before POSTing. With many to create, one listing of the
        // target's users is cheaper than a query for each.
        let creates = actions.filter { $0.kind == .create }.count
        if index == nil && creates > 0 && total > 0 && (!provider.filter || creates > (total + provider.pageSize - 1) / provider.pageSize) {
            let all = try await client.list("Users", attributes: ["id", "userName", "externalId"], pageSize: provider.pageSize)
            report.requests += (all.count + provider.pageSize - 1) / provider.pageSize
            index = RemoteIndex(all)
        }
        let pusher = UserPusher(client: client, provider: provider, resources: resources, dryRun: options.dryRun,
                                quarantineAfter: target.quarantineAfter, index: index, targetEmpty: total == 0)
        report.status = options.dryRun ? .planned : .applied
        try await send(actions, with: pusher, concurrency: target.concurrency, options: options, report: &report)
        if report.status == .failed { return }
        if !options.dryRun {
            try await store.write { db in try TargetBook.setPosition(db, target: name, position: next, at: Timestamp.now()) }
        }
        report.status = options.dryRun ? .planned : report.failed > 0 ? .partial : .applied
        if report.failed > 0 && report.error == nil {
            report.error = "\(report.failed) object\(report.failed == 1 ? "" : "s") failed (tried again by the next push): \(report.failures.first?.error ?? "")"
        }
    }

    /// What to do with one user, or nil when the target has what the store says.
    func decide(_ candidate: PushCandidate, _ target: TargetSettings, _ resources: UserResources) -> PushAction? {
        let remote = candidate.remote
        let there = remote?.state ?? "none"
        guard let row = candidate.row else {
            // Gone from the store, or from the target's sources.
            switch there {
            case "pending": return PushAction(kind: .forget, candidate: candidate, desired: SCIMAttributes(), name: "#\(candidate.objectId)")
            case "active":
                var desired = remote?.sent ?? SCIMAttributes()
                let name = remote.flatMap { r in resources.userNamePath.flatMap { r.sent[$0]?.description } } ?? "#\(candidate.objectId)"
                if target.onDeactivate == .delete { return PushAction(kind: .delete, candidate: candidate, desired: desired, name: name) }
                for rule in target.userMapping where rule.value == .field(.active) { desired[rule.path] = .bool(false) }
                return PushAction(kind: .deactivate, candidate: candidate, desired: desired, name: name)
            default: return nil
            }
        }
        let desired = resources.attributes(row)
        let name = row.fields[.username] ?? "#\(row.id)"
        func action(_ kind: PushAction.Kind) -> PushAction { PushAction(kind: kind, candidate: candidate, desired: desired, name: name) }
        if row.active {
            switch there {
            case "none", "pending", "deleted": return action(.create)
            case "deactivated": return action(.reactivate)
            default:
                if desired != remote!.sent { return action(.update) }
                return remote!.failures > 0 ? action(.settle) : nil
            }
        }
        switch there {
        case "active": return action(target.onDeactivate == .delete ? .delete : .deactivate)
        case "deactivated":
            if target.onDeactivate == .delete { return action(.delete) }
            if desired != remote!.sent { return action(.update) }
            return remote!.failures > 0 ? action(.settle) : nil
        case "pending": return action(.forget)
        default: return nil
        }
    }

    /// Sends the actions, `concurrency` at a time, keeping results every `saveEvery`. Several
    /// objects in a row without any answer (the target went down) stop the push: the rest wait
    /// for the next one rather than each waiting out its retries.
    private func send(_ actions: [PushAction], with pusher: UserPusher, concurrency: Int, options: Options,
                      report: inout PushReport) async throws {
        let name = report.target
        var pending: [PushResult] = []
        var seq = 0
        var unreachableInRow = 0
        let stopAfter = max(5, concurrency * 2)
        let pushId = report.pushId ?? 0
        func save(_ results: [PushResult], _ seq: inout Int) async throws {
            guard !options.dryRun, !results.isEmpty else { return }
            let objects = results.compactMap(\.object)
            let droppedIDs = results.filter(\.dropped).compactMap(\.droppedId)
            let requests = results.flatMap(\.requests)
            let first = seq
            seq += requests.count
            try await store.write { db in
                let time = Timestamp.now()
                try TargetBook.save(db, target: name, objects: objects, at: time)
                try TargetBook.drop(db, target: name, objectType: "user", ids: droppedIDs)
                try TargetBook.addRequests(db, push: pushId, firstSeq: first, requests)
            }
        }
        try await withThrowingTaskGroup(of: PushResult.self) { group in
            var next = actions.makeIterator()
            var stopped = false
            for _ in 0..<max(1, concurrency) {
                guard let action = next.next() else { break }
                group.addTask { var r = await pusher.run(action); if r.dropped { r.droppedId = action.candidate.objectId }; return r }
            }
            while let result = try await group.next() {
                tally(result, into: &report)
                pending.append(result)
                unreachableInRow = result.unreachable ? unreachableInRow + 1 : 0
                if unreachableInRow >= stopAfter && !stopped {
                    stopped = true
                    report.status = .failed
                    report.errorKind = .unreachable
                    report.error = "the target stopped answering (\(unreachableInRow) objects in a row without an answer: \(result.failure ?? "")): the rest waits for the next push"
                }
                if pending.count >= PushEngine.saveEvery {
                    try await save(pending, &seq)
                    pending.removeAll(keepingCapacity: true)
                }
                if !stopped, let action = next.next() {
                    group.addTask { var r = await pusher.run(action); if r.dropped { r.droppedId = action.candidate.objectId }; return r }
                }
            }
        }
        try await save(pending, &seq)
    }

    private func tally(_ result: PushResult, into report: inout PushReport) {
        report.requests += result.requests.count
        report.planned += result.planned
        if let failure = result.failure {
            report.failed += 1
            let object = result.object
            if object?.quarantined == true { report.quarantined += 1 }
            if report.failures.count < 1000 {
                report.failures.append(PushReport.Failure(objectType: "user", objectId: object?.objectId ?? 0, name: result.name,
                                                          error: failure, failures: object?.failures ?? 1,
                                                          quarantined: object?.quarantined ?? false))
            }
            return
        }
        switch result.counted {
        case "created": report.users.created += 1
        case "updated": report.users.updated += 1
        case "deactivated": report.users.deactivated += 1
        case "reactivated": report.users.reactivated += 1
        case "deleted": report.users.deleted += 1
        case "adopted": report.users.adopted += 1
        case "unchanged": report.users.unchanged += 1
        default: break
        }
    }
}
