import Foundation
import UserSync

/// A live progress line on a terminal: source, phase, entries, pages, rate, elapsed time,
/// redrawn at most ten times a second and erased when the run ends. Only when standard output
/// is a terminal (and not with --json): a pipe or a log file never sees it.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    /// A progress line when standard output is a terminal that can redraw, else nil.
    static func forTerminal(json: Bool) -> ProgressLine? {
        guard !json, isatty(STDOUT_FILENO) == 1, ProcessInfo.processInfo.environment["TERM"] != "dumb" else { return nil }
        return ProgressLine()
    }

    func update(_ progress: SyncProgress) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(100) || progress.phase == .writing else { return }
        lastDraw = now
        var text = "\(progress.source): \(progress.phase.rawValue)"
        if progress.entries > 0 {
            text += "  \(ProgressLine.group(progress.entries)) entries, \(progress.pages) page\(progress.pages == 1 ? "" : "s")"
            if progress.elapsed > 0.2 { text += ", \(ProgressLine.group(Int(Double(progress.entries) / progress.elapsed)))/s" }
        }
        if progress.groups > 0 { text += "  \(ProgressLine.group(progress.groups)) groups" }
        text += String(format: "  %.1f s", progress.elapsed)
        // Carriage return, the line, and erase what a longer previous line left.
        Output.write("\r\(text)\u{1B}[K", to: .standardOutput)
        drawn = true
    }

    /// Erases the line (before the report is printed).
    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { Output.write("\r\u{1B}[K", to: .standardOutput) }
        drawn = false
    }

    /// 1234567 → "1,234,567".
    static func group(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }
}

/// The table that ends a sync on a terminal: one row per source.
enum SummaryTable {
    static func render(_ reports: [SyncReport]) -> String {
        let header = ["source", "status", "read", "created", "updated", "deactivated", "reactivated", "unchanged", "skipped", "seconds"]
        var rows = [header]
        for r in reports {
            let u = r.users
            let failed = r.status == .failed
            rows.append([r.source, r.status.rawValue, ProgressLine.group(r.entriesRead)]
                + (failed ? Array(repeating: "–", count: 6) : [u.created, u.updated, u.deactivated, u.reactivated, u.unchanged, u.skipped].map(ProgressLine.group))
                + [String(format: "%.2f", r.durationSeconds)])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                i < 2 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }
        var text = line(rows[0]) + "\n" + widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows.dropFirst() { text += line(row) + "\n" }
        return text
    }
}
