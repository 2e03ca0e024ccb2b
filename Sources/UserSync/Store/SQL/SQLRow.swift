/// One row of a result, its values by column name (as the statement named them) or position.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of the first column named `name` (ASCII case ignored, as both stores do).
    public func value(_ name: String) -> SQLValue {
        if let i = columns.firstIndex(of: name) { return values[i] }
        if let i = columns.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return values[i] }
        return .null
    }

    /// The column's value as `T`; a column that is missing or of another type is a programming
    /// error (the statements are the project's own), reported with the column and the value.
    public subscript<T: SQLValueConvertible>(_ name: String) -> T {
        let value = value(name)
        guard let typed = T.from(value) else {
            preconditionFailure("column \(name) holds \(value), not \(T.self) (columns: \(columns))")
        }
        return typed
    }

    public subscript<T: SQLValueConvertible>(_ index: Int) -> T {
        guard let typed = T.from(values[index]) else {
            preconditionFailure("column \(index) holds \(values[index]), not \(T.self) (columns: \(columns))")
        }
        return typed
    }
}

/// A type read from a row (the store's records).
public protocol SQLRowDecodable {
    init(row: SQLRow) throws
}
