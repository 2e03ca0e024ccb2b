import ArgumentParser
import Logging
import UserSync

/// `--verbose` / `--quiet`, and the log set-up of the commands that run syncs.
struct LogOptions: ParsableArguments {
    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Log each page read, and log to the terminal at info level.")
    var verbose = false

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Log only errors to standard error (the log file keeps everything).")
    var quiet = false

    /// Sends swift-log's output to standard error and the configured daily file.
    /// Human lines on a terminal (warnings and errors unless --verbose), JSON lines otherwise.
    func bootstrap(_ configuration: Configuration?) -> Logger {
        let settings = configuration?.log
        let sink = LogSink(directory: settings?.directory, retentionDays: settings?.retentionDays ?? 30)
        let console: Logger.Level = quiet ? .error : verbose ? .debug : (sink.isTerminal ? .warning : .info)
        sink.consoleLevel = console
        let level: Logger.Level = verbose ? .debug : .info
        LoggingSystem.bootstrap { label in sink.handler(label: label, level: level) }
        sink.prune()
        return Logger(label: "usersync")
    }
}
