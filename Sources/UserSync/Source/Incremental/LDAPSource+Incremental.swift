import Foundation
import LDAP
import Logging

/// What an incremental read of an LDAP source did beyond its records.
struct IncrementalOutcome: Sendable {
    /// How it read: full or delta, with which method, and why full.
    var read: ReadMode
    /// The watermark to store with the run's changes (nil when no method could be used).
    var watermark: Watermark?
    /// For a delta: the stable ids reported gone, and how to take what was not sent.
    var gone: [String] = []
    var present: [String]? = nil
    var scope: DeltaScope? = nil
    /// For a delta: what the server said changed and was deleted (the groups' read needs them
    /// too), and the DNs of the users re-read (whose groups are asked for).
    var changedIDs: [String] = []
    var deletedIDs: [String] = []
    var rereadDNs: [String] = []
    /// For a delta of a source with groups: which groups list each entry re-read (a link of
    /// kind `anchor` from the group's DN to the entry's; an empty group DN when none does).
    var anchors: [(group: String, member: String, kind: String)] = []
}

/// What a method says changed since a watermark: the stable ids (as the store keeps them) of
/// the entries changed, deleted, and — when the server lists them — present.
struct ChangeList: Sendable {
    var changed: Set<String> = []
    var deleted: Set<String> = []
    /// Every entry of the naming context, when the server listed them (a present phase).
    var present: Set<String>?
    var cookie: [UInt8]?
}

