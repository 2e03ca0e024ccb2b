/// Pages linked one to the next (Graph's @odata.nextLink, a `Link: rel="next"` header): `read`
/// fetches and hands on the page at a URL and returns the next link, or nil at the end. A link
/// to a page already read is a loop, and fails the read instead of reading for ever.
enum PageChain {
    static func follow(from first: String, _ read: (String) async throws -> String?) async throws {
        var url = first
        var seen: Set<String> = []
        while true {
            guard seen.insert(url).inserted else {
                throw HTTPSourceError(kind: .malformed, url: url, message: "the next page is one already read: the paging loops")
            }
            guard let next = try await read(url), !next.isEmpty else { return }
            url = URLText.resolve(next, against: url)
        }
    }
}
