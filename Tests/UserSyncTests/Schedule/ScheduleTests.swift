import Foundation
import Logging
import Testing
@testable import UserSync

/// A clock the test moves by hand: `sleep(until:)` returns when the test advances past it.
final class ManualClock: SchedulerClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [(until: Date, id: UUID, continuation: CheckedContinuation<Void, any Error>)] = []

    init(_ start: Date) { current = start }

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func sleep(until date: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                lock.lock()
                if date <= current {
                    lock.unlock()
                    continuation.resume()
                    return
                }
                sleepers.append((date, id, continuation))
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let index = sleepers.firstIndex { $0.id == id }
            let sleeper = index.map { sleepers.remove(at: $0) }
            lock.unlock()
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Sets the time; wakes every sleeper whose time has come.
    func set(_ date: Date) {
        lock.lock()
        current = date
        let due = sleepers.filter { $0.until <= date }
        sleepers.removeAll { $0.until <= date }
        lock.unlock()
        for sleeper in due { sleeper.continuation.resume() }
    }

    private func firstSleeper() -> Date? {
        lock.withLock { sleepers.first?.until }
    }

    /// The time the one sleeper waits for, once there is one (the loop has gone to sleep).
    func sleeper() async throws -> Date {
        for _ in 0..<10_000 {
            if let first = firstSleeper() { return first }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw CancellationError()
    }
}

@Suite("Schedules")
struct ScheduleTests {
    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    @Test("cron expressions: steps, ranges, lists, names, macros, and day-of-month OR day-of-week", arguments: [
        ("*/15 * * * *", "2026-11-22T10:07:30Z", "2026-11-22T10:15:00Z"),
        ("*/15 * * * *", "2026-11-22T10:45:00Z", "2026-11-22T11:00:00Z"),
        ("0 2 * * *", "2026-11-22T10:00:00Z", "2026-11-23T02:00:00Z"),
        ("30 8-17/3 * * mon-fri", "2026-11-21T12:00:00Z", "2026-11-23T08:30:00Z"),  // Saturday → Monday 08:30
        ("30 8-17/3 * * mon-fri", "2026-11-23T08:30:00Z", "2026-11-23T11:30:00Z"),
        ("0 0 1,15 * *", "2026-11-16T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("0 0 29 feb *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),  // the next leap year
        ("@hourly", "2026-11-22T10:59:59Z", "2026-11-22T11:00:00Z"),
        ("@weekly", "2026-11-22T10:00:00Z", "2026-11-29T00:00:00Z"),  // Sunday
        ("0 12 13 * fri", "2026-11-01T00:00:00Z", "2026-11-06T12:00:00Z"),  // Friday the 6th, before the 13th
        ("0 0 * * 7", "2026-11-23T00:00:00Z", "2026-11-29T00:00:00Z"),  // 7 is Sunday too
    ])
    func cron(expression: String, after: String, expected: String) throws {
        let cron = try CronExpression(expression)
        #expect(cron.next(after: Self.date(after), calendar: Self.utc) == Self.date(expected))
    }

    @Test("malformed cron expressions say which field is wrong", arguments: [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minute: '60' is outside 0-59"),
        ("* * * * funday", "day of week: 'funday' is not a number or a name"),
        ("*/0 * * * *", "minute: the step in '*/0' must be a whole number above 0"),
        ("0 0 31 feb *", "no month of feb has a day 31"),
        ("5-1 * * * *", "minute: '5-1' is outside"),
    ])
    func badCron(expression: String, message: String) {
        #expect(throws: CronError.self) { try CronExpression(expression) }
        do {
            _ = try CronExpression(expression)
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("every: slots stay on their grid; missed slots give one run at once; jitter stays within its bound")
    func every() {
        let start = Self.date("2026-11-22T10:00:00Z")
        var schedule = Schedule(.every(.seconds(900)))
        // The first slot: the next on the interval's grid from the epoch (at :00, :15, :30, :45),
        // the same for every node that starts at any time in between.
        var decision = schedule.next(after: nil, now: start)
        #expect(decision == .init(slot: start.addingTimeInterval(900), start: start.addingTimeInterval(900), missed: 0))
        #expect(schedule.next(after: nil, now: start.addingTimeInterval(7)).slot == start.addingTimeInterval(900))
        #expect(schedule.next(after: nil, now: start.addingTimeInterval(899.5)).slot == start.addingTimeInterval(900))
        #expect(schedule.next(after: nil, now: start.addingTimeInterval(900)).slot == start.addingTimeInterval(1800))
        // A run that ended 2 minutes after its slot: the next slot is still on the grid.
        decision = schedule.next(after: start.addingTimeInterval(900), now: start.addingTimeInterval(1020))
        #expect(decision.slot == start.addingTimeInterval(1800))
        // A run that took 50 minutes: the slots at 30 and 45 were missed; one run now, for the
        // slot at 45, and the grid goes on from there.
        decision = schedule.next(after: start.addingTimeInterval(900), now: start.addingTimeInterval(3900))
        #expect(decision == .init(slot: start.addingTimeInterval(3600), start: start.addingTimeInterval(3900), missed: 2))

        schedule.jitter = .seconds(60)
        for value in [0.0, 30.0, 60.0] {
            let jittered = schedule.next(after: start, now: start, random: { range in
                #expect(range == 0...60)
                return value
            })
            #expect(jittered.start == start.addingTimeInterval(900 + value))
            #expect(jittered.slot == start.addingTimeInterval(900))
        }
    }

    @Test("cron: missed slots are counted and one run stands for them")
    func cronMissed() throws {
        let schedule = Schedule(.cron(try CronExpression("*/10 * * * *")))
        let last = Self.date("2026-11-22T10:00:00Z")
        let decision = schedule.next(after: last, now: Self.date("2026-11-22T10:35:00Z"), calendar: Self.utc)
        #expect(decision == .init(slot: Self.date("2026-11-22T10:30:00Z"), start: Self.date("2026-11-22T10:35:00Z"), missed: 2))
    }

    @Test("retries back off (30 s, 1 min, 2 min, … at most 15 min) and stop before the next slot")
    func retries() {
        let failed = Self.date("2026-11-22T10:00:00Z")
        let nextSlot = failed.addingTimeInterval(3600)
        #expect(Schedule.retryDelay(attempt: 1, failedAt: failed, nextSlot: nextSlot) == .seconds(30))
        #expect(Schedule.retryDelay(attempt: 2, failedAt: failed, nextSlot: nextSlot) == .seconds(60))
        #expect(Schedule.retryDelay(attempt: 6, failedAt: failed, nextSlot: nextSlot) == .seconds(900))
        #expect(Schedule.retryDelay(attempt: 9, failedAt: failed, nextSlot: nextSlot) == .seconds(900))
        #expect(Schedule.retryDelay(attempt: 1, failedAt: failed, nextSlot: failed.addingTimeInterval(20)) == nil)
    }

    @Test("durations as the configuration writes them")
    func durations() {
        #expect(Schedule.parseDuration("15m") == .seconds(900))
        #expect(Schedule.parseDuration("1h30m") == .seconds(5400))
        #expect(Schedule.parseDuration("90") == .seconds(90))
        #expect(Schedule.parseDuration("2d") == .seconds(172_800))
        #expect(Schedule.parseDuration("15 minutes") == nil)
        #expect(Schedule.parseDuration("m") == nil)
        #expect(Schedule.format(.seconds(5400)) == "1h30m")
    }

    @Test("a source's loop on a controlled clock: runs at its slots, retries a passing failure, catches up once, stops when cancelled")
    func loop() async throws {
        let t0 = Self.date("2026-11-22T10:00:00Z")
        let clock = ManualClock(t0)
        let status = ServiceStatus(sources: [("s", "every 1m")])
        let runs = RunLog()
        // What each run does: succeed, fail as unreachable, take long, …
        let script: [@Sendable () -> SyncReport] = [
            { runs.report(.applied) },
            { runs.report(.failed, kind: .unreachable) },
            { runs.report(.applied) },
            { clock.set(t0.addingTimeInterval(400)); return runs.report(.applied) },  // a run of 4 min
            { runs.report(.failed, kind: .authentication) },
        ]
        let loop = SourceLoop(source: "s", schedule: Schedule(.every(.seconds(60))), clock: clock, status: status,
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { _ in
            let index = runs.start(at: clock.now())
            return index < script.count ? script[index]() : runs.report(.applied)
        }
        let task = Task { await loop.runForever() }

        #expect(try await clock.sleeper() == t0.addingTimeInterval(60))
        clock.set(t0.addingTimeInterval(60))  // run 1: applied
        #expect(try await clock.sleeper() == t0.addingTimeInterval(120))
        clock.set(t0.addingTimeInterval(120))  // run 2: unreachable → tried again 30 s later
        #expect(try await clock.sleeper() == t0.addingTimeInterval(150))
        #expect(await status.snapshot()[0].healthy)  // failed, but being retried
        clock.set(t0.addingTimeInterval(150))  // run 3: applied
        #expect(try await clock.sleeper() == t0.addingTimeInterval(180))
        clock.set(t0.addingTimeInterval(180))  // run 4: takes until 400; slots 240, 300, 360 missed
        #expect(try await clock.sleeper() == t0.addingTimeInterval(420))  // run 5 ran at once, for 360
        let state = await status.snapshot()[0]
        #expect(state.lastStatus == "failed")  // run 5: refused credentials: not retried, unhealthy
        #expect(!state.healthy)
        #expect(state.retryAt == nil)
        #expect(state.consecutiveFailures == 1)

        task.cancel()
        await task.value
        #expect(runs.times == [60, 120, 150, 180, 400].map { t0.addingTimeInterval($0) })
    }
}

/// The runs a test's loop made.
final class RunLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var times: [Date] = []

    func start(at date: Date) -> Int {
        lock.lock()
        defer { lock.unlock() }
        times.append(date)
        return times.count - 1
    }

    func report(_ status: SyncReport.Status, kind: FailureKind? = nil) -> SyncReport {
        var report = SyncReport(source: "s", dryRun: false, status: status)
        report.errorKind = kind
        report.error = kind.map { "failed: \($0)" }
        return report
    }
}
