/// A recorded change in words, as `sync`, `runs show`, `users show` and the web console say it.
public enum ChangeDescription {
    /// The details of a change beside its action and object: `email: a → b`, `+ user ann`, a
    /// skip's reason. `hiding` names fields whose values are shown as `hidden` (the console's
    /// secrets).
    public static func detail(action: ChangeAction, field: String?, oldValue: String?, newValue: String?, memberName: String?,
                              record: String?, hiding: (String) -> Bool = { _ in false }, hidden: String = "(hidden)") -> String {
        func shown(_ value: String?) -> String {
            guard let value else { return "∅" }
            if let field, hiding(field) { return hidden }
            return value
        }
        switch action {
        case .add, .remove:
            return "\(action == .add ? "+" : "−") \(field ?? "member") \(memberName ?? newValue ?? oldValue ?? "")"
        case .update: return "\(field ?? ""): \(shown(oldValue)) → \(shown(newValue))"
        case .create: return [newValue, record].compactMap { $0 }.joined(separator: "  ")
        case .adopt: return "now owned by this source (\(newValue ?? ""))"
        case .skip: return (newValue ?? "") + (record.map { "  [\($0)]" } ?? "")
        case .deactivate, .reactivate: return newValue ?? ""
        }
    }

    /// A line of one user's history: `added to group Sales`, `update email: a → b`, `create: active`.
    public static func historyLine(_ change: ChangeRecord, hiding: (String) -> Bool = { _ in false }, hidden: String = "(hidden)") -> String {
        if change.objectType == .membership {
            return change.action == .add ? "added to group \(change.username ?? "?")" : "removed from group \(change.username ?? "?")"
        }
        if let field = change.field {
            let secret = hiding(field)
            return "\(change.action.rawValue) \(field): \(secret && change.oldValue != nil ? hidden : change.oldValue ?? "∅") → \(secret && change.newValue != nil ? hidden : change.newValue ?? "∅")"
        }
        if let value = change.newValue { return "\(change.action.rawValue): \(value)" }
        return change.action.rawValue
    }
}
