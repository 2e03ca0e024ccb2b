import Foundation

extension PushEngine {
    /// Runs `count` objects' pushes, `concurrency` at a time, keeping results every `saveEvery`
    /// (so a push killed anywhere loses at most the answers of the last few hundred, which the
    /// next push finds again by looking before it creates). Several objects in a row without
    /// any answer (the target went down) stop the push: the rest wait for the next one rather
    /// than each waiting out its retries.
    func send(_ count: Int, concurrency: Int, options: Options, report: inout PushReport,
              _ run: @escaping @Sendable (Int) async -> PushResult) async throws {
        guard count > 0 else { return }
        let name = report.target
        let pushId = report.pushId ?? 0
        var pending: [PushResult] = []
        var unreachableInRow = 0
        let stopAfter = max(5, concurrency * 2)
        try await withThrowingTaskGroup(of: PushResult.self) { group in
            var next = 0
            var stopped = false
            while next < min(max(1, concurrency), count) {
                let i = next
                group.addTask { await run(i) }
                next += 1
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
                    try await save(pending, target: name, push: pushId, options: options, report: &report)
                    pending.removeAll(keepingCapacity: true)
                }
                if !stopped && next < count {
                    let i = next
                    group.addTask { await run(i) }
                    next += 1
                }
            }
        }
        try await save(pending, target: name, push: pushId, options: options, report: &report)
    }

    /// Keeps what objects' pushes did: `target_objects`, the memberships sent, the requests.
    private func save(_ results: [PushResult], target name: String, push pushId: Int64, options: Options,
                      report: inout PushReport) async throws {
        guard !options.dryRun, !results.isEmpty else { return }
        let requests = results.flatMap(\.requests)
        let first = report.requestsKept
        report.requestsKept += requests.count
        try await store.write { db in
            let time = Timestamp.now()
            for type in ["user", "group"] {
                try TargetBook.save(db, target: name, objects: results.compactMap(\.object).filter { $0.objectType == type }, at: time)
                try TargetBook.drop(db, target: name, objectType: type,
                                    ids: results.filter { $0.dropped && $0.objectType == type }.compactMap(\.droppedId))
            }
            try TargetBook.recordMembers(db, target: name, added: results.flatMap(\.membersAdded), removed: results.flatMap(\.membersRemoved))
            try TargetBook.addRequests(db, push: pushId, firstSeq: first, requests)
        }
    }

    private func tally(_ result: PushResult, into report: inout PushReport) {
        report.requests += result.requests.count
        report.planned += result.planned
        report.membersAdded += result.membersAdded.filter { $0.memberRemoteId != nil }.count
        report.membersRemoved += result.membersRemoved.filter { $0.memberRemoteId != nil }.count
        if let failure = result.failure {
            report.failed += 1
            let object = result.object
            if object?.quarantined == true { report.quarantined += 1 }
            if report.failures.count < 1000 {
                report.failures.append(PushReport.Failure(objectType: result.objectType, objectId: object?.objectId ?? 0, name: result.name,
                                                          error: failure, failures: object?.failures ?? 1,
                                                          quarantined: object?.quarantined ?? false))
            }
            return
        }
        guard let counted = result.counted else { return }
        var counts = result.objectType == "group" ? report.groups ?? PushReport.Counts() : report.users
        switch counted {
        case "created": counts.created += 1
        case "updated": counts.updated += 1
        case "deactivated": counts.deactivated += 1
        case "reactivated": counts.reactivated += 1
        case "deleted": counts.deleted += 1
        case "adopted": counts.adopted += 1
        case "unchanged": counts.unchanged += 1
        default: break
        }
        if result.objectType == "group" { report.groups = counts } else { report.users = counts }
    }
}
