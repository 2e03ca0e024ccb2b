import ArgumentParser
import Foundation
import LDAP
import UserSync

struct MappingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapping",
        abstract: "Work with the configuration and mapping file.",
        subcommands: [Check.self, Preview.self, Init.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration file and print every problem with its line.",
            discussion: """
            Reads the whole file and reports every unknown or misspelt key (with the nearest valid one), missing required key, wrong value, bad filter or DN, and mapping that cannot work, each as FILE:LINE:COLUMN: key: problem; and every password, token or client secret file that is missing, unreadable, empty, or open to other users (chmod 600 it). Then, for each source whose directory answers, checks every attribute the mapping reads against the server's schema (--offline skips this). Exit code 0 when the file is valid, 2 when it is not.

            Editors that understand JSON Schema complete and check the file as you type with schemas/usersync.schema.json (add '# yaml-language-server: $schema=…/usersync.schema.json' at the top).
            """
        )

        @OptionGroup var config: ConfigOptions
        @Flag(name: .customLong("offline"), help: "Do not contact the directories (skip the schema check).")
        var offline = false
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var file: String?
            var valid: Bool
            var sources: [String]
            var problems: [ConfigProblem]
            /// Sources whose attribute names were checked against the server's schema.
            var schemaChecked: [String] = []
            /// Why a source's schema was not checked.
            var notes: [String] = []
        }

        func run() async throws {
            guard let path = config.located else {
                let failure = CommandFailure(status: .configuration,
                                             message: "no configuration file: give --config FILE, set USERSYNC_CONFIG, or create ./usersync.yaml")
                if output.json {
                    Output.printJSON(Report(file: nil, valid: false, sources: [],
                                            problems: [ConfigProblem(file: "", line: nil, column: nil, path: "", message: failure.message)]))
                } else {
                    Output.write("error: \(failure.message)\n", to: .standardError)
                }
                throw failure.status.exitCode
            }
            var report: Report
            do {
                let loaded = try ConfigLoader.load(path)
                report = Report(file: path, valid: true, sources: loaded.sources.map(\.name), problems: [])
                // Secret files: missing, unreadable or open to other users (not contacted: local files).
                report.problems += loaded.secretFileProblems(file: path)
                let sources = config.source == nil ? loaded.sources : [try config.selectedSource(in: loaded)]
                for source in sources where !offline {
                    var quick = source
                    if case .ldap(var directory) = quick.kind {
                        directory.connection.connectTimeout = min(directory.connection.connectTimeout, Duration.seconds(5))
                        quick.kind = .ldap(directory)
                    }
                    do {
                        report.problems += try await MappingDiagnostics.checkSchema(loaded, source: quick)
                        report.schemaChecked.append(source.name)
                    } catch {
                        report.notes.append("\(source.name): attribute names not checked against the server's schema: \(error)")
                    }
                }
                report.valid = report.problems.isEmpty
            } catch let error as ConfigErrors {
                report = Report(file: path, valid: false, sources: [], problems: error.problems)
            }
            if output.json {
                Output.printJSON(report)
            } else if report.valid {
                for note in report.notes { Output.write("note: \(note)\n", to: .standardError) }
                let checked = report.schemaChecked.isEmpty ? "" : "; attribute names found in the schema (a CSV source: the header) of \(report.schemaChecked.joined(separator: ", "))"
                Output.write("\(path): valid (\(report.sources.count) source\(report.sources.count == 1 ? "" : "s"): \(report.sources.joined(separator: ", "))\(checked))\n",
                             to: .standardOutput)
            } else {
                let lines = report.problems.map { $0.description }.joined(separator: "\n")
                Output.write("\(lines)\n\(path): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")\n", to: .standardError)
            }
            if !report.valid { throw ExitStatus.configuration.exitCode }
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Map a few live entries and show them beside the source attributes.",
            discussion: """
            Reads the first entries of a source's user search (or of --filter) and prints, for each, every mapped field with the attribute values it came from. Flags entries a sync would skip (a missing required field, no stable id) and username conflicts (between the entries shown, or with users already in the store). Changes nothing.
              usersync mapping preview --source corp
              usersync mapping preview --source corp --filter '(sAMAccountName=alice)'
            """
        )

        @OptionGroup var config: ConfigOptions
        @Option(name: [.customShort("n"), .customLong("limit")], help: ArgumentHelp("How many entries.", valueName: "n"))
        var limit: Int = 10
        @Option(name: [.customShort("f"), .customLong("filter")],
                help: ArgumentHelp("Preview the entries of this filter instead of the source's.", valueName: "filter"))
        var filter: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let configuration = try config.load()
            let source = try config.selectedSource(in: configuration)
            if let filter {
                do { _ = try LDAPFilter.check(filter) } catch {
                    throw CommandFailure(status: .configuration, message: "--filter: \(error.reason)")
                }
            }
            // Conflicts with stored users are shown when the store is there (a preview never creates one).
            let store = (try? await UserStore.openExisting(configuration.store)) ?? nil
            let items: [MappingDiagnostics.PreviewItem]
            do {
                items = try await MappingDiagnostics.preview(source, limit: limit, filter: filter, store: store)
            } catch let error as LDAPError {
                throw CommandFailure(status: ExitStatus(error.kind, operation: error.operation),
                                     message: error.description + (error.hint.map { "\nhint: \($0)" } ?? ""))
            } catch let error as Secrets.Unavailable {
                throw CommandFailure(status: .configuration, message: error.description)
            } catch {
                let failure = SyncFailure(error)
                throw CommandFailure(status: ExitStatus(failure.kind), message: failure.message)
            }
            if output.json {
                Output.printJSON(items)
                return
            }
            var text = ""
            for item in items {
                text += "\(item.dn)\n"
                let width = max(item.fields.map(\.field.count).max() ?? 0, 5)
                let valueWidth = min(max(item.fields.map { ($0.value ?? "∅").count }.max() ?? 0, 10), 40)
                for field in item.fields {
                    let from = field.from.keys.sorted().map { name in
                        let values = field.from[name]!
                        return "\(name): " + (values.isEmpty ? "(absent)" : values.joined(separator: " | "))
                    }.joined(separator: "; ")
                    let mark = field.value == nil && field.required ? "!" : " "
                    text += " \(mark)\(Output.pad(field.field, width))  \(Output.pad(field.value ?? "∅", valueWidth))  ← \(from)\n"
                }
                text += "  \(Output.pad("id", width))  \(item.externalId ?? "∅")\n"
                text += "  \(Output.pad("state", width))  \(item.state)\n"
                if let reason = item.skipReason { text += "  SKIPPED by a sync: \(reason)\n" }
                if let conflict = item.conflict { text += "  CONFLICT: \(conflict)\n" }
                text += "\n"
            }
            let skipped = items.filter { $0.skipReason != nil }.count
            let conflicts = items.filter { $0.conflict != nil }.count
            text += "\(items.count) entr\(items.count == 1 ? "y" : "ies") previewed"
            text += skipped + conflicts == 0 ? "; all would sync\n" : ": \(skipped) would be skipped, \(conflicts) with a username conflict\n"
            if items.isEmpty {
                text = source.ldap.map { "the search found no entries (base '\($0.users.base)', filter '\(filter ?? $0.users.filter)')\n" }
                    ?? "the source sent no records (\(source.origin))\n"
            }
            Output.write(text, to: .standardOutput)
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a commented starter mapping from the directory's schema and a sample entry.",
            discussion: """
            Connects with the source's settings (uri, bindDN, password, TLS, users.base), recognises Active Directory or OpenLDAP, reads one entry, and writes users, mapping and options keys with the usual attributes of that kind of directory, each with its sample value as a comment, and the sample's other attributes commented out, ready to keep.
              usersync mapping init --source corp                   # to standard output
              usersync mapping init --source corp -o corp-mapping.yaml
            """
        )

        @OptionGroup var config: ConfigOptions
        @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Write to this file (not overwritten without --force).", valueName: "file"))
        var outputFile: String?
        @Flag(name: .customLong("force"), help: "Overwrite the output file.")
        var force = false

        func run() async throws {
            let configuration = try config.load()
            let source = try config.selectedSource(in: configuration)
            guard source.type == .ldap else {
                throw CommandFailure(status: .configuration,
                                     message: "mapping init reads a directory's schema; the source '\(source.name)' is type \(source.type.rawValue): write its mapping from the file's header ('usersync test-bind --source \(source.name)' lists the columns)")
            }
            let text: String
            do {
                text = try await MappingStarter.generate(source)
            } catch let error as LDAPError {
                throw CommandFailure(status: ExitStatus(error.kind, operation: error.operation),
                                     message: error.description + (error.hint.map { "\nhint: \($0)" } ?? ""))
            } catch let error as Secrets.Unavailable {
                throw CommandFailure(status: .configuration, message: error.description)
            }
            guard let outputFile else {
                Output.write(text, to: .standardOutput)
                return
            }
            if FileManager.default.fileExists(atPath: outputFile) && !force {
                throw CommandFailure(status: .failure, message: "\(outputFile) exists: give --force to overwrite it")
            }
            guard FileManager.default.createFile(atPath: outputFile, contents: Data(text.utf8)) else {
                throw CommandFailure(status: .failure, message: "cannot write \(outputFile)")
            }
            Output.write("wrote \(outputFile)\n", to: .standardError)
        }
    }
}
