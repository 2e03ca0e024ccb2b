import CLDAP
import Foundation

extension LDAPConnection {
    // MARK: - Searching

    /// Reads a whole (small) result without paging: for base searches and short lists.
    public func search(_ request: SearchRequest) throws -> SearchResult {
        let msgid = try sendSearch(request, pageSize: 0, cookie: [])
        let received = try receive(msgid, request: request)
        return SearchResult(entries: received.entries, references: received.references, controls: received.controls)
    }

    /// Streams a search page by page with the paged results control (RFC 2696). Only one page
    /// is held at a time, and the request for the next page is sent before the current one is
    /// handed over, so the server works while the caller does.
    public nonisolated func pagedSearch(_ request: SearchRequest, pageSize: Int = 500) -> PagedSearch {
        PagedSearch(connection: self, request: request, pageSize: max(1, pageSize))
    }

    func startPagedSearch(_ request: SearchRequest, pageSize: Int) throws -> Int32 {
        try sendSearch(request, pageSize: pageSize, cookie: [])
    }

    /// Waits for the page of `msgid`, and sends the request for the next one if there is more.
    func nextPage(_ msgid: Int32, request: SearchRequest, pageSize: Int, index: Int) throws -> (SearchPage, Int32?) {
        let received = try receive(msgid, request: request)
        var next: Int32?
        if received.pagedByServer, !received.cookie.isEmpty {
            next = try sendSearch(request, pageSize: pageSize, cookie: received.cookie)
        }
        let page = SearchPage(index: index, entries: received.entries, references: received.references,
                              pagedByServer: received.pagedByServer, estimatedTotal: received.estimate)
        return (page, next)
    }

    /// Stops an outstanding request (a search abandoned by its consumer).
    func abandon(_ msgid: Int32) {
        guard let ld else { return }
        ldap_abandon_ext(ld, msgid, nil, nil)
    }

    func sendSearch(_ request: SearchRequest, pageSize: Int, cookie: [UInt8],
                            base: String? = nil, scope: SearchRequest.Scope? = nil,
                            attributes: [String]? = nil) throws -> Int32 {
        let handle = try requireHandle("search")
        var control: UnsafeMutablePointer<LDAPControl>?
        defer { if let control { ldap_control_free(control) } }
        if pageSize > 0 {
            var rc: Int32
            if cookie.isEmpty {
                rc = ldap_create_page_control(handle, ber_int_t(pageSize), nil, 0, &control)
            } else {
                rc = cookie.withUnsafeBufferPointer { buffer in
                    var value = berval(bv_len: ber_len_t(buffer.count),
                                       bv_val: UnsafeMutableRawPointer(mutating: buffer.baseAddress!)
                                           .assumingMemoryBound(to: CChar.self))
                    return ldap_create_page_control(handle, ber_int_t(pageSize), &value, 0, &control)
                }
            }
            guard rc == LDAP_SUCCESS else {
                throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
            }
        }
        var requested: [UnsafeMutablePointer<LDAPControl>] = []
        defer { requested.forEach { ldap_control_free($0) } }
        for wanted in request.controls {
            var made: UnsafeMutablePointer<LDAPControl>?
            var rc: Int32
            if let value = wanted.value {
                rc = value.withUnsafeBufferPointer { buffer in
                    var ber = berval(bv_len: ber_len_t(buffer.count),
                                     bv_val: UnsafeMutableRawPointer(mutating: buffer.baseAddress).map { $0.assumingMemoryBound(to: CChar.self) })
                    return ldap_control_create(wanted.oid, wanted.critical ? 1 : 0, &ber, 1, &made)
                }
            } else {
                rc = ldap_control_create(wanted.oid, wanted.critical ? 1 : 0, nil, 0, &made)
            }
            guard rc == LDAP_SUCCESS, let made else {
                throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
            }
            requested.append(made)
        }
        let names = attributes ?? request.attributes
        let cNames: [UnsafeMutablePointer<CChar>?] = names.map { strdup($0) } + [nil]
        defer { cNames.forEach { free($0) } }
        var serverControls: [UnsafeMutablePointer<LDAPControl>?] = ([control].compactMap { $0 } + requested) + [nil]
        var timeLimit = timeval(tv_sec: request.timeLimit, tv_usec: 0)
        var msgid: Int32 = 0
        let rc = cNames.withUnsafeBufferPointer { namesBuffer in
            serverControls.withUnsafeMutableBufferPointer { controls in
                withUnsafeMutablePointer(to: &timeLimit) { limit in
                    ldap_search_ext(handle, base ?? request.base, (scope ?? request.scope).rawLDAP, request.filter,
                                    names.isEmpty ? nil : UnsafeMutablePointer(mutating: namesBuffer.baseAddress),
                                    0, controls.count == 1 ? nil : controls.baseAddress, nil,
                                    request.timeLimit > 0 ? limit : nil, Int32(clamping: request.sizeLimit), &msgid)
                }
            }
        }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        return msgid
    }

