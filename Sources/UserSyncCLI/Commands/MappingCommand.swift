import ArgumentParser
import Foundation
import UserSync

struct MappingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapping",
        abstract: "Work with the configuration and mapping file.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration file and print every problem with its line.",
            discussion: """
            Reads the whole file and reports every unknown or misspelt key (with the nearest valid one), missing required key, wrong value, bad filter or DN, and mapping that cannot work, each as FILE:LINE:COLUMN: key: problem. Exit code 0 when the file is valid, 2 when it is not.

            Editors that understand JSON Schema complete and check the file as you type with schemas/usersync.schema.json (add '# yaml-language-server: $schema=…/usersync.schema.json' at the top).
            """
        )

        @OptionGroup var config: ConfigOptions
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var file: String?
            var valid: Bool
            var sources: [String]
            var problems: [ConfigProblem]
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
            let report: Report
            do {
                let loaded = try ConfigLoader.load(path)
                report = Report(file: path, valid: true, sources: loaded.sources.map(\.name), problems: [])
            } catch {
                report = Report(file: path, valid: false, sources: [], problems: error.problems)
            }
            if output.json {
                Output.printJSON(report)
            } else if report.valid {
                Output.write("\(path): valid (\(report.sources.count) source\(report.sources.count == 1 ? "" : "s"): \(report.sources.joined(separator: ", ")))\n",
                             to: .standardOutput)
            } else {
                let lines = report.problems.map { $0.description }.joined(separator: "\n")
                Output.write("\(lines)\n\(path): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")\n", to: .standardError)
            }
            if !report.valid { throw ExitStatus.configuration.exitCode }
        }
    }
}
