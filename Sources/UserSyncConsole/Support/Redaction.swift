import Foundation

/// What the console never shows: values of attributes that hold passwords or other secrets
/// (a CSV export or a SCIM record may carry `password`; an LDAP read as a privileged account
/// may carry `userPassword`, AD's `unicodePwd` or `supplementalCredentials`), and the
/// user-info part of URLs (`https://user:secret@host/…`).
enum Redaction {
    static let hidden = "(hidden)"

    /// Whether an attribute's (or a field's) name says it holds a secret. Broad on purpose:
    /// hiding `pwdLastSet` too is better than showing one password.
    static func isSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["password", "passwd", "pwd", "secret", "credential", "passphrase", "privatekey", "apikey", "token"]
            .contains { lower.contains($0) }
    }

    /// `value`, or the hidden mark when `name` is a secret's.
    static func value(_ value: String?, of name: String?) -> String? {
        guard let value else { return nil }
        if let name, isSecret(name) { return hidden }
        return value
    }

    /// A text with the user-info of its URLs taken out.
    static func urls(_ text: String) -> String {
        text.replacing(/:\/\/[^\/@\s]+@/, with: "://…@")
    }
}
