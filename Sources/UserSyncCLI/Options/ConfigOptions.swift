import ArgumentParser
import UserSync

/// `--config FILE`, shared by every command that reads the configuration.
struct ConfigFileOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .customLong("config")],
            help: ArgumentHelp("Configuration file (default: $USERSYNC_CONFIG, ./usersync.yaml, /etc/usersync/usersync.yaml).",
                               valueName: "file"))
    var config: String?

    /// The configuration file to use, or nil when none is named or found.
    var located: String? { ConfigLoader.locate(explicit: config) }

    /// Loads the configuration; problems become a configuration failure listing each one.
    func load() throws -> Configuration {
        guard let path = located else {
            throw CommandFailure(status: .configuration,
                                 message: "no configuration file: give --config FILE, set USERSYNC_CONFIG, or create ./usersync.yaml or /etc/usersync/usersync.yaml ('usersync mapping init' writes a starter)")
        }
        do {
            return try ConfigLoader.load(path)
        } catch {
            throw CommandFailure(status: .configuration, message: "\(path) has \(error.problems.count) problem(s):\n\(error.description)")
        }
    }

    /// The store the configuration names, opened (and created or migrated when needed).
    func openStore(_ configuration: Configuration) async throws -> UserStore {
        do {
            return try await UserStore.open(configuration.store)
        } catch let error as StoreError {
            throw CommandFailure(status: .configuration, message: "\(configuration.file): store: \(error)")
        } catch {
            let failure = SyncFailure(error)
            throw CommandFailure(status: ExitStatus(failure.kind),
                                 message: "cannot open the store '\(configuration.store.name)': \(failure.message)")
        }
    }
}

/// `--config FILE` and one `--source NAME`, for commands that work on one source.
struct ConfigOptions: ParsableArguments {
    @OptionGroup var file: ConfigFileOptions

    @Option(name: .customLong("source"), help: ArgumentHelp("A source of the configuration, by name.", valueName: "name"))
    var source: String?

    var config: String? { file.config }
    var located: String? { file.located }
    func load() throws -> Configuration { try file.load() }

    /// The source named by --source, or the only one.
    func selectedSource(in configuration: Configuration) throws -> SourceSettings {
        try configuration.sources(named: source.map { [$0] } ?? []).first!
    }
}

extension Configuration {
    /// The sources named (all of them when `names` is empty), or a configuration failure naming
    /// the unknown one with the nearest real name.
    func sources(named names: [String], allowSeveral: Bool = false) throws -> [SourceSettings] {
        let all = sources.map(\.name)
        if names.isEmpty {
            guard sources.count == 1 || allowSeveral else {
                throw CommandFailure(status: .configuration,
                                     message: "\(file) has several sources (\(all.joined(separator: ", "))): name one with --source")
            }
            return sources
        }
        return try names.map { name in
            guard let found = source(named: name) else {
                let hint = ConfigLoader.suggestion(for: name, in: all).map { " Did you mean '\($0)'?" } ?? ""
                throw CommandFailure(status: .configuration,
                                     message: "\(file) has no source '\(name)' (it has: \(all.joined(separator: ", "))).\(hint)")
            }
            return found
        }
    }
}
