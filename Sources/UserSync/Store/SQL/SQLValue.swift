import Foundation

/// One value going into or coming out of a statement, whichever store runs it: the five
/// storage classes SQLite has and PostgreSQL's columns of this project use (`bigint`,
/// `double precision`, `text`, `bytea`; flags are integers in both).
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift type that binds as, and decodes from, an `SQLValue`.
public protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// The value, or nil when `value` is not of this type (NULL included).
    static func from(_ value: SQLValue) -> Self?
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public static func from(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let n): return n
        case .real(let d): return Int64(exactly: d)
        case .text(let t): return Int64(t)
        default: return nil
        }
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public static func from(_ value: SQLValue) -> Int? { Int64.from(value).map { Int($0) } }
}

extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public static func from(_ value: SQLValue) -> Bool? { Int64.from(value).map { $0 != 0 } }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public static func from(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let d): return d
        case .integer(let n): return Double(n)
        case .text(let t): return Double(t)
        default: return nil
        }
    }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public static func from(_ value: SQLValue) -> String? {
        switch value {
        case .text(let t): return t
        case .integer(let n): return String(n)
        case .real(let d): return String(d)
        case .blob(let b): return String(validating: b, as: UTF8.self)
        case .null: return nil
        }
    }
}

extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob([UInt8](self)) }
    public static func from(_ value: SQLValue) -> Data? {
        switch value {
        case .blob(let b): return Data(b)
        case .text(let t): return Data(t.utf8)
        default: return nil
        }
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    public static func from(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.from(value).map { .some($0) }
    }
}

/// An enum stored as its raw text.
public protocol SQLTextEnum: SQLValueConvertible, RawRepresentable where RawValue == String {}

extension SQLTextEnum {
    public var sqlValue: SQLValue { .text(rawValue) }
    public static func from(_ value: SQLValue) -> Self? { String.from(value).flatMap(Self.init(rawValue:)) }
}

extension ChangeAction: SQLTextEnum {}
extension ObjectType: SQLTextEnum {}
