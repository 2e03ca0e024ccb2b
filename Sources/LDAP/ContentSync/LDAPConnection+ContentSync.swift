import CLDAP
import Foundation

extension LDAPConnection {
    /// Runs one refreshOnly content sync (RFC 4533) of `base`/`scope`/`filter` from `cookie`
    /// (nil: from the beginning, which lists every entry as added) and returns what changed.
    /// Entries come without attributes: read the changed ones with a search of your own.
    /// `collect: false` keeps only the cookie (a full read takes its watermark this way without
    /// holding every entry's UUID).
    ///
    /// Throws an `LDAPError` with code 4096 (`ContentSync.refreshRequiredCode`) when the server
    /// refuses the cookie (e-syncRefreshRequired, §2.6), and `unavailableCriticalExtension`
    /// when it does not offer content sync on this base.
    public func contentSync(base: String, scope: SearchRequest.Scope = .sub, filter: String = "(objectClass=*)",
                            cookie: [UInt8]?, collect: Bool = true) throws -> ContentSyncResult {
        let handle = try requireHandle("content sync")
        var request = SearchRequest(base: base, scope: scope, filter: filter, attributes: ["1.1"],
                                    completeRangedAttributes: false)
        // Critical: a server that does not know the control must refuse the search rather than
        // answer it as a plain one, which would look like "nothing changed".
        request.controls = [RequestControl(oid: ContentSync.requestOID, critical: true, value: ContentSync.requestValue(cookie: cookie))]
        let msgid = try sendSearch(request, pageSize: 0, cookie: [])
        var result = ContentSyncResult()
        try eachMessage(msgid, operation: "content sync", lost: { "after \(result.changed.count + result.present.count) entries" }) { current in
            let type = ldap_msgtype(current)
            if type == cldap_res_search_entry() {
                let (state, uuid) = try syncState(handle, current)
                if collect { result.note(state, ContentSync.uuidText(uuid)) }
            } else if type == cldap_res_intermediate() {
                try syncInfo(handle, current, into: &result, collect: collect)
            } else if type == cldap_res_search_result() {
                try syncDone(handle, current, into: &result, base: base)
                return true
            }
            return false
        }
        return result
    }

    private func malformed(_ what: String, _ error: Error) -> LDAPError {
        LDAPError(code: .decodingError, operation: "content sync", uri: uri, kind: .other,
                  detail: "the server sent a \(what) that cannot be read: \(error)")
    }

    /// The Sync State Control of one entry.
    private func syncState(_ handle: OpaquePointer, _ message: OpaquePointer) throws -> (ContentSync.State, [UInt8]) {
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        ldap_get_entry_controls(handle, message, &controls)
        defer { if controls != nil { ldap_controls_free(controls) } }
        guard let controls, let state = ldap_control_find(ContentSync.stateOID, controls, nil) else {
            // RFC 4533 §3.2: every entry of a sync search carries a Sync State Control.
            throw LDAPError(code: .controlNotFound, operation: "content sync", uri: uri, kind: .other,
                            detail: "an entry came without its Sync State Control")
        }
        do {
            let parsed = try ContentSync.parseState(LDAPConnection.bytes(state.pointee.ldctl_value))
            return (parsed.state, parsed.uuid)
        } catch {
            throw malformed("Sync State Control", error)
        }
    }

    private func syncInfo(_ handle: OpaquePointer, _ message: OpaquePointer, into result: inout ContentSyncResult,
                          collect: Bool) throws {
        var oid: UnsafeMutablePointer<CChar>?
        var data: UnsafeMutablePointer<berval>?
        let rc = ldap_parse_intermediate(handle, message, &oid, &data, nil, 0)
        defer {
            if oid != nil { ldap_memfree(oid) }
            if data != nil { ber_bvfree(data) }
        }
        guard rc == LDAP_SUCCESS else { throw LDAPConnection.error(handle, rc: rc, operation: "content sync", uri: uri) }
        guard let oid, String(cString: oid) == ContentSync.infoOID, let data else { return }
        do {
            var info = try ContentSync.parseInfo(LDAPConnection.bytes(data.pointee))
            if !collect, case .idSet(let cookie, let deleted, _) = info { info = .idSet(cookie: cookie, deleted: deleted, uuids: []) }
            result.note(info)
        } catch {
            throw malformed("Sync Info Message", error)
        }
    }

    private func syncDone(_ handle: OpaquePointer, _ message: OpaquePointer, into result: inout ContentSyncResult, base: String) throws {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>?
        var text: UnsafeMutablePointer<CChar>?
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let rc = ldap_parse_result(handle, message, &code, &matched, &text, nil, &controls, 0)
        defer {
            if matched != nil { ldap_memfree(matched) }
            if text != nil { ldap_memfree(text) }
            if controls != nil { ldap_controls_free(controls) }
        }
        guard rc == LDAP_SUCCESS else { throw LDAPConnection.error(handle, rc: rc, operation: "content sync", uri: uri) }
        guard code == LDAP_SUCCESS else {
            let diag = text.map { String(cString: $0) }
            var detail: String?
            switch code {
            case ContentSync.refreshRequiredCode:
                detail = "the server no longer knows the changes since the stored cookie (e-syncRefreshRequired): a full read is needed"
            case LDAP_UNAVAILABLE_CRITICAL_EXTENSION:
                detail = "the server does not offer content sync (RFC 4533) on '\(base)': on OpenLDAP load the syncprov overlay on its database"
            case LDAP_NO_SUCH_OBJECT:
                detail = "the base '\(base)' does not exist"
            default:
                break
            }
            throw LDAPError(code: LDAPResultCode(code), operation: "content sync", diagnosticMessage: diag,
                            matchedDN: matched.map { String(cString: $0) }, uri: uri, detail: detail)
        }
        if let controls, let done = ldap_control_find(ContentSync.doneOID, controls, nil) {
            do {
                let parsed = try ContentSync.parseDone(LDAPConnection.bytes(done.pointee.ldctl_value))
                if let cookie = parsed.cookie { result.cookie = cookie }
                // refreshDeletes FALSE: the refresh ended with a present phase, whose list is
                // complete; what it did not name is gone (RFC 4533 §3.3.1).
                if !parsed.refreshDeletes { result.presentListComplete = true }
            } catch {
                throw malformed("Sync Done Control", error)
            }
        } else {
            // RFC 4533 §2.4: the Sync Done Control comes with the SearchResultDone.
            throw LDAPError(code: .controlNotFound, operation: "content sync", uri: uri, kind: .other,
                            detail: "the search ended without a Sync Done Control")
        }
    }
}
