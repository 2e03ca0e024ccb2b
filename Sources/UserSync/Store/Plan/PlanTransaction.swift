import Foundation

/// The plan's statements, inside the transaction a store opened on the run's connection (the
/// one that holds its staging tables): the user planner, then the group planner; `decide`
/// sees the figures before anything is committed, and the run is recorded as applied in the
/// same transaction. Both stores run exactly this.
enum PlanTransaction {
    /// Returns the outcome; `outcome.committed` says whether the store is to commit (else it
    /// rolls back).
    static func run(_ session: any SQLSession, _ request: PlanRequest,
                    decide: @Sendable (PlanFigures) -> PlanDecision) throws -> PlanOutcome {
        let users = Planner(request: request)
        let groups = request.groups ? GroupPlanner(source: request.source, runId: request.runId, now: request.now,
                                                   tree: request.groupTree, delta: request.delta,
                                                   membersResolvedAsRead: request.membersResolvedAsRead) : nil
        var outcome = PlanOutcome()
        var figures = PlanFigures()
        figures.activeBefore = try users.activeUsers(session)
        figures.groupsBefore = try groups?.activeGroups(session) ?? 0
        figures.counts = try users.apply(session, activeBefore: figures.activeBefore)
        figures.identical = try users.identicalRecords(session)
        figures.groups = try groups?.apply(session)
        if groups == nil { try GroupFingerprintTables.forgetAfterUserChanges(session, source: request.source, runId: request.runId) }
        // A delta touches few users: the count after follows from the changes.
        figures.activeAfter = request.delta == nil ? try users.activeUsers(session)
            : try users.activeUsers(after: figures.activeBefore, session)
        let decision = decide(figures)
        outcome.figures = figures
        outcome.stop = decision.stop
        // An applied run returns only what it skipped (the rest is in `runs show`).
        (outcome.changes, outcome.totalChanges) = try users.changes(session, limit: request.changeListLimit,
                                                                    onlySkips: decision.applied != nil)
        guard let applied = decision.applied else { return outcome }
        try RunBook.finishRun(session, request.runId, report: applied, at: Timestamp.now(),
                              keepRecords: request.options.keepRecords)
        // The watermark commits with the changes it covers, or not at all: a run stopped by the
        // guard, failed or killed leaves the previous one, and the next run reads them again.
        if let watermark = request.watermark { try WatermarkTables.save(session, source: request.source, watermark) }
        try holdBeforeCommitForTests()
        outcome.committed = true
        return outcome
    }

    /// Test hook for the kill -9 and connection-loss tests: with
    /// `USERSYNC_TEST_HOLD_BEFORE_COMMIT=SECONDS`, a run that has written all its changes waits
    /// that long before committing them, announcing it on standard error. Nothing else reads
    /// this variable.
    static func holdBeforeCommitForTests() throws {
        guard let text = ProcessInfo.processInfo.environment["USERSYNC_TEST_HOLD_BEFORE_COMMIT"],
              let seconds = Double(text) else { return }
        FileHandle.standardError.write(Data("usersync: holding the transaction open for \(seconds)s (test hook)\n".utf8))
        Thread.sleep(forTimeInterval: seconds)
    }
}
