/// The LDAP Content Synchronization Operation (RFC 4533), refreshOnly mode: the client sends
/// the cookie of its last sync and the server says what changed since — OpenLDAP's `syncprov`
/// overlay and 389-DS's Content Synchronization plugin implement it.
///
/// Only identities are asked for (the attribute list `1.1`): the caller reads the changed
/// entries itself, with its own base, filter and attributes. What comes back is sorted into
/// the entries that changed, those listed as present (unchanged), and those deleted, with the
/// new cookie; `ContentSyncResult.gone` tells how to find what has disappeared.
public enum ContentSync {
    /// RFC 4533 §2.2: the Sync Request Control.
    public static let requestOID = "1.3.6.1.4.1.4203.1.9.1.1"
    /// §2.3: the Sync State Control, on each entry.
    public static let stateOID = "1.3.6.1.4.1.4203.1.9.1.2"
    /// §2.4: the Sync Done Control, on the search result.
    public static let doneOID = "1.3.6.1.4.1.4203.1.9.1.3"
    /// §2.5: the Sync Info Message, an intermediate response.
    public static let infoOID = "1.3.6.1.4.1.4203.1.9.1.4"
    /// §2.6: e-syncRefreshRequired, the server's answer to a cookie it can no longer serve.
    public static let refreshRequiredCode: Int32 = 4096

    /// `syncRequestValue ::= SEQUENCE { mode ENUMERATED { refreshOnly (1), ... },
    /// cookie syncCookie OPTIONAL, reloadHint BOOLEAN DEFAULT FALSE }` (§2.2).
    public static func requestValue(cookie: [UInt8]?) -> [UInt8] {
        var parts = [BER.enumerated(1)]
        if let cookie { parts.append(BER.octetString(cookie)) }
        return BER.sequence(parts)
    }

    /// A sync state, as §2.3 numbers them.
    public enum State: Int64, Sendable {
        case present = 0, add = 1, modify = 2, delete = 3
    }

    /// `syncStateValue ::= SEQUENCE { state ENUMERATED, entryUUID syncUUID, cookie syncCookie OPTIONAL }`.
    public static func parseState(_ value: [UInt8]) throws -> (state: State, uuid: [UInt8], cookie: [UInt8]?) {
        var outer = BER.Reader(value)
        var reader = BER.Reader(try outer.next(BER.Tag.sequence, "syncStateValue").content)
        let number = try reader.next(BER.Tag.enumerated, "syncStateValue.state").integer()
        guard let state = State(rawValue: number) else { throw BER.DecodingError("an unknown sync state \(number)") }
        let uuid = try reader.next(BER.Tag.octetString, "syncStateValue.entryUUID").bytes
        let cookie = try reader.optional(BER.Tag.octetString)?.bytes
        return (state, uuid, cookie)
    }

    /// `syncDoneValue ::= SEQUENCE { cookie syncCookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE }`.
    public static func parseDone(_ value: [UInt8]) throws -> (cookie: [UInt8]?, refreshDeletes: Bool) {
        // An absent value is the all-default SEQUENCE.
        guard !value.isEmpty else { return (nil, false) }
        var outer = BER.Reader(value)
        var reader = BER.Reader(try outer.next(BER.Tag.sequence, "syncDoneValue").content)
        let cookie = try reader.optional(BER.Tag.octetString)?.bytes
        let deletes = try reader.optional(BER.Tag.boolean)?.boolean() ?? false
        return (cookie, deletes)
    }

    /// One Sync Info Message (§2.5).
    public enum Info: Equatable, Sendable {
        /// `newcookie [0]`.
        case newCookie([UInt8])
        /// `refreshDelete [1]`: the end of a delete phase.
        case refreshDelete(cookie: [UInt8]?, done: Bool)
        /// `refreshPresent [2]`: the end of a present phase.
        case refreshPresent(cookie: [UInt8]?, done: Bool)
        /// `syncIdSet [3]`: many entries at once, present or (refreshDeletes) deleted.
        case idSet(cookie: [UInt8]?, deleted: Bool, uuids: [[UInt8]])
    }

