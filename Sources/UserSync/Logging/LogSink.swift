import Foundation
import Logging

/// Where usersync's log goes: standard error (human lines on a terminal, JSON lines
/// otherwise, for journald, Kubernetes and log shippers) and, when a directory is configured,
/// one JSON-lines file a day (`usersync-YYYY-MM-DD.log`), older files removed after
/// `retentionDays`. Messages never contain secrets: passwords are read by `Secrets` and go
/// only to the bind.
public final class LogSink: @unchecked Sendable {
    public enum Format: Sendable { case human, json }

    private let lock = NSLock()
    private let format: Format
    private let directory: String?
    private let retentionDays: Int
    private var currentDay = ""
    private var file: FileHandle?
    private var warnedAboutFile = false
    private var _consoleLevel: Logger.Level = .trace

    /// Standard error gets messages at this level and above; the file gets all.
    public var consoleLevel: Logger.Level {
        get { lock.lock(); defer { lock.unlock() }; return _consoleLevel }
        set { lock.lock(); defer { lock.unlock() }; _consoleLevel = newValue }
    }

    /// Whether standard error is a terminal (human lines).
    public var isTerminal: Bool { format == .human }

    /// `format` nil chooses human on a terminal, JSON otherwise.
    public init(format: Format? = nil, directory: String? = nil, retentionDays: Int = 30) {
        self.format = format ?? (isatty(STDERR_FILENO) != 0 ? .human : .json)
        self.retentionDays = retentionDays
        // A missing log directory is created; one that cannot be is reported once and the
        // log goes to standard error only, rather than failing the sync.
        if let directory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o750])
                self.directory = directory
            } catch {
                FileHandle.standardError.write(Data("usersync: warning: cannot create the log directory '\(directory)' (\(error.localizedDescription)); logging to standard error only\n".utf8))
                self.directory = nil
            }
        } else {
            self.directory = nil
        }
    }

    /// The day's log file in `directory`.
    public static func fileName(for date: Date) -> String {
        "usersync-\(day(date)).log"
    }

    static func day(_ date: Date) -> String {
        String(date.ISO8601Format(.iso8601Date(timeZone: .gmt)).prefix(10))
    }

    /// Removes log files older than the retention; returns the names removed.
    @discardableResult
    public func prune(now: Date = Date()) -> [String] {
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        let oldest = LogSink.day(now.addingTimeInterval(-Double(retentionDays) * 86_400))
        var removed: [String] = []
        for name in names where name.hasPrefix("usersync-") && name.hasSuffix(".log") {
            let day = String(name.dropFirst("usersync-".count).dropLast(".log".count))
            if day.count == 10, day < oldest {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                removed.append(name)
            }
        }
        return removed
    }

    func write(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, date: Date = Date()) {
        let time = date.ISO8601Format(.init(includingFractionalSeconds: true))
        var object: [String: String] = ["time": time, "level": level.rawValue, "message": message]
        for (key, value) in metadata { object[key] = "\(value)" }
        let json = LogSink.jsonLine(object)
        let text: String
        switch format {
        case .json:
            text = json
        case .human:
            let fields = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let clock = String(time.dropFirst(11).prefix(8))
            text = "\(clock) \(level.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(message)" + (fields.isEmpty ? "" : "  \(fields)") + "\n"
        }
        lock.lock()
        defer { lock.unlock() }
        if level >= _consoleLevel { FileHandle.standardError.write(Data(text.utf8)) }
        if let directory {
            let day = LogSink.day(date)
            if day != currentDay || file == nil {
                try? file?.close()
                let path = "\(directory)/usersync-\(day).log"
                if !FileManager.default.fileExists(atPath: path) {
                    _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
                }
                file = FileHandle(forWritingAtPath: path)
                _ = try? file?.seekToEnd()
                currentDay = day
            }
            if let file {
                file.write(Data(json.utf8))
            } else if !warnedAboutFile {
                warnedAboutFile = true
                FileHandle.standardError.write(Data("usersync: warning: cannot open the log file in '\(directory)' (permissions?); logging to standard error only\n".utf8))
            }
        }
    }

    static func jsonLine(_ object: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(object)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A swift-log handler writing to this sink.
    public func handler(label: String, level: Logger.Level) -> any LogHandler {
        SinkLogHandler(sink: self, label: label, logLevel: level)
    }
}

struct SinkLogHandler: LogHandler {
    let sink: LogSink
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        sink.write(level: event.level, label: label, message: event.message.description, metadata: merged)
    }
}
