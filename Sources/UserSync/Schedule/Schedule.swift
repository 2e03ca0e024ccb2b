import Foundation

/// When a source runs under `usersync serve`: every interval, or on a cron expression, with an
/// optional random delay (jitter, so that many instances do not hit one directory together)
/// and an optional run at start.
public struct Schedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case every(Duration)
        case cron(CronExpression)
    }

    public var kind: Kind
    /// Each run starts up to this much after its slot, at random.
    public var jitter: Duration = .zero
    /// Run once when the service starts, before the first slot.
    public var runAtStart = false

    public init(_ kind: Kind, jitter: Duration = .zero, runAtStart: Bool = false) {
        self.kind = kind
        self.jitter = jitter
        self.runAtStart = runAtStart
    }

    /// What to do next, after the slot `last` (nil before the first) at the time `now`.
    public struct Decision: Sendable, Equatable {
        /// The slot this run stands for.
        public var slot: Date
        /// When to start it: the slot plus jitter, or now when slots were missed.
        public var start: Date
        /// Slots that passed without a run (the service was busy with a long run, or the
        /// machine slept): they are not made up one by one; one run stands for them all.
        public var missed: Int
    }

    /// The next run. Slots stay on their grid (an interval's slots are its multiples since the
    /// Unix epoch, not counted from the end of the last run, so runs do not drift, and every
    /// node of a shared store has the same slots); a slot already past is run at once, once.
    public func next(after last: Date?, now: Date, calendar: Calendar = .current,
                     random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Decision {
        var slot: Date
        switch kind {
        case .every(let interval):
            let seconds = interval.secondsValue
            // The first slot is on the interval's grid from the Unix epoch (every 15m: at :00,
            // :15, :30, :45 UTC), not counted from the start: nodes sharing a store then agree
            // on the slots, and each slot is run once, by whichever node takes the run lock.
            slot = last?.addingTimeInterval(seconds)
                ?? Date(timeIntervalSince1970: ((now.timeIntervalSince1970 / seconds).rounded(.down) + 1) * seconds)
            if slot <= now {
                // Past slots: the latest one not after now stands for them.
                let behind = Int((now.timeIntervalSince(slot) / seconds).rounded(.down))
                slot = slot.addingTimeInterval(Double(behind) * seconds)
                return Decision(slot: slot, start: now, missed: behind)
            }
        case .cron(let expression):
            slot = expression.next(after: last ?? now, calendar: calendar)
            if slot <= now {
                var missed = 0
                var following = expression.next(after: slot, calendar: calendar)
                while following <= now && missed < 100_000 {
                    slot = following
                    following = expression.next(after: slot, calendar: calendar)
                    missed += 1
                }
                return Decision(slot: slot, start: now, missed: missed)
            }
        }
        let delay = jitter > .zero ? random(0...jitter.secondsValue) : 0
        return Decision(slot: slot, start: slot.addingTimeInterval(delay), missed: 0)
    }

    /// How long after a failed run to try again (30 s, 1 min, 2 min, … at most 15 min), or nil
    /// when that would reach the next slot: the slot's run is the next try.
    public static func retryDelay(attempt: Int, failedAt: Date, nextSlot: Date) -> Duration? {
        let seconds = min(900, 30 * pow(2, Double(max(0, attempt - 1))))
        guard failedAt.addingTimeInterval(seconds) < nextSlot else { return nil }
        return .milliseconds(Int(seconds * 1000))
    }
}

extension Schedule: CustomStringConvertible {
    public var description: String {
        var text: String
        switch kind {
        case .every(let interval): text = "every \(Schedule.format(interval))"
        case .cron(let expression): text = "cron '\(expression.text)'"
        }
        if jitter > .zero { text += ", jitter \(Schedule.format(jitter))" }
        if runAtStart { text += ", and at start" }
        return text
    }

    /// `15m`, `1h30m`, `45s`.
    public static func format(_ duration: Duration) -> String {
        var seconds = Int(duration.secondsValue.rounded())
        var text = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] where seconds >= size {
            text += "\(seconds / size)\(unit)"
            seconds %= size
        }
        if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
        return text
    }

    /// `90s`, `15m`, `1h`, `1h30m`, `2d`, or a number of seconds; nil if it is not one.
    public static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Double(trimmed), seconds >= 0 { return .milliseconds(Int(seconds * 1000)) }
        var total = 0.0
        var number = ""
        var any = false
        for c in trimmed {
            if c.isNumber || c == "." {
                number.append(c)
            } else {
                guard let value = Double(number) else { return nil }
                switch c {
                case "s": total += value
                case "m": total += value * 60
                case "h": total += value * 3600
                case "d": total += value * 86400
                default: return nil
                }
                number = ""
                any = true
            }
        }
        guard any, number.isEmpty else { return nil }
        return .milliseconds(Int(total * 1000))
    }
}
