import ArgumentParser
import Foundation
import UserSync

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Work on the store itself: move a SQLite store into PostgreSQL.",
        subcommands: [Migrate.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy a SQLite store, history included, into the PostgreSQL store of the configuration.",
            discussion: """
            Every table is copied (users, groups, memberships, fingerprints, runs, changes and the records kept), with its ids, in one PostgreSQL transaction that commits only when each table's row count equals the SQLite file's. The PostgreSQL store must be empty: nothing there is replaced. The SQLite file is only read, under its run lock (stop 'usersync serve' first, or the copy waits for its run); it stays as it was, a backup.

            Then point every node at the PostgreSQL store (store.postgres) and start them.
              usersync store migrate --from sqlite:/var/lib/usersync/users.db --config /etc/usersync/usersync.yaml
            """
        )

        @Option(name: .customLong("from"), help: ArgumentHelp("The SQLite store to copy: sqlite:PATH (or the path).", valueName: "sqlite:PATH"))
        var from: String

        @OptionGroup var file: ConfigFileOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = from.hasPrefix("sqlite:") ? String(from.dropFirst("sqlite:".count)) : from
            guard FileManager.default.fileExists(atPath: path) else {
                throw CommandFailure(status: .configuration, message: "--from: no SQLite store at '\(path)'")
            }
            let configuration = try file.load()
            guard case .postgres = configuration.store else {
                throw CommandFailure(status: .configuration,
                                     message: "\(configuration.file): the store is '\(configuration.store.name)', not PostgreSQL: set store.postgres to the store to copy into")
            }
            let source: UserStore
            do {
                source = try UserStore(path: path)
            } catch {
                throw CommandFailure(status: .failure, message: "cannot open the SQLite store '\(path)': \(error)")
            }
            let target = try await file.openStore(configuration)
            let result: StoreCopy.Result
            do {
                result = try await StoreCopy.copy(from: source, to: target) { table, rows in
                    if !output.json && isatty(2) != 0 { Output.write("\r\u{1B}[K  \(table): \(rows) rows", to: .standardError) }
                }
            } catch let error as StoreCopy.Refused {
                throw CommandFailure(status: .failure, message: "\(error.description)")
            } catch {
                let failure = SyncFailure(error)
                throw CommandFailure(status: ExitStatus(failure.kind), message: "the copy failed, nothing was written: \(failure.message)")
            }
            if output.json {
                Output.printJSON(result)
                return
            }
            if isatty(2) != 0 { Output.write("\r\u{1B}[K", to: .standardError) }
            var text = "copied \(path) into \(result.to), every count checked:\n"
            for table in result.tables.keys.sorted() {
                text += "  \(table.padding(toLength: 24, withPad: " ", startingAt: 0)) \(result.tables[table]!)\n"
            }
            Output.write(text, to: .standardOutput)
        }
    }
}