    struct Received {
        var entries: [LDAPEntry] = []
        var references: [String] = []
        var cookie: [UInt8] = []
        var pagedByServer = false
        var estimate = 0
        var controls: [ResponseControl] = []
    }

    /// Collects every message of one search request up to its result.
    func receive(_ msgid: Int32, request: SearchRequest) throws -> Received {
        let handle = try requireHandle("search")
        var received = Received()
        // The entries with a ranged attribute (a `;` in a name), noted as they are parsed: a
        // second walk through every entry's names cost a read of 100,000 users 2% of its CPU.
        var ranged: [Int] = []
        // What reads each attribute's values in turn (`parseEntry`): one for the page.
        guard let values = AttributeValueReader() else {
            throw LDAPConnection.error(handle, rc: LDAP_NO_MEMORY, operation: "search", uri: uri)
        }
        try eachMessage(msgid, operation: "search", lost: { "after \(received.entries.count) entries of this page" }) { current in
            let type = ldap_msgtype(current)
            if type == cldap_res_search_entry() {
                let (entry, hasRange) = try parseEntry(handle, current, values: values)
                if hasRange { ranged.append(received.entries.count) }
                received.entries.append(entry)
            } else if type == cldap_res_search_reference() {
                received.references += parseReference(handle, current)
            } else if type == cldap_res_search_result() {
                try parseResult(handle, current, into: &received, request: request)
                return true
            }
            return false
        }
        if request.completeRangedAttributes {
            for i in ranged {
                try completeRanges(&received.entries[i], request: request)
            }
        }
        return received
    }

    /// Hands each message of request `msgid` to `body` as it arrives, until `body` says the
    /// request is done (its result came). No answer within the operation timeout abandons the
    /// request; a dropped connection is `connectionLost`, with `lost()` saying how far it got.
    func eachMessage(_ msgid: Int32, operation: String, lost: () -> String,
                     _ body: (OpaquePointer) throws -> Bool) throws {
        let handle = try requireHandle(operation)
        var done = false
        while !done {
            var timeout = timeval(options.operationTimeout)
            var chain: OpaquePointer?
            // LDAP_MSG_RECEIVED: everything of this request that has arrived so far, so a big
            // page is parsed while the rest of it is still on the wire.
            let rc = ldap_result(handle, msgid, LDAP_MSG_RECEIVED, &timeout, &chain)
            defer { if chain != nil { ldap_msgfree(chain) } }
            if rc == 0 {
                ldap_abandon_ext(handle, msgid, nil, nil)
                throw LDAPError(code: .timeout, operation: operation, uri: uri, kind: .timeout,
                                detail: "no answer from the server within \(options.operationTimeout.seconds) s")
            }
            if rc == -1 {
                var code: Int32 = 0
                ldap_get_option(handle, LDAP_OPT_RESULT_CODE, &code)
                let error = LDAPConnection.error(handle, rc: code, operation: operation, uri: uri)
                if error.kind == .unreachable {
                    throw LDAPError(code: error.code, operation: operation, diagnosticMessage: error.diagnosticMessage,
                                    uri: uri, kind: .connectionLost, detail: "the connection to \(uri) was lost \(lost())")
                }
                throw error
            }
            var message = ldap_first_message(handle, chain)
            while let current = message, !done {
                done = try body(current)
                message = ldap_next_message(handle, current)
            }
        }
    }

