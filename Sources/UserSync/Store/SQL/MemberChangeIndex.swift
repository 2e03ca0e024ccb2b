import Foundation

/// An index of the membership changes by the user they are about, one definition for both stores
/// (SQLite's migration v8, PostgreSQL's v5): a user's history (`users show`, the console's user
/// page) takes their own changes by `changes_object` and the groups they joined or left by this
/// one. Without it that history scanned every change ever recorded (37 ms at 230,000 changes,
/// and growing with every run).
///
/// A membership change names its group in `object_id` and its member's id, as text, in
/// `new_value` (added) or `old_value` (removed); `field` says whether the member is a user. The
/// index is partial, over those rows only, on the expression the history query compares: both
/// SQLite ("the expression … must be the same as an expression in the index", Indexes On
/// Expressions) and PostgreSQL use it only for that expression and a WHERE that implies the
/// index's own.
enum MemberChangeIndex {
    static let memberExpression = "CAST(coalesce(new_value, old_value) AS BIGINT)"
    static let rows = "object_type = 'membership' AND field = 'user'"

    static func statements(_ dialect: SQLDialect) -> [String] {
        ["CREATE INDEX changes_member_user ON changes ((\(memberExpression))) WHERE \(rows)"]
    }
}
