/// A user's named fields. This list drives the mapping's keys, the mapped user, the staging
/// and `users` columns, the planner's comparisons and the stored records: a new field is one
/// case here (and its column name, when that is not the name in snake case). An existing store
/// gets the new column when it is opened (`UserStore.addFieldColumns`).
public enum UserField: String, CaseIterable, Sendable, Codable {
    case username, email, firstName, lastName, displayName, manager

    /// The column in the `users` and staging tables.
    public var column: String {
        switch self {
        case .firstName: return "first_name"
        case .lastName: return "last_name"
        case .displayName: return "display_name"
        default: return rawValue
        }
    }

    /// The field's name in sentences and tables ("first name").
    public var label: String {
        rawValue.reduce(into: "") { text, c in text += c.isUppercase ? " " + c.lowercased() : String(c) }
    }

    /// The position of the field in `UserFieldValues`.
    @inline(__always) var index: Int {
        switch self {
        case .username: return 0
        case .email: return 1
        case .firstName: return 2
        case .lastName: return 3
        case .displayName: return 4
        case .manager: return 5
        }
    }

    /// The fields' names as the configuration spells them.
    public static let names = allCases.map(\.rawValue)
    /// The columns, in field order.
    public static let columns = allCases.map(\.column)
}

/// One value (or none) for each `UserField`.
public struct UserFieldValues: Sendable, Equatable {
    private var values = [String?](repeating: nil, count: UserField.allCases.count)

    public init() {}

    public subscript(field: UserField) -> String? {
        get { values[field.index] }
        set { values[field.index] = newValue }
    }

    /// Encodes each field that has a value under its name.
    func encode<Key: CodingKey>(to container: inout KeyedEncodingContainer<Key>, key: (UserField) -> Key) throws {
        for field in UserField.allCases { try container.encodeIfPresent(self[field], forKey: key(field)) }
    }

    /// Decodes each field present under its name.
    static func decode<Key: CodingKey>(from container: KeyedDecodingContainer<Key>, key: (UserField) -> Key) throws -> UserFieldValues {
        var values = UserFieldValues()
        for field in UserField.allCases { values[field] = try container.decodeIfPresent(String.self, forKey: key(field)) }
        return values
    }
}
