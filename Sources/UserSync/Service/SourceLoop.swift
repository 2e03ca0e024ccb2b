import Foundation
import Logging

/// The time the service runs on: the wall clock, or a test's clock that it moves by hand.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Returns at `date` (at once if it is past); throws when the task is cancelled.
    func sleep(until date: Date) async throws
}

/// The system's clock.
public struct WallClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until date: Date) async throws {
        let seconds = date.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
        try Task.checkCancellation()
    }
}

/// One source under `usersync serve`: runs it at each slot of its schedule (and at start when
/// asked), tries a run that failed for a passing reason again with backoff until the next slot,
/// and tells `status` what happened. Returns when its task is cancelled (between runs: a run
/// that has started finishes, so the store is never left half-written).
public struct SourceLoop: Sendable {
    public let source: String
    public let schedule: Schedule
    public let clock: any SchedulerClock
    public let status: ServiceStatus
    public let logger: Logger
    /// Runs the source once for a slot; nil when another node sharing the store ran that slot.
    public let run: @Sendable (_ slot: Date) async -> SyncReport?

    public init(source: String, schedule: Schedule, clock: any SchedulerClock = WallClock(), status: ServiceStatus,
                logger: Logger, run: @escaping @Sendable (_ slot: Date) async -> SyncReport?) {
        self.source = source
        self.schedule = schedule
        self.clock = clock
        self.status = status
        self.logger = logger
        self.run = run
    }

    /// Failures that may pass by themselves: a server down or slow, the store busy with another
    /// run, a file caught while it was being written. Others (a wrong password, a bad
    /// configuration, a guard stop) wait for someone to act; the next slot tries again.
    public static func isTransient(_ report: SyncReport) -> Bool {
        report.status == .failed && report.errorKind?.isTransient == true
    }

    public func runForever() async {
        var last: Date?
        if schedule.runAtStart {
            let now = clock.now()
            let first = schedule.next(after: nil, now: now)
            await runWithRetries(slot: now, nextSlot: first.slot)
        }
        while !Task.isCancelled {
            let decision = schedule.next(after: last, now: clock.now())
            await status.planned(source, at: decision.start)
            if decision.missed > 0 {
                logger.warning("runs missed (a run took longer than the interval, or the machine slept); running once now",
                               metadata: ["source": "\(source)", "missed": "\(decision.missed)"])
            }
            do {
                try await clock.sleep(until: decision.start)
            } catch {
                return
            }
            last = decision.slot
            let following = schedule.next(after: decision.slot, now: decision.slot)
            await runWithRetries(slot: decision.slot, nextSlot: following.slot)
        }
    }

    /// One scheduled run, and its retries while the failure looks passing and the next slot is
    /// further away than the next try.
    func runWithRetries(slot: Date, nextSlot: Date) async {
        var attempt = 1
        var slot = slot
        while true {
            await status.started(source, at: clock.now())
            guard let report = await run(slot) else {
                await status.ranElsewhere(source)
                return
            }
            let transient = SourceLoop.isTransient(report)
            let retry = transient && !Task.isCancelled
                ? Schedule.retryDelay(attempt: attempt, failedAt: clock.now(), nextSlot: nextSlot) : nil
            await status.finished(source, report: report, at: clock.now(), retryAt: retry.map { clock.now().addingTimeInterval($0.secondsValue) })
            guard let retry else { return }
            logger.warning("the run failed for a reason that may pass; trying again", metadata: [
                "source": "\(source)", "attempt": "\(attempt)", "retryInSeconds": "\(Int(retry.secondsValue))",
                "error": "\(report.error ?? "")",
            ])
            do {
                try await clock.sleep(until: clock.now().addingTimeInterval(retry.secondsValue))
            } catch {
                return
            }
            attempt += 1
            // A try again is a slot of its own: the failed run has ended within the first.
            slot = clock.now()
        }
    }
}