extension LDAPSource {
    /// Reads the users in full or, when `fullReason` is nil and the server can say what changed
    /// since `stored`, only those that changed; returns what it did. A delta re-reads each
    /// changed entry with the source's own base, scope, filter and attributes, so a record is
    /// mapped exactly as a full read maps it; a changed entry that no longer matches them is
    /// gone (it moved out of the base, or stopped matching the filter).
    func readIncremental(attributes: [String], stored: Watermark?, fullReason: String?, settingsHash: String,
                         page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> IncrementalOutcome {
        try await withConnection { ldap in
            let root = try await ldap.rootDSE()
            let resolved = resolveMethod(root, stored: stored)
            guard let method = resolved.method else {
                _ = try await searchUsers(ldap, attributes: attributes, page: page)
                return IncrementalOutcome(read: ReadMode(mode: .full, method: nil, reason: resolved.reason ?? fullReason), watermark: nil)
            }
            // The changes are asked of the whole naming context: an entry moved out of the base
            // is then a change (found gone by the re-read), not something only a server's log
            // could tell.
            let context = Self.namingContext(of: directory.users.base, among: root.namingContexts)
            let position = try await ServerPosition.read(ldap, root: root)
            // DirSync returns an object when one of the attributes asked for changed: the
            // groups' member lists and names too, for a source with groups.
            let groupAttributes = settings.groups.map { GroupMapper(mapping: $0, userIDAttribute: settings.stableID).requestedAttributes } ?? []
            let reader = ChangeReader(ldap: ldap, context: context, idAttribute: settings.stableID,
                                      watched: attributes + groupAttributes, logger: logger)
            var reason = fullReason
            if reason == nil, let stored {
                reason = try await position.doubt(about: stored, method: method, ldap: ldap)
            }
            if reason == nil, let stored {
                do {
                    let changes = try await reader.changes(method, since: stored, position: position)
                    var outcome = try await readChanged(ldap, changes, method: method, attributes: attributes, page: page)
                    outcome.watermark = Watermark(method: method, cookie: changes.cookie ?? stored.cookie,
                                                  usn: method == .usn ? position.usn : nil, server: position.server,
                                                  invocationID: position.invocationID, settingsHash: settingsHash,
                                                  lastFullAt: stored.lastFullAt, updatedAt: Timestamp.now())
                    return outcome
                } catch let refused as WatermarkRefused {
                    reason = refused.reason
                }
            }
            // A full read, with the watermark taken before it: what changes during the read is
            // read again by the next delta (reading a change twice is harmless; missing one is not).
            let now = Timestamp.now()
            var fullMethod = method
            let cookie: [UInt8]?
            do {
                cookie = try await reader.currentCookie(method)
            } catch let error as LDAPError where method == .dirsync && directory.incremental.method == .auto
                && (error.kind == .insufficientAccess || [.unwillingToPerform, .unavailableCriticalExtension].contains(error.code)) {
                // auto: DirSync when the account may use it, else USN polling.
                logger.notice("DirSync refused for this account; reading changes by USN instead", metadata: ["error": "\(error)"])
                fullMethod = .usn
                cookie = nil
            }
            _ = try await searchUsers(ldap, attributes: attributes, page: page)
            let watermark = Watermark(method: fullMethod, cookie: cookie, usn: fullMethod == .usn ? position.usn : nil,
                                      server: position.server, invocationID: position.invocationID,
                                      settingsHash: settingsHash, lastFullAt: now, updatedAt: now)
            return IncrementalOutcome(read: ReadMode(mode: .full, method: fullMethod.rawValue, reason: reason), watermark: watermark)
        }
    }

    /// The method the settings ask for, as this server allows it; nil with the reason when none.
    /// With `auto` on AD, the method of the stored watermark stays (DirSync, or USN where the
    /// account could not use DirSync).
    func resolveMethod(_ root: RootDSE, stored: Watermark?) -> (method: IncrementalSettings.Method?, reason: String?) {
        let configured = directory.incremental.method
        let id = settings.stableID
        if root.isActiveDirectory {
            if configured == .syncrepl {
                return (nil, "incremental.method syncrepl needs an RFC 4533 server, and \(root.vendor) is Active Directory: use dirsync, usn or auto")
            }
            guard id.caseInsensitiveCompare("objectGUID") == .orderedSame else {
                return (nil, "Active Directory reports deleted objects by objectGUID, and the source's idAttribute is \(id): "
                    + "set idAttribute: objectGUID to read only changes")
            }
            if configured == .usn { return (.usn, nil) }
            if configured == .dirsync { return (.dirsync, nil) }
            if let kept = stored?.method, kept == .usn || kept == .dirsync { return (kept, nil) }
            return (root.supportedControls.contains(DirSync.oid) ? .dirsync : .usn, nil)
        }
        if [.dirsync, .usn].contains(configured) {
            return (nil, "incremental.method \(configured.rawValue) needs Active Directory, and \(root.vendor) is not: use syncrepl or auto")
        }
        guard root.supportsContentSync else {
            return (nil, "\(root.vendor) does not offer content sync (RFC 4533): on OpenLDAP load the syncprov overlay "
                + "on the database (moduleload syncprov, overlay syncprov); on 389-DS enable the Content Synchronization plugin")
        }
        guard id.caseInsensitiveCompare("entryUUID") == .orderedSame else {
            return (nil, "content sync reports deleted entries by entryUUID alone, and the source's idAttribute is "
                + "\(id): set idAttribute: entryUUID to read only changes")
        }
        return (.syncrepl, nil)
    }

    /// The naming context that holds `base` (the longest that does), or `base` itself.
    static func namingContext(of base: String, among contexts: [String]) -> String {
        guard let dn = try? DistinguishedName(base) else { return base }
        let holding = contexts.compactMap { text -> (String, DistinguishedName)? in
            guard let context = try? DistinguishedName(text), dn.isWithin(context) else { return nil }
            return (text, context)
        }
        return holding.max { $0.1.rdns.count < $1.1.rdns.count }?.0 ?? base
    }

    /// Re-reads the changed entries with the source's search, in batches of ids, and sorts out
    /// what is gone.
    func readChanged(_ ldap: LDAPConnection, _ changes: ChangeList, method: IncrementalSettings.Method, attributes: [String],
                     page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> IncrementalOutcome {
        let changed = changes.changed.subtracting(changes.deleted).sorted()
        let found = FoundIDs()
        let idAttribute = settings.stableID
        for clause in Self.idFilters(idAttribute, changed) {
            _ = try await searchUsers(ldap, attributes: attributes, and: clause) { records in
                found.add(records.compactMap { $0.stableID(idAttribute)?.lowercased() }, dns: records.map(\.locator.description))
                try await page(records)
            }
        }
        let seen = found.ids
        var outcome = IncrementalOutcome(read: ReadMode(mode: .delta, method: method.rawValue, reason: nil), watermark: nil)
        outcome.gone = Array(changes.deleted) + changed.filter { !seen.contains($0.lowercased()) }
        outcome.changedIDs = changed
        outcome.deletedIDs = Array(changes.deleted)
        outcome.rereadDNs = found.dns
        if let present = changes.present {
            outcome.present = Array(present)
            outcome.scope = .listedPresent
        } else {
            outcome.scope = .listedGone
        }
        logger.info("changes since the watermark", metadata: [
            "method": "\(method.rawValue)", "changed": "\(changed.count)", "reread": "\(seen.count)",
            "gone": "\(outcome.gone.count)", "listed": "\(changes.present == nil ? "deletions" : "present entries")",
        ])
        return outcome
    }

    /// A filter clause naming one entry by its stable id (objectGUID by its bytes, as AD
    /// matches it; anything else by its text).
    static func idClause(_ attribute: String, _ id: String) -> String {
        if attribute.caseInsensitiveCompare("objectGUID") == .orderedSame, let bytes = ADValue.guidBytes(id) {
            return LDAPFilter.equalBytes(attribute, bytes).description
        }
        return "(\(attribute)=\(LDAPFilter.escape(id)))"
    }

    /// Filters naming `ids` by `attribute`, `rereadBatch` at a time (`(|(id=a)(id=b)…)`): what
    /// a delta's re-reads of users and of groups search for.
    static func idFilters(_ attribute: String, _ ids: [String]) -> [String] {
        stride(from: 0, to: ids.count, by: rereadBatch).map { start in
            "(|" + ids[start..<min(start + rereadBatch, ids.count)].map { idClause(attribute, $0) }.joined() + ")"
        }
    }

    /// How many changed entries one re-reading search names.
    static let rereadBatch = 200
}

/// The stable ids (and DNs) a delta's re-read found, collected from its pages.
final class FoundIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<String> = []
    private var names: [String] = []

    func add(_ ids: [String], dns: [String] = []) { lock.withLock { set.formUnion(ids); names += dns } }
    var ids: Set<String> { lock.withLock { set } }
    var dns: [String] { lock.withLock { names } }
}

/// The server refused the watermark (a cookie it no longer knows): a full read, for `reason`.
struct WatermarkRefused: Error {
    let reason: String
}

/// An LDAP source read incrementally, as the engine's page reader sees any source: its `read`
/// hands on the records (all of them, or the changed ones) and keeps what else it learnt in
/// `outcome` for the engine to stage and store.
struct IncrementalLDAPRead: RecordSource {
    let source: LDAPSource
    let stored: Watermark?
    let fullReason: String?
    let settingsHash: String
    let box = OutcomeBox()

    final class OutcomeBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: IncrementalOutcome?
        var outcome: IncrementalOutcome? {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    @discardableResult
    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        box.outcome = try await source.readIncremental(attributes: attributes, stored: stored, fullReason: fullReason,
                                                       settingsHash: settingsHash, page: page)
        return SourceReadInfo()
    }

    /// After a delta of the users: only the groups that changed, and which groups list each
    /// entry re-read; after a full read, every group.
    func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        guard var outcome = box.outcome, outcome.read.mode == .delta else {
            try await source.readGroups(attributes: attributes, page: page)
            return
        }
        let groups = try await source.readChangedGroups(outcome, attributes: attributes, page: page)
        outcome.gone = Array(Set(outcome.gone).union(groups.gone))
        outcome.anchors = groups.anchors
        box.outcome = outcome
    }
}
