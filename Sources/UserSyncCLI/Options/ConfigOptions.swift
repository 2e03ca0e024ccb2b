import ArgumentParser
import UserSync

/// `--config FILE` and `--source NAME`, shared by the commands that read the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .customLong("config")],
            help: ArgumentHelp("Configuration file (default: $USERSYNC_CONFIG, ./usersync.yaml, /etc/usersync/usersync.yaml).",
                               valueName: "file"))
    var config: String?

    @Option(name: .customLong("source"), help: ArgumentHelp("A source of the configuration, by name.", valueName: "name"))
    var source: String?

    /// The configuration file to use, or nil when none is named or found.
    var located: String? { ConfigLoader.locate(explicit: config) }

    /// Loads the configuration; problems become a configuration failure listing each one.
    func load() throws -> Configuration {
        guard let path = located else {
            throw CommandFailure(status: .configuration,
                                 message: "no configuration file: give --config FILE, set USERSYNC_CONFIG, or create ./usersync.yaml or /etc/usersync/usersync.yaml")
        }
        do {
            return try ConfigLoader.load(path)
        } catch {
            throw CommandFailure(status: .configuration, message: "\(path) has \(error.problems.count) problem(s):\n\(error.description)")
        }
    }

    /// The source named by --source, or the only one.
    func selectedSource(in configuration: Configuration) throws -> SourceSettings {
        let names = configuration.sources.map(\.name)
        if let name = source {
            guard let found = configuration.source(named: name) else {
                let hint = ConfigLoader.suggestion(for: name, in: names).map { " Did you mean '\($0)'?" } ?? ""
                throw CommandFailure(status: .configuration,
                                     message: "\(configuration.file) has no source '\(name)' (it has: \(names.joined(separator: ", "))).\(hint)")
            }
            return found
        }
        guard configuration.sources.count == 1 else {
            throw CommandFailure(status: .configuration,
                                 message: "\(configuration.file) has several sources (\(names.joined(separator: ", "))): name one with --source")
        }
        return configuration.sources[0]
    }
}
