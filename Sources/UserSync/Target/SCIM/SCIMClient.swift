import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOHTTP1

/// The requests of one push to one target's SCIM API (RFC 7644), through an `HTTPFetcher`
/// (auth, TLS, retries on 429 and 5xx with `Retry-After`). Each request is counted in
/// `/metrics` (`usersync_target_requests_total` by target, method and outcome).
final class SCIMClient: Sendable {
    let fetcher: HTTPFetcher
    let target: String
    /// The base URL without a trailing slash.
    let base: String

    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

    init(fetcher: HTTPFetcher, target: String) {
        self.fetcher = fetcher
        self.target = target
        var base = fetcher.settings.url
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
    }

    /// One answer: its status, its body (as JSON when it is), and its ETag.
    struct Answer: Sendable {
        let status: UInt
        let text: String
        let etag: String?
        let milliseconds: Int

        var ok: Bool { (200..<300).contains(status) }
        var object: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        }

        /// A SCIM error's status, scimType and detail (RFC 7644 section 3.12), else the body's start.
        var problem: String {
            if let error = object, let detail = error["detail"] as? String {
                return "\(status)\((error["scimType"] as? String).map { " \($0)" } ?? ""): \(detail)"
            }
            let start = text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200)
            return "\(status)\(start.isEmpty ? "" : ": \(start)")"
        }

        var scimType: String? { object?["scimType"] as? String }
    }

    /// Sends one request (`path` under the base URL, such as `/Users/ID`); throws only when no
    /// answer came.
    func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, ifMatch: String? = nil) async throws -> Answer {
        let started = ContinuousClock.now
        let bytes = try body.map { [UInt8](try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])) }
        do {
            let page = try await fetcher.exchange(method, base + path, body: bytes, headers: ifMatch.map { [("If-Match", $0)] } ?? [])
            let answer = Answer(status: page.status, text: String(decoding: page.body, as: UTF8.self),
                                etag: page.headers.first(name: "ETag"), milliseconds: started.elapsedMilliseconds)
            count(method, answer.ok ? "ok" : answer.status == 429 ? "throttled" : answer.status >= 500 ? "server_error" : "client_error")
            return answer
        } catch {
            count(method, "no_answer")
            throw error
        }
    }

    private func count(_ method: HTTPMethod, _ outcome: String) {
        Counter(label: "usersync_target_requests_total",
                dimensions: [("target", target), ("method", method.rawValue), ("outcome", outcome)]).increment()
    }

    /// `/ServiceProviderConfig`: what the server supports.
    func serviceProvider() async throws -> ServiceProvider {
        let answer = try await send(.GET, "/ServiceProviderConfig")
        guard answer.ok else {
            throw HTTPSourceError.status(answer.status, url: base + "/ServiceProviderConfig", body: answer.text, attempts: 1, location: nil)
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(answer.text.utf8)) else {
            throw ServiceProvider.Unreadable(description: "\(base)/ServiceProviderConfig: the answer is not JSON: \(answer.text.prefix(120))")
        }
        return try ServiceProvider.parse(json, url: base + "/ServiceProviderConfig")
    }

    /// A query's resources (`GET /Users?filter=…`), one page of up to `count`, and the total.
    func query(_ resource: String, filter: String? = nil, attributes: [String], startIndex: Int = 1, count: Int) async throws
        -> (resources: [[String: Any]], total: Int) {
        var items = [URLQueryItem(name: "attributes", value: attributes.joined(separator: ",")),
                     URLQueryItem(name: "startIndex", value: "\(startIndex)"), URLQueryItem(name: "count", value: "\(count)")]
        if let filter { items.insert(URLQueryItem(name: "filter", value: filter), at: 0) }
        var components = URLComponents()
        components.queryItems = items
        // URLComponents leaves '+' alone, which a server may read as a space.
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let answer = try await send(.GET, "/\(resource)?\(query)")
        guard answer.ok, let page = answer.object else {
            throw HTTPSourceError(kind: .searchFailed, url: "\(base)/\(resource)", message: "listing \(resource) answered \(answer.problem)")
        }
        let resources = page["Resources"] as? [[String: Any]] ?? []
        let total = (page["totalResults"] as? Int) ?? (page["totalResults"] as? NSNumber)?.intValue ?? resources.count
        return (resources, total)
    }

    /// Every resource of a type, page by page (RFC 7644 section 3.4.2.4), with `attributes` only.
    func list(_ resource: String, attributes: [String], pageSize: Int) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var start = 1
        while true {
            let page = try await query(resource, attributes: attributes, startIndex: start, count: pageSize)
            all += page.resources
            start += page.resources.count
            if page.resources.isEmpty || start > page.total { return all }
        }
    }

    /// A string as a SCIM filter's value: a JSON string (RFC 7644 section 3.4.2.2).
    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// A resource id as a path segment.
    static func segment(_ id: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }
}

extension ContinuousClock.Instant {
    var elapsedMilliseconds: Int {
        let elapsed = ContinuousClock.now - self
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