    /// The entry of a search entry message, and whether an attribute's name has a `;` (AD's
    /// ranged attributes, `member;range=0-1499`).
    func parseEntry(_ handle: OpaquePointer, _ message: OpaquePointer, values reader: AttributeValueReader) throws -> (LDAPEntry, ranged: Bool) {
        // ldap_get_dn_ber/ldap_get_attribute_ber hand out values that point into the message's
        // BER buffer: no copy per value in libldap, one copy (into Swift) here.
        var ber: OpaquePointer?
        var dn = berval()
        var rc = ldap_get_dn_ber(handle, message, &ber, &dn)
        defer { if ber != nil { ber_free(ber, 0) } }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        let dnString = LDAPConnection.string(dn)
        // All names and values go into one packed buffer (LDAPEntry.packed): one allocation per
        // entry rather than two per attribute, of the size of what is left of the message. The
        // packed form is never longer than the BER it comes from: each length's varint takes no
        // more bytes than its BER length, and each value's and name's BER tag is dropped, as are
        // the headers of the attribute's SEQUENCE and SET (at least four bytes) for the count.
        var remaining: ber_len_t = 0
        guard ber_get_option(UnsafeMutableRawPointer(ber), LBER_OPT_BER_REMAINING_BYTES, &remaining) == LBER_OPT_SUCCESS else {
            throw LDAPConnection.error(handle, rc: LDAP_DECODING_ERROR, operation: "search", uri: uri)
        }
        var ranged = false
        var fitted = true
        let packed = [UInt8](unsafeUninitializedCapacity: Int(remaining) + 16) { buffer, count in
            var writer = LDAPEntry.PackedWriter(buffer)
            // In place (`cldap_next_attribute`), with no allocation per attribute.
            var name = berval()
            var values = berval()
            while fitted, cldap_next_attribute(ber, &name, &values) == 1 {
                let nameBytes = LDAPConnection.buffer(name)
                // A byte test: String.contains(String) goes through Foundation's locale-aware
                // search, which cost more than parsing the entry.
                if !ranged && nameBytes.contains(UInt8(ascii: ";")) { ranged = true }
                let read = reader.read(&values)
                fitted = writer.appendName(nameBytes, valueCount: read.count)
                for value in read where fitted { fitted = writer.appendValue(LDAPConnection.buffer(value)) }
            }
            count = writer.count
        }
        // (Only a message that is not BER could take more room than its own length.)
        guard fitted else { throw LDAPConnection.error(handle, rc: LDAP_DECODING_ERROR, operation: "search", uri: uri) }
        return (LDAPEntry(dn: dnString, written: packed), ranged)
    }

