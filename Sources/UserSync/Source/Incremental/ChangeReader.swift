import Foundation
import LDAP
import Logging

/// Where a directory server stands: which server answers, its identity (AD's invocationID) and
/// its highest update sequence number, read before anything else so that a change made during
/// the run is read again by the next delta, never lost.
struct ServerPosition: Sendable {
    /// AD's `dnsHostName` (the DC that counts the USNs).
    var server: String?
    /// AD's `invocationId` of the DC's NTDS Settings: a new one after a restore from backup.
    var invocationID: String?
    /// AD's `highestCommittedUSN`.
    var usn: Int64?
    /// AD's `tombstoneLifetime`, in days: how long a deleted object can still be seen.
    var tombstoneLifetimeDays: Int?
    var isActiveDirectory = false

    static func read(_ ldap: LDAPConnection, root: RootDSE) async throws -> ServerPosition {
        var position = ServerPosition()
        guard root.isActiveDirectory else { return position }
        position.isActiveDirectory = true
        position.server = root.dnsHostName
        position.usn = root.highestCommittedUSN
        if let service = root.dsServiceName {
            let settings = try await ldap.search(SearchRequest(base: service, scope: .base, attributes: ["invocationId"]))
            if let value = settings.entries.first?["invocationId"].first {
                position.invocationID = ADValue.guidString(Array(value.bytes))
            }
        }
        if let configuration = root.configurationNamingContext {
            let base = "CN=Directory Service,CN=Windows NT,CN=Services,\(configuration)"
            let service = try? await ldap.search(SearchRequest(base: base, scope: .base, attributes: ["tombstoneLifetime"]))
            // Unset means 60 days (the older default, the shorter and so the safer); forests made
            // by Windows Server 2003 SP1 and later set 180.
            position.tombstoneLifetimeDays = service?.entries.first?.string("tombstoneLifetime").flatMap { Int($0) } ?? 60
        }
        return position
    }

    /// Why the watermark cannot be trusted against this server, or nil when it can.
    func doubt(about stored: Watermark, method: IncrementalSettings.Method, ldap: LDAPConnection) async throws -> String? {
        if stored.method != method {
            return "the watermark was taken with \(stored.method.rawValue), and this run uses \(method.rawValue)"
        }
        if method == .usn {
            // USNs are counted by each DC on its own: another DC's numbers mean nothing here.
            if let before = stored.server, let now = server, before.caseInsensitiveCompare(now) != .orderedSame {
                return "the watermark's USN was counted by \(before), and this run reads \(now): USNs are per domain controller"
            }
            if let before = stored.invocationID, let now = invocationID, before != now {
                return "the domain controller's invocationID changed (\(before) → \(now)): it was restored, and USNs it gave since may be given again"
            }
            if let before = stored.usn, let now = usn, now < before {
                return "the domain controller's highestCommittedUSN (\(now)) is below the watermark's (\(before))"
            }
        }
        if isActiveDirectory, let days = tombstoneLifetimeDays, let last = Timestamp.date(stored.updatedAt),
           Date().timeIntervalSince(last) > Double(days) * 86400 {
            return "the last read of changes was \(Int(Date().timeIntervalSince(last) / 86400)) days ago, beyond the domain's "
                + "tombstoneLifetime of \(days) days: objects deleted before then left no trace"
        }
        return nil
    }
}

/// Reads what changed in a naming context since a watermark, by one of the three methods, as
/// stable ids; the caller re-reads the changed entries with its own search.
struct ChangeReader {
    let ldap: LDAPConnection
    /// The naming context the changes are asked of.
    let context: String
    let idAttribute: String
    /// The attributes the source reads: DirSync returns an object when one of them changed.
    let watched: [String]
    let logger: Logger

    func changes(_ method: IncrementalSettings.Method, since stored: Watermark, position: ServerPosition) async throws -> ChangeList {
        switch method {
        case .syncrepl: return try await contentSync(since: stored.cookie)
        case .usn: return try await usnChanges(since: stored.usn)
        case .dirsync: return try await dirSync(from: stored.cookie, collect: true)
        case .auto, .off: return ChangeList()
        }
    }

