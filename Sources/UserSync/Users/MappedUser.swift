import Foundation

/// A user as the mapping makes it from one source record, before it is compared with the store.
public struct MappedUser: Sendable, Equatable, Codable {
    /// The record's stable id (objectGUID, entryUUID, …) as text.
    public var externalId: String?
    /// Where the record came from: its DN (or CSV line, API id).
    public var locator: String
    /// The mapped fields (`user[.email]`).
    public var fields = UserFieldValues()
    /// The mapping's extra fields.
    public var attributes: [String: String] = [:]
    /// Disabled in the directory (AD userAccountControl): stored as `deactivated`.
    public var disabled = false
    /// Why the record cannot be synced (a missing required field, no stable id); nil if it can.
    public var skipReason: String?

    public init(locator: String) { self.locator = locator }

    public subscript(field: UserField) -> String? {
        get { fields[field] }
        set { fields[field] = newValue }
    }

    /// The username: the field every user must have.
    public var username: String? {
        get { fields[.username] }
        set { fields[.username] = newValue }
    }

    /// A named field (`requiredFields` names them) or an extra attribute.
    public subscript(field: String) -> String? {
        UserField(rawValue: field).map { fields[$0] } ?? attributes[field]
    }

    /// The extra attributes as the store keeps them: a JSON object with sorted keys, so that
    /// the same values always give the same text (the planner compares text).
    public var attributesJSON: String { JSONText.object(attributes) }

    // The fields are keys of their own in JSON (`mapping preview --json`), as before.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        static let externalId = Key(stringValue: "externalId"), locator = Key(stringValue: "locator")
        static let attributes = Key(stringValue: "attributes"), disabled = Key(stringValue: "disabled")
        static let skipReason = Key(stringValue: "skipReason")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encodeIfPresent(externalId, forKey: .externalId)
        try c.encode(locator, forKey: .locator)
        try fields.encode(to: &c) { Key(stringValue: $0.rawValue) }
        try c.encode(attributes, forKey: .attributes)
        try c.encode(disabled, forKey: .disabled)
        try c.encodeIfPresent(skipReason, forKey: .skipReason)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        externalId = try c.decodeIfPresent(String.self, forKey: .externalId)
        locator = try c.decode(String.self, forKey: .locator)
        fields = try UserFieldValues.decode(from: c) { Key(stringValue: $0.rawValue) }
        attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        disabled = try c.decodeIfPresent(Bool.self, forKey: .disabled) ?? false
        skipReason = try c.decodeIfPresent(String.self, forKey: .skipReason)
    }
}
