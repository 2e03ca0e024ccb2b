import Foundation
import Logging
import NIOConcurrencyHelpers

/// Reads bind passwords from a file or an environment variable. Passwords are never logged,
/// printed or stored by usersync.
///
/// A password file that other users may read (or anyone but its owner may write) is used, with
/// a warning logged once per file and process, as ssh warns of a private key: `chmod 600` it.
/// `mapping check` reports it as a problem (`exposure(of:)`).
public enum Secrets {
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The password from `file` or from the variable `environmentVariable`; nil when neither is given.
    /// One trailing newline of a file is ignored: `ldapsearch -y` uses the file byte for byte,
    /// so the newline every editor adds becomes part of the password, a classic bind failure.
    public static func password(file: String?, environmentVariable: String?,
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws(Unavailable) -> String? {
        if let file {
            if let exposure = exposure(of: file) { warnOnce(file, exposure) }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Unavailable(description: FileManager.default.fileExists(atPath: file)
                    ? "cannot read the password file '\(file)' (permissions?)" : "the password file '\(file)' does not exist")
            }
            guard var text = String(data: data, encoding: .utf8) else {
                throw Unavailable(description: "the password file '\(file)' is not UTF-8 text")
            }
            // "\r\n" is one Character in Swift, so one removeLast drops either ending.
            if text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else { throw Unavailable(description: "the password file '\(file)' is empty") }
            return text
        }
        if let name = environmentVariable {
            guard let value = environment[name], !value.isEmpty else {
                throw Unavailable(description: "the environment variable \(name) is not set (or empty)")
            }
            return value
        }
        return nil
    }

    /// Why a secret file is exposed, or nil when only its owner can read and write it (or it
    /// does not exist: reading it says so). Readable by others, or writable by the group or
    /// others (who could swap the password for one they know, or read the next one written).
    public static func exposure(of file: String) -> String? {
        var info = stat()
        guard stat(file, &info) == 0 else { return nil }
        let mode = info.st_mode & 0o777
        guard mode & 0o007 != 0 || mode & 0o020 != 0 else { return nil }
        let who = mode & 0o004 != 0 ? "readable by every user of the machine" : mode & 0o002 != 0 ? "writable by every user" : mode & 0o020 != 0 ? "writable by its group" : "open to other users"
        return "the secret file '\(file)' is \(who) (mode \(String(mode, radix: 8))): run 'chmod 600 \(file)' (or 640 with a group of its own)"
    }

    /// The files warned of in this process (a service reads its password at every run).
    private static let warned = NIOLockedValueBox<Set<String>>([])

    private static func warnOnce(_ file: String, _ message: String) {
        guard warned.withLockedValue({ $0.insert(file).inserted }) else { return }
        Logger(label: "usersync").warning("\(message)")
    }
}

extension SourceSettings {
    /// The secret files the source names, with their keys: the bind password, a bearer token,
    /// a basic auth password, an OAuth client secret.
    public var secretFiles: [(key: String, path: String)] {
        var files: [(String, String)] = []
        if let passwordFile = ldap?.passwordFile { files.append(("passwordFile", passwordFile)) }
        switch http?.auth {
        case .bearer(let file?, _)?: files.append(("auth.bearerTokenFile", file))
        case .basic(_, let file?, _)?: files.append(("auth.basic.passwordFile", file))
        case .oauth2(let oauth)?: if let file = oauth.clientSecretFile { files.append(("auth.oauth2.clientSecretFile", file)) }
        case .ssws(let file?, _)?: files.append(("apiTokenFile", file))
        default: break
        }
        return files
    }
}

extension Configuration {
    /// Every secret file of the store and of every source that is missing, unreadable, empty
    /// or open to other users, as problems of the configuration file `file` (for `mapping check`).
    public func secretFileProblems(file: String) -> [ConfigProblem] {
        var files: [(path: String, secret: String)] = []
        if case let .postgres(settings) = store, let path = settings.passwordFile {
            files.append(("store.postgres.passwordFile", path))
        }
        for (index, source) in sources.enumerated() {
            files += source.secretFiles.map { ("sources[\(index)].\($0.0)", $0.1) }
        }
        if serve.console {
            if let path = serve.consoleAccess.passwordFile { files.append(("serve.consoleAccess.passwordFile", path)) }
            if let path = serve.consoleAccess.tokenFile { files.append(("serve.consoleAccess.tokenFile", path)) }
        }
        var problems: [ConfigProblem] = []
        for (key, path) in files {
            var message: String?
            do {
                _ = try Secrets.password(file: path, environmentVariable: nil)
            } catch {
                message = error.description
            }
            message = message ?? Secrets.exposure(of: path)
            if let message {
                problems.append(ConfigProblem(file: file, line: nil, column: nil, path: key, message: message))
            }
        }
        return problems
    }
}
