import Foundation

/// Attributes in the packed form a directory entry keeps them in (`LDAPEntry.packed`): per
/// attribute its name, its number of values and the values, each name and value preceded by
/// its length (unsigned LEB128). Names are matched without regard to the case of ASCII letters.
///
/// A protocol rather than a type, so that records which are not directory entries (a CSV row,
/// a REST resource) keep their attributes the same way, binary-safe and in one buffer, and are
/// read with the same lookups, without carrying a DN they do not have.
public protocol PackedAttributeSet: Sendable {
    /// The packed attributes.
    var packed: [UInt8] { get }
}

// The lookups are inlinable: the sync engine reads every record's attributes through them
// from another module, where without their bodies each call would go through the protocol's
// witness table instead of being specialised for the record type.
extension PackedAttributeSet {
    /// The attributes, decoded.
    @inlinable
    public var attributes: [LDAPAttribute] {
        var result: [LDAPAttribute] = []
        packed.withUnsafeBufferPointer { buffer in
            var reader = PackedReader(buffer)
            while !reader.atEnd {
                guard let name = reader.field(), let count = reader.varint() else { return }
                var values: [LDAPValue] = []
                values.reserveCapacity(count)
                for _ in 0..<count {
                    guard let value = reader.field() else { return }
                    values.append(LDAPValue(Array(value)))
                }
                result.append(LDAPAttribute(name: String(decoding: name, as: UTF8.self), values: values))
            }
        }
        return result
    }

    /// Calls `body` with the values of the first attribute named `name`, without copying them
    /// (nor allocating: an array of them per lookup was a tenth of the CPU of mapping a record).
    @inlinable
    public func withValues<R>(_ name: String, _ body: (PackedValues) throws -> R) rethrows -> R {
        var name = name
        return try name.withUTF8 { wanted in
            try packed.withUnsafeBufferPointer { buffer in
                var reader = PackedReader(buffer)
                while !reader.atEnd {
                    guard let attribute = reader.field(), let count = reader.varint() else { break }
                    if LDAPEntry.nameMatches(attribute, wanted) {
                        return try body(PackedValues(reader, count: count))
                    }
                    for _ in 0..<count { guard reader.field() != nil else { return try body(PackedValues()) } }
                }
                return try body(PackedValues())
            }
        }
    }

    /// The attribute's values, or an empty array when the entry does not have it.
    @inlinable
    public subscript(name: String) -> [LDAPValue] {
        withValues(name) { $0.map { LDAPValue(Array($0)) } }
    }

    /// Whether the entry has the attribute (with at least one value).
    @inlinable
    public func has(_ name: String) -> Bool { withValues(name) { !$0.isEmpty } }

    /// The attribute's values as text (values that are not UTF-8 are left out).
    @inlinable
    public func strings(_ name: String) -> [String] {
        withValues(name) { values in values.compactMap { LDAPValue.string($0) } }
    }

    /// The first value as text.
    @inlinable
    public func string(_ name: String) -> String? {
        withValues(name) { values in values.first.flatMap { LDAPValue.string($0) } }
    }

    /// The first value's bytes.
    @inlinable
    public func bytes(_ name: String) -> [UInt8]? { withValues(name) { $0.first.map { Array($0) } } }

    /// Whether some attribute name contains `byte` (`;` marks AD's ranged attributes).
    @inlinable
    public func hasAttributeName(containing byte: UInt8) -> Bool {
        packed.withUnsafeBufferPointer { buffer in
            var reader = PackedReader(buffer)
            while !reader.atEnd {
                guard let name = reader.field(), let count = reader.varint() else { return false }
                if name.contains(byte) { return true }
                for _ in 0..<count { guard reader.field() != nil else { return false } }
            }
            return false
        }
    }

}

/// One attribute's values in place in a packed buffer, valid only inside the `withValues` call
/// that gives them. A value cut short ends them, as it ends the attributes.
public struct PackedValues: Sequence {
    @usableFromInline let reader: PackedReader?
    @usableFromInline let count: Int

    @inlinable init(_ reader: PackedReader, count: Int) {
        self.reader = reader
        self.count = count
    }

    @inlinable init() {
        reader = nil
        count = 0
    }

    /// The first value.
    @inlinable public var first: UnsafeBufferPointer<UInt8>? {
        guard count > 0, var reader else { return nil }
        return reader.field()
    }

    @inlinable public var isEmpty: Bool { first == nil }

    /// How many values the attribute holds, as its header counts them (fewer come when a value
    /// is cut short).
    @inlinable public var underestimatedCount: Int { count }

    @inlinable public func makeIterator() -> Iterator { Iterator(reader: reader, left: count) }

    public struct Iterator: IteratorProtocol {
        @usableFromInline var reader: PackedReader?
        @usableFromInline var left: Int

        @inlinable init(reader: PackedReader?, left: Int) {
            self.reader = reader
            self.left = left
        }

        @inlinable public mutating func next() -> UnsafeBufferPointer<UInt8>? {
            guard left > 0, reader != nil, let value = reader!.field() else { return nil }
            left -= 1
            return value
        }
    }
}

/// Packs attributes into the form `PackedAttributeSet` reads.
public enum AttributePacking {
    /// The attributes, packed in the order given.
    public static func pack(_ attributes: [LDAPAttribute]) -> [UInt8] {
        var packer = LDAPEntry.Packer()
        for attribute in attributes {
            packer.appendName(Array(attribute.name.utf8), valueCount: attribute.values.count)
            for value in attribute.values { value.bytes.withUnsafeBufferPointer { packer.appendValue($0) } }
        }
        return packer.bytes
    }

    /// Whether `packed` is well formed (every count and length within the buffer).
    public static func isWellFormed(_ packed: [UInt8]) -> Bool {
        packed.withUnsafeBufferPointer { buffer in
            var reader = PackedReader(buffer)
            while !reader.atEnd {
                guard reader.skipAttribute() else { return false }
            }
            return true
        }
    }
}
