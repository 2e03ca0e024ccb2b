import Foundation
import LDAP
import Yams

/// Finds and reads the configuration file.
public enum ConfigLoader {
    /// The valid name nearest to a misspelt one, for "did you mean" hints.
    public static func suggestion(for word: String, in candidates: [String]) -> String? {
        nearest(word, in: candidates)
    }

    /// Where a configuration file is looked for when none is named: `$USERSYNC_CONFIG`,
    /// `./usersync.yaml`, `/etc/usersync/usersync.yaml`.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit { return explicit }
        if let fromEnvironment = environment["USERSYNC_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        for candidate in ["usersync.yaml", "/etc/usersync/usersync.yaml"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return nil
    }

    /// Reads and checks a file; throws `ConfigErrors` listing every problem found.
    public static func load(_ path: String) throws(ConfigErrors) -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, column: nil, path: "",
                                              message: FileManager.default.fileExists(atPath: path)
                                                  ? "cannot read the file (permissions?)" : "no such file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, column: nil, path: "", message: "the file is not UTF-8 text")])
        }
        return try parse(text, file: path)
    }

    /// Reads a configuration from text (`file` names it in messages).
    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> Configuration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigErrors([ConfigProblem(file: file, line: nil, column: nil, path: "", message: "the file is empty")])
            }
            root = node
        } catch let errors as ConfigErrors {
            throw errors
        } catch let error as YamlError {
            throw ConfigErrors([yamlProblem(error, file: file)])
        } catch {
            throw ConfigErrors([ConfigProblem(file: file, line: nil, column: nil, path: "", message: "\(error)")])
        }
        var reader = ConfigReader(file: file)
        let configuration = reader.configuration(root)
        if !reader.problems.isEmpty || configuration == nil {
            throw ConfigErrors(reader.problems)
        }
        return configuration!
    }

    static func yamlProblem(_ error: YamlError, file: String) -> ConfigProblem {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigProblem(file: file, line: mark.line, column: mark.column, path: "", message: "not valid YAML: \(text)")
        default:
            return ConfigProblem(file: file, line: nil, column: nil, path: "", message: "not valid YAML: \(error)")
        }
    }
}
