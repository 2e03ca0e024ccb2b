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
            let method = try resolveMethod(root)
            let now = Timestamp.now()
            guard let method = method.method else {
                _ = try await searchUsers(ldap, attributes: attributes, page: page)
                return IncrementalOutcome(read: ReadMode(mode: .full, method: nil, reason: method.reason ?? fullReason), watermark: nil)
            }
            // The sync covers the whole naming context: an entry moved out of the base is then a
            // change (and is found gone by the re-read), where a sync of the base alone would
            // leave it to the server's session log.
            let syncBase = Self.namingContext(of: directory.users.base, among: root.namingContexts)
            var reason = fullReason
            if reason == nil, let stored, stored.method != method {
                reason = "the watermark was taken with \(stored.method.rawValue), this run uses \(method.rawValue)"
            }
            if reason == nil, let stored {
                do {
                    let changes = try await ldap.contentSync(base: syncBase, cookie: stored.cookie)
                    var outcome = try await readChanged(ldap, changes, attributes: attributes, page: page)
                    outcome.watermark = Watermark(method: method, cookie: changes.cookie ?? stored.cookie, usn: nil, server: nil,
                                                  invocationID: nil, settingsHash: settingsHash, lastFullAt: stored.lastFullAt,
                                                  updatedAt: now)
                    return outcome
                } catch let error as LDAPError where error.code.rawValue == ContentSync.refreshRequiredCode {
                    reason = "the server no longer knows the changes since the watermark (e-syncRefreshRequired)"
                }
            }
            // A full read, with a watermark taken before it: what changes during the read is
            // read again by the next delta (reading a change twice is harmless; missing one is not).
            let mark = try await ldap.contentSync(base: syncBase, cookie: nil, collect: false)
            _ = try await searchUsers(ldap, attributes: attributes, page: page)
            let watermark = Watermark(method: method, cookie: mark.cookie, usn: nil, server: nil, invocationID: nil,
                                      settingsHash: settingsHash, lastFullAt: now, updatedAt: now)
            return IncrementalOutcome(read: ReadMode(mode: .full, method: method.rawValue, reason: reason), watermark: watermark)
        }
    }

    /// The method the settings ask for, as this server allows it; nil with the reason when none.
    func resolveMethod(_ root: RootDSE) throws -> (method: IncrementalSettings.Method?, reason: String?) {
        let configured = directory.incremental.method
        if root.isActiveDirectory, [.auto, .dirsync, .usn].contains(configured) {
            return (nil, "DirSync and USN reads of Active Directory are not built yet: every run reads everything")
        }
        if [.dirsync, .usn].contains(configured) {
            return (nil, "incremental.method \(configured.rawValue) needs Active Directory, and \(root.vendor) is not: use syncrepl or auto")
        }
        guard root.supportsContentSync else {
            return (nil, "\(root.vendor) does not offer content sync (RFC 4533): on OpenLDAP load the syncprov overlay "
                + "on the database (moduleload syncprov, overlay syncprov); on 389-DS enable the Content Synchronization plugin")
        }
        guard settings.stableID.caseInsensitiveCompare("entryUUID") == .orderedSame else {
            return (nil, "content sync reports deleted entries by entryUUID alone, and the source's idAttribute is "
                + "\(settings.stableID): set idAttribute: entryUUID to read only changes")
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
    func readChanged(_ ldap: LDAPConnection, _ changes: ContentSyncResult, attributes: [String],
                     page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> IncrementalOutcome {
        let changed = changes.changed.sorted()
        let found = FoundIDs()
        let idAttribute = settings.stableID
        var start = 0
        while start < changed.count {
            let batch = changed[start..<min(start + Self.rereadBatch, changed.count)]
            start += batch.count
            let clauses = batch.map { "(\(idAttribute)=\(LDAPFilter.escape($0)))" }.joined()
            _ = try await searchUsers(ldap, attributes: attributes, and: "(|\(clauses))") { records in
                found.add(records.compactMap { $0.stableID(idAttribute)?.lowercased() })
                try await page(records)
            }
        }
        let seen = found.ids
        var outcome = IncrementalOutcome(read: ReadMode(mode: .delta, method: IncrementalSettings.Method.syncrepl.rawValue, reason: nil),
                                         watermark: nil)
        outcome.gone = Array(changes.deleted) + changed.filter { !seen.contains($0) }
        if changes.presentListComplete {
            outcome.present = Array(changes.present)
            outcome.scope = .listedPresent
        } else {
            outcome.scope = .listedGone
        }
        logger.info("changes since the watermark", metadata: [
            "changed": "\(changed.count)", "reread": "\(seen.count)", "gone": "\(outcome.gone.count)",
            "phase": "\(changes.presentListComplete ? "present" : "delete")",
        ])
        return outcome
    }

    /// How many changed entries one re-reading search names.
    static let rereadBatch = 200
}

/// The stable ids a delta's re-read found, collected from its pages.
private final class FoundIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<String> = []

    func add(_ ids: [String]) { lock.withLock { set.formUnion(ids) } }
    var ids: Set<String> { lock.withLock { set } }
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

    func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        try await source.readGroups(attributes: attributes, page: page)
    }
}
