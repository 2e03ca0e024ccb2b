import Foundation

/// A five-field cron expression as crontab(5) writes it: minute, hour, day of month, month, day
/// of week; `*`, lists (`1,15`), ranges (`1-5`), steps (`*/15`, `0-30/10`), month and day names
/// (`jan`, `mon-fri`), 0 or 7 for Sunday, and the macros `@hourly`, `@daily` (`@midnight`),
/// `@weekly`, `@monthly`, `@yearly` (`@annually`). As in Vixie cron, when both the day of the
/// month and the day of the week are restricted, a day matching either one matches.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 = Sunday … 6 = Saturday.
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public var description: String { text }

    static let macros = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                         "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Parses an expression; the error says which field is wrong and why.
    public init(_ text: String) throws(CronError) {
        self.text = text
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let expanded = CronExpression.macros[trimmed] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronError(expression: text, message: "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @hourly, found \(fields.count)")
        }
        minutes = try CronExpression.field(fields[0], name: "minute", range: 0...59, names: [], expression: text)
        hours = try CronExpression.field(fields[1], name: "hour", range: 0...23, names: [], expression: text)
        daysOfMonth = try CronExpression.field(fields[2], name: "day of month", range: 1...31, names: [], expression: text)
        months = try CronExpression.field(fields[3], name: "month", range: 1...12, names: CronExpression.monthNames, expression: text)
        let days = try CronExpression.field(fields[4], name: "day of week", range: 0...7, names: CronExpression.dayNames, expression: text)
        daysOfWeek = Set(days.map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*" && !fields[2].hasPrefix("*/")
        dayOfWeekRestricted = fields[4] != "*" && !fields[4].hasPrefix("*/")
        // A date that never comes (30 February) would make next(after:) search for ever.
        let longest = months.map { [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31][$0]! }.max()!
        if dayOfMonthRestricted && !dayOfWeekRestricted && daysOfMonth.min()! > longest {
            throw CronError(expression: text, message: "no month of \(fields[3]) has a day \(daysOfMonth.min()!): it would never run")
        }
    }

    static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String],
                      expression: String) throws(CronError) -> Set<Int> {
        var values = Set<Int>()
        func value(_ token: Substring) throws(CronError) -> Int {
            if let number = Int(token) { return number }
            if let index = names.firstIndex(of: String(token)) { return index + (range.lowerBound == 1 ? 1 : 0) }
            throw CronError(expression: expression, message: "\(name): '\(token)' is not a number\(names.isEmpty ? "" : " or a name (\(names.prefix(3).joined(separator: ", ")), …)")")
        }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var body = part
            var step = 1
            if let slash = part.firstIndex(of: "/") {
                body = part[..<slash]
                guard let n = Int(part[part.index(after: slash)...]), n > 0 else {
                    throw CronError(expression: expression, message: "\(name): the step in '\(part)' must be a whole number above 0")
                }
                step = n
            }
            var low = range.lowerBound, high = range.upperBound
            if body == "*" {
                // the whole range
            } else if let dash = body.firstIndex(of: "-") {
                low = try value(body[..<dash])
                high = try value(body[body.index(after: dash)...])
            } else {
                low = try value(body)
                high = part.contains("/") ? range.upperBound : low
            }
            guard range.contains(low), range.contains(high), low <= high else {
                throw CronError(expression: expression, message: "\(name): '\(part)' is outside \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    /// The first minute strictly after `date` that the expression names, in `calendar`'s time
    /// zone (crontab's local time).
    public func next(after date: Date, calendar: Calendar = .current) -> Date {
        var calendar = calendar
        calendar.locale = Locale(identifier: "en_US_POSIX")
        // The next whole minute.
        var current = calendar.dateInterval(of: .minute, for: date)!.end
        // Each step moves to the start of the next month, day, hour or minute that may match;
        // 4 years of days bound the search (every valid expression matches within 4 years).
        for _ in 0..<(366 * 4 * 24 * 4) {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: current)
            if !months.contains(c.month!) {
                current = calendar.dateInterval(of: .month, for: current)!.end
                continue
            }
            if !dayMatches(day: c.day!, weekday: c.weekday! - 1) {
                current = calendar.dateInterval(of: .day, for: current)!.end
                continue
            }
            if !hours.contains(c.hour!) {
                current = calendar.dateInterval(of: .hour, for: current)!.end
                continue
            }
            if !minutes.contains(c.minute!) {
                current = calendar.date(byAdding: .minute, value: 1, to: current)!
                continue
            }
            return current
        }
        return .distantFuture
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return daysOfMonth.contains(day) && daysOfWeek.contains(weekday)
        }
    }
}

public struct CronError: Error, CustomStringConvertible, Sendable {
    public let expression: String
    public let message: String
    public var description: String { "cron '\(expression)': \(message)" }
}