    /// The cookie a full read starts from (nil for USN polling, whose mark is the DC's USN).
    func currentCookie(_ method: IncrementalSettings.Method) async throws -> [UInt8]? {
        switch method {
        case .syncrepl: return try await ldap.contentSync(base: context, cookie: nil, collect: false).cookie
        case .dirsync: return try await dirSync(from: nil, collect: false).cookie
        case .usn, .auto, .off: return nil
        }
    }

    // MARK: RFC 4533 content sync

    func contentSync(since cookie: [UInt8]?) async throws -> ChangeList {
        let result: ContentSyncResult
        do {
            result = try await ldap.contentSync(base: context, cookie: cookie)
        } catch let error as LDAPError where error.code.rawValue == ContentSync.refreshRequiredCode {
            throw WatermarkRefused(reason: "the server no longer knows the changes since the watermark (e-syncRefreshRequired)")
        }
        // Content sync names entries by entryUUID (`resolveMethod` made sure that is the id).
        var list = ChangeList(changed: result.changed, deleted: result.deleted, cookie: result.cookie)
        if result.presentListComplete { list.present = result.present }
        return list
    }

    // MARK: Active Directory, USN

    /// Every object whose uSNChanged is above the watermark, tombstones included (Show Deleted):
    /// `>=` the watermark plus one, so the last change the watermark covered is not read again.
    func usnChanges(since usn: Int64?) async throws -> ChangeList {
        guard let usn else { throw WatermarkRefused(reason: "the watermark has no USN") }
        var request = SearchRequest(base: context, scope: .sub, filter: "(uSNChanged>=\(usn + 1))",
                                    attributes: ["objectGUID", "isDeleted"], completeRangedAttributes: false)
        request.controls = [RequestControl(oid: DirSync.showDeletedOID, critical: true)]
        var list = ChangeList()
        for try await page in ldap.pagedSearch(request, pageSize: 1000) {
            for entry in page.entries { list.note(entry) }
        }
        return list
    }

    // MARK: Active Directory, DirSync

    /// Follows DirSync from `cookie` until the server has no more; `collect: false` only walks
    /// to the end for the cookie (a full read's watermark).
    func dirSync(from cookie: [UInt8]?, collect: Bool) async throws -> ChangeList {
        var list = ChangeList()
        var current = cookie
        var rounds = 0
        // objectClass=* over the naming context: an object that stops matching the source's
        // filter, or leaves its base, still comes back, and the re-read finds it gone.
        var request = SearchRequest(base: context, scope: .sub, filter: "(objectClass=*)",
                                    attributes: Array(Set(watched + ["objectGUID", "isDeleted", "name"])),
                                    completeRangedAttributes: false)
        while true {
            rounds += 1
            request.controls = [DirSync.control(cookie: current)]
            let result: SearchResult
            do {
                result = try await ldap.search(request)
            } catch let error as LDAPError where cookie != nil && rounds == 1 && error.kind != .unreachable && error.kind != .connectionLost {
                throw WatermarkRefused(reason: "the server refused the DirSync cookie: \(error)")
            }
            if collect { for entry in result.entries { list.note(entry) } }
            guard let response = result.controls.first(where: { $0.oid == DirSync.oid }) else {
                throw LDAPError(code: .controlNotFound, operation: "DirSync", kind: .other,
                                detail: "the server answered a DirSync search without its DirSync control")
            }
            let parsed: (moreResults: Bool, cookie: [UInt8])
            do {
                parsed = try DirSync.parseResponse(response.value)
            } catch {
                throw LDAPError(code: .decodingError, operation: "DirSync", kind: .other, detail: "the DirSync response cannot be read: \(error)")
            }
            current = parsed.cookie
            guard parsed.moreResults, rounds < 100_000 else { break }
        }
        list.cookie = current
        return list
    }
}

extension ChangeList {
    /// Sorts one AD object into changed or deleted by its objectGUID and isDeleted.
    mutating func note(_ entry: LDAPEntry) {
        guard let value = entry["objectGUID"].first, let guid = ADValue.guidString(Array(value.bytes)) else { return }
        if entry.string("isDeleted")?.uppercased() == "TRUE" {
            deleted.insert(guid)
            changed.remove(guid)
        } else {
            changed.insert(guid)
        }
    }
}
