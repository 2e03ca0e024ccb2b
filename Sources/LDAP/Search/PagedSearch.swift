/// A paged search (RFC 2696) as an asynchronous sequence of pages.
///
/// Iterating it sends the first request; each page arrives with the request for the next one
/// already sent. Memory is bounded by the page size, not by the size of the result. The
/// sequence ends after the server's last page; any failure (a size or time limit, a lost
/// connection, a bad base) is thrown, never turned into a short result. If the server does not
/// page (it ignores the non-critical control), the one "page" it sends has `pagedByServer` false.
public struct PagedSearch: AsyncSequence, Sendable {
    public typealias Element = SearchPage

    let connection: LDAPConnection
    public let request: SearchRequest
    public let pageSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(state: State(connection: connection), request: request, pageSize: pageSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let state: State
        let request: SearchRequest
        let pageSize: Int

        public mutating func next() async throws -> SearchPage? {
            try await state.next(request: request, pageSize: pageSize)
        }
    }

    /// Holds the request in flight; abandons it if the consumer stops early.
    final class State: @unchecked Sendable {
        // Only the consuming task touches these (an iterator is not shared between tasks).
        let connection: LDAPConnection
        var pending: Int32?
        var started = false
        var finished = false
        var index = 0

        init(connection: LDAPConnection) { self.connection = connection }

        func next(request: SearchRequest, pageSize: Int) async throws -> SearchPage? {
            guard !finished else { return nil }
            do {
                if !started {
                    started = true
                    pending = try await connection.startPagedSearch(request, pageSize: pageSize)
                }
                guard let msgid = pending else {
                    finished = true
                    return nil
                }
                pending = nil
                let (page, next) = try await connection.nextPage(msgid, request: request, pageSize: pageSize, index: index)
                index += 1
                pending = next
                if next == nil { finished = true }
                return page
            } catch {
                finished = true
                throw error
            }
        }

        deinit {
            if let msgid = pending, !finished {
                let connection = self.connection
                Task { await connection.abandon(msgid) }
            }
        }
    }
}