    public static func parseInfo(_ value: [UInt8]) throws -> Info {
        var outer = BER.Reader(value)
        let choice = try outer.next()
        switch choice.tag {
        case BER.Tag.context(0, constructed: false):
            return .newCookie(choice.bytes)
        case BER.Tag.context(1, constructed: true), BER.Tag.context(2, constructed: true):
            var reader = BER.Reader(choice.content)
            let cookie = try reader.optional(BER.Tag.octetString)?.bytes
            // refreshDone BOOLEAN DEFAULT TRUE.
            let done = try reader.optional(BER.Tag.boolean)?.boolean() ?? true
            return choice.tag == BER.Tag.context(1, constructed: true)
                ? .refreshDelete(cookie: cookie, done: done) : .refreshPresent(cookie: cookie, done: done)
        case BER.Tag.context(3, constructed: true):
            var reader = BER.Reader(choice.content)
            let cookie = try reader.optional(BER.Tag.octetString)?.bytes
            let deleted = try reader.optional(BER.Tag.boolean)?.boolean() ?? false
            let set = try reader.next(BER.Tag.set, "syncIdSet.syncUUIDs")
            let uuids = try set.children().map { element -> [UInt8] in
                guard element.tag == BER.Tag.octetString else { throw BER.DecodingError("syncIdSet: a UUID that is not an OCTET STRING") }
                return element.bytes
            }
            return .idSet(cookie: cookie, deleted: deleted, uuids: uuids)
        default:
            throw BER.DecodingError("syncInfoValue: an unknown choice 0x\(String(choice.tag, radix: 16))")
        }
    }

    /// A UUID's 16 bytes in the text form of RFC 4122 (lowercase), as `entryUUID` is shown.
    public static func uuidText(_ bytes: [UInt8]) -> String {
        let hex = bytes.map { byte -> String in
            let text = String(byte, radix: 16)
            return byte < 0x10 ? "0" + text : text
        }.joined()
        guard bytes.count == 16 else { return hex }
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}

/// What one refreshOnly sync said.
public struct ContentSyncResult: Sendable {
    /// Entries added or modified since the cookie (their UUIDs, as text).
    public var changed: Set<String> = []
    /// Entries the server listed as present and unchanged.
    public var present: Set<String> = []
    /// Entries the server listed as deleted (or gone out of the searched content).
    public var deleted: Set<String> = []
    /// Whether `present` is complete: the server ran a present phase, so every entry of the
    /// content that is neither present nor changed is gone (RFC 4533 §3.3.1, the present
    /// phase). False when it ran only a delete phase, which lists the deletions and says
    /// nothing of the rest.
    public var presentListComplete = false
    /// The cookie to send next time (nil when the server sent none: keep the old one).
    public var cookie: [UInt8]?

    public init() {}

    /// Whether an entry that the caller knew is gone, given what this sync said of it.
    public func isGone(_ uuid: String) -> Bool {
        if deleted.contains(uuid) { return true }
        return presentListComplete && !present.contains(uuid) && !changed.contains(uuid)
    }

    /// Sorts one entry's state into the result (a later state of the same entry wins).
    public mutating func note(_ state: ContentSync.State, _ uuid: String) {
        switch state {
        case .present:
            present.insert(uuid)
        case .add, .modify:
            changed.insert(uuid)
            deleted.remove(uuid)
        case .delete:
            deleted.insert(uuid)
            changed.remove(uuid)
            present.remove(uuid)
        }
    }

    /// Sorts one Sync Info Message into the result.
    public mutating func note(_ info: ContentSync.Info) {
        switch info {
        case .newCookie(let value):
            cookie = value
        case .refreshDelete(let value, _):
            if let value { cookie = value }
        case .refreshPresent(let value, _):
            // The end of a present phase: what was not listed in it is gone, whatever follows.
            if let value { cookie = value }
            presentListComplete = true
        case .idSet(let value, let deletedSet, let uuids):
            if let value { cookie = value }
            for uuid in uuids { note(deletedSet ? .delete : .present, ContentSync.uuidText(uuid)) }
        }
    }
}