    func parseReference(_ handle: OpaquePointer, _ message: OpaquePointer) -> [String] {
        var refs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        guard ldap_parse_reference(handle, message, &refs, nil, 0) == LDAP_SUCCESS, let refs else { return [] }
        defer { ber_memvfree(UnsafeMutableRawPointer(refs).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)) }
        var result: [String] = []
        var i = 0
        while let ref = refs[i] {
            result.append(String(cString: ref))
            i += 1
        }
        return result
    }

    func parseResult(_ handle: OpaquePointer, _ message: OpaquePointer, into received: inout Received,
                             request: SearchRequest) throws {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>?
        var text: UnsafeMutablePointer<CChar>?
        var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let rc = ldap_parse_result(handle, message, &code, &matched, &text, &referrals, &controls, 0)
        defer {
            if matched != nil { ldap_memfree(matched) }
            if text != nil { ldap_memfree(text) }
            if let referrals { ber_memvfree(UnsafeMutableRawPointer(referrals).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)) }
            if controls != nil { ldap_controls_free(controls) }
        }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        guard code == LDAP_SUCCESS else {
            let diag = text.map { String(cString: $0) }
            let matchedDN = matched.map { String(cString: $0) }
            var detail: String?
            switch LDAPResultCode(code) {
            case .sizeLimitExceeded:
                detail = "the result is larger than the size limit"
                    + (request.sizeLimit > 0 ? " (\(request.sizeLimit) entries)" : " the server allows this account")
                    + "; the result would be incomplete"
            case .timeLimitExceeded:
                detail = "the search took longer than the time limit; the result would be incomplete"
            case .noSuchObject:
                detail = "the search base '\(request.base)' does not exist"
            case .referral:
                var urls: [String] = []
                if let referrals {
                    var i = 0
                    while let r = referrals[i] { urls.append(String(cString: r)); i += 1 }
                }
                detail = "the server refers this search elsewhere: \(urls.joined(separator: " ")); "
                    + "the base '\(request.base)' is not held by this server"
            case .unavailableCriticalExtension:
                detail = "the server does not support a control this search needs"
            case .adminLimitExceeded where diag?.lowercased().contains("paged") == true:
                detail = "the server does not allow paged results for this account; the result would be incomplete"
            default:
                break
            }
            throw LDAPError(code: LDAPResultCode(code), operation: "search", diagnosticMessage: diag,
                            matchedDN: matchedDN, uri: uri, detail: detail)
        }
        if let controls {
            var i = 0
            while let control = controls[i] {
                received.controls.append(ResponseControl(oid: String(cString: control.pointee.ldctl_oid),
                                                         value: LDAPConnection.bytes(control.pointee.ldctl_value)))
                i += 1
            }
        }
        if let controls, let page = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nil) {
            var count: ber_int_t = 0
            var cookie = berval()
            if ldap_parse_pageresponse_control(handle, page, &count, &cookie) == LDAP_SUCCESS {
                received.pagedByServer = true
                received.estimate = Int(count)
                received.cookie = LDAPConnection.bytes(cookie)
                if cookie.bv_val != nil { ber_memfree(cookie.bv_val) }
            }
        }
    }

    /// Reads the remaining ranges of every ranged attribute of `entry`, and stores all values
    /// under the attribute's plain name. Windows AD ranges a plain request for `member` past
    /// 1,500 values (`member;range=0-1499`); a caller may also ask for a range explicitly.
    func completeRanges(_ entry: inout LDAPEntry, request: SearchRequest) throws {
        for attribute in entry.attributes {
            guard let first = RangedAttribute(attribute.name) else { continue }
            var values = attribute.values
            var current = first
            var rounds = 0
            while let next = current.nextRequest {
                rounds += 1
                let msgid = try sendSearch(request, pageSize: 0, cookie: [], base: entry.dn, scope: .base,
                                           attributes: [next])
                var partRequest = request
                partRequest.completeRangedAttributes = false
                let part = try receive(msgid, request: partRequest)
                guard let partEntry = part.entries.first,
                      let partAttribute = partEntry.attributes.first(where: {
                          RangedAttribute($0.name)?.baseName.caseInsensitiveCompare(first.baseName) == .orderedSame
                      }),
                      let range = RangedAttribute(partAttribute.name) else {
                    break // the server has no more values to give
                }
                values += partAttribute.values
                guard range.high == nil || range.high! > current.high!, rounds < 1_000_000 else {
                    throw LDAPError(code: .decodingError, operation: "search", uri: uri, kind: .other,
                                    detail: "the server returned ranges of '\(first.baseName)' of \(entry.dn) that do not advance")
                }
                current = range
            }
            entry.remove(attribute.name)
            entry.set(first.baseName, values: entry[first.baseName] + values)
        }
    }
}

/// Reads an attribute's values in place (`cldap_read_values`) with one BerElement and one array
/// of values kept from attribute to attribute, grown when an attribute has more values than it
/// holds. Used by one thread, for one page of a search.
final class AttributeValueReader: @unchecked Sendable {
    private let reader: OpaquePointer
    private var buffer: UnsafeMutableBufferPointer<berval>

    init?() {
        guard let reader = ber_alloc_t(0) else { return nil }
        self.reader = reader
        buffer = .allocate(capacity: 64)
    }

    deinit {
        // Frees the BerElement, not the message buffer it was last pointed at.
        ber_free(reader, 0)
        buffer.deallocate()
    }

    /// The values of `vals` (from `cldap_next_attribute`), valid until the next call.
    func read(_ vals: inout berval) -> UnsafeMutableBufferPointer<berval> {
        var count = Int(cldap_read_values(reader, &vals, buffer.baseAddress, ber_len_t(buffer.count)))
        if count > buffer.count {
            buffer.deallocate()
            buffer = .allocate(capacity: count)
            count = Int(cldap_read_values(reader, &vals, buffer.baseAddress, ber_len_t(buffer.count)))
        }
        return UnsafeMutableBufferPointer(rebasing: buffer[..<min(count, buffer.count)])
    }
}
