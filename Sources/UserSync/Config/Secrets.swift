import Foundation

/// Reads bind passwords from a file or an environment variable. Passwords are never logged,
/// printed or stored by usersync.
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
}
