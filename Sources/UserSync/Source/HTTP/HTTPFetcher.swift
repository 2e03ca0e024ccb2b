import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The requests of one REST or file source (GETs), or of one SCIM target (writes too), over one
/// AsyncHTTPClient: authentication (bearer, basic, OAuth 2.0 client credentials with the token
/// refreshed before it expires), TLS with the configured CA, timeouts, and retries with backoff
/// on 429 and 5xx (honouring `Retry-After`) and on dropped connections, a bounded number of
/// times; then the request fails (a source's read, and the run with it; a target's one object).
///
/// A request that is not idempotent (a POST) is tried again only when the server cannot have
/// acted on it: a 429 or a 503 (RFC 9110 section 15.6.4: "currently unable to handle the
/// request"), or a connection that was never made. Anything else — a 500, a connection dropped
/// after the request went out, a timeout — is handed back, since the server may have created
/// the resource: the caller looks it up before trying again.
///
/// Plain `http://` and TLS without certificate checks are refused unless the source says
/// `allowInsecure: true`, so that credentials never travel in clear by accident. Every request,
/// the configured `url`'s and every link a page names (a next link, a `Link` header, a SCIM
/// `location`), goes only to the configured URL's origin (scheme, host and port) or to one of
/// `allowedOrigins`: a page cannot send the credentials to another server. Redirects are not
/// followed, for the same reason.
final class HTTPFetcher: Sendable {
    let settings: HTTPSettings
    private let client: HTTPClient
    private let tokens: TokenCache
    private let pacer = RateLimitPacer()
    let logger: Logger
    /// The largest page body read into memory (a CSV download goes to a file instead).
    static let maxPageBytes = 256 * 1024 * 1024

    /// Runs `body` with a fetcher for `settings`, shutting its client down afterwards.
    static func with<T: Sendable>(_ settings: HTTPSettings, logger: Logger,
                                  _ body: (HTTPFetcher) async throws -> T) async throws -> T {
        let fetcher = try HTTPFetcher(settings, logger: logger)
        do {
            let result = try await body(fetcher)
            try? await fetcher.client.shutdown()
            return result
        } catch {
            try? await fetcher.client.shutdown()
            throw error
        }
    }

    private init(_ settings: HTTPSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        try HTTPFetcher.checkSecure(settings.url, settings, what: "url")
        if case .oauth2(let oauth) = settings.auth { try HTTPFetcher.checkSecure(oauth.tokenURL, settings, what: "auth.oauth2.tokenURL") }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw HTTPSourceError(kind: .configuration, url: settings.url, message: "tls.caFile \(caFile) cannot be read")
            }
            tls.trustRoots = .file(caFile)
        }
        if !settings.verify { tls.certificateVerification = .none }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(Int64(settings.connectTimeout.secondsValue * 1000)),
                           read: .milliseconds(Int64(settings.timeout.secondsValue * 1000))))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        tokens = TokenCache()
    }

    static func checkSecure(_ url: String, _ settings: HTTPSettings, what: String) throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), parsed.host != nil else {
            throw HTTPSourceError(kind: .configuration, url: url, message: "\(what) is not an absolute http(s) URL")
        }
        if scheme == "http" && !settings.allowInsecure {
            throw HTTPSourceError(kind: .insecure, url: url,
                                  message: "\(what) is plain http://: credentials and users would travel unencrypted. Use https://, or set allowInsecure: true on the source (test servers on loopback only)")
        }
        if scheme != "http" && scheme != "https" {
            throw HTTPSourceError(kind: .configuration, url: url, message: "\(what) must start with https:// (or http:// with allowInsecure: true)")
        }
        if !settings.verify && !settings.allowInsecure {
            throw HTTPSourceError(kind: .insecure, url: url,
                                  message: "tls.verify: never would accept any server's certificate: give tls.caFile instead, or set allowInsecure: true (test servers only)")
        }
    }

    /// Refuses a request to `url` unless it goes to the configured URL's origin or one of
    /// `allowedOrigins`, over https (or http with `allowInsecure`). Every request passes here
    /// before it is sent, whoever made its URL.
    func checkLink(_ url: String) throws {
        try HTTPFetcher.checkSecure(url, settings, what: url == settings.url ? "url" : "the link \(url)")
        guard let origin = Origin(url), settings.trustedOrigins.contains(origin) else {
            throw HTTPSourceError(kind: .insecure, url: url,
                                  message: "the link goes to \(Origin(url)?.description ?? url), not to \(Origin(settings.url)?.description ?? settings.url) (url): the source's credentials are sent only to its own server. If that server really hands out links to another, name it in allowedOrigins")
        }
    }

    /// A page as bytes, after authentication and retries.
    func get(_ url: String, accept: String = "application/json") async throws -> Page {
        try await send(url, accept: accept) { response in
            let body = try await response.body.collect(upTo: HTTPFetcher.maxPageBytes)
            return Page(url: url, status: response.status.code, headers: response.headers, body: Array(body.readableBytesView))
        }
    }

    /// One request of any method, with a JSON body: the final answer whatever its status (a
    /// 404 or a 409 means something to the caller), after the retries described above. Throws
    /// only when no answer came (`HTTPSourceError` of kind unreachable or tls).
    func exchange(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = [],
                  accept: String = "application/scim+json, application/json",
                  contentType: String = "application/scim+json") async throws -> Page {
        let request = Request(method: method, body: body, contentType: contentType, headers: headers,
                              idempotent: method != .POST && method != .PATCH, answerErrors: true)
        return try await send(url, accept: accept, request: request) { response in
            let body = try await response.body.collect(upTo: HTTPFetcher.maxPageBytes)
            return Page(url: url, status: response.status.code, headers: response.headers, body: Array(body.readableBytesView))
        }
    }

    /// What a request sends beyond a plain GET.
    private struct Request {
        var method: HTTPMethod = .GET
        var body: [UInt8]?
        var contentType = "application/json"
        var headers: [(String, String)] = []
        /// Whether sending it twice is harmless (RFC 9110 section 9.2.2). A PATCH of SCIM's
        /// `replace` operations is, but one that adds members is not always.
        var idempotent = true
        /// Hand a final 4xx or 5xx answer to `read` instead of throwing.
        var answerErrors = false
    }

    /// Streams a body to `file` (a CSV download), after authentication and retries.
    func download(_ url: String, to file: String) async throws {
        _ = try await send(url, accept: "text/csv, text/plain, */*", deadline: .hours(24)) { response in
            guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: file) else {
                throw HTTPSourceError(kind: .other, url: url, message: "cannot write the download to \(file)")
            }
            defer { try? handle.close() }
            for try await chunk in response.body {
                try handle.write(contentsOf: Data(chunk.readableBytesView))
            }
            return Page(url: url, status: response.status.code, headers: response.headers, body: [])
        }
    }

    struct Page: Sendable {
        let url: String
        let status: UInt
        let headers: HTTPHeaders
        let body: [UInt8]

        /// The body as a JSON document, or an error naming the URL and what was wrong.
        func json() throws -> Any {
            do {
                return try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
            } catch {
                let start = String(decoding: body.prefix(120), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
                throw HTTPSourceError(kind: .malformed, url: url,
                                      message: "the answer is not JSON (\(headers.first(name: "Content-Type") ?? "no Content-Type")): \(start)\(body.count > 120 ? "…" : "")")
            }
        }
    }

    /// One request with retries: 429 and 5xx answers and failed connections are tried again
    /// (after `Retry-After` when the server gives it, else after a growing delay), up to
    /// `settings.maxAttempts` tries in all; a 401 with OAuth gets one fresh token.
    private func send<T: Sendable>(_ url: String, accept: String, deadline: TimeAmount? = nil, request options: Request = Request(),
                                   _ read: (HTTPClientResponse) async throws -> T) async throws -> T {
        try checkLink(url)
        var attempt = 0
        var refreshed = false
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = options.method
            request.headers.add(name: "Accept", value: accept)
            request.headers.add(name: "User-Agent", value: "usersync")
            if let body = options.body {
                request.headers.add(name: "Content-Type", value: options.contentType)
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            for (name, value) in options.headers { request.headers.add(name: name, value: value) }
            if let authorization = try await authorization(refresh: false) {
                request.headers.add(name: "Authorization", value: authorization)
            }
            if settings.paceByRateLimitHeaders, let wait = await pacer.wait(reserve: settings.rateLimitReserve) {
                logger.info("rate limit nearly used up; waiting for the window to end", metadata: ["url": "\(url)", "seconds": "\(String(format: "%.1f", wait))"])
                try await Task.sleep(for: .milliseconds(Int(min(wait, settings.maxRetryDelay) * 1000)))
            }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: deadline ?? .milliseconds(Int64(settings.timeout.secondsValue * 1000)))
            } catch {
                let reason = HTTPFetcher.describe(error)
                if HTTPFetcher.isTLSFailure(error) {
                    // A certificate that fails its check fails the same way next time.
                    throw HTTPSourceError(kind: .tls, url: url, message: reason + (settings.caFile == nil ? " (give tls.caFile if a private CA signed the server's certificate)" : ""))
                }
                guard attempt < settings.maxAttempts, options.idempotent || HTTPFetcher.neverConnected(error) else {
                    throw HTTPSourceError(kind: .unreachable, url: url, message: "\(reason) (after \(attempt) tr\(attempt == 1 ? "y" : "ies"))")
                }
                let delay = backoff(attempt)
                logger.warning("request failed; trying again", metadata: ["url": "\(url)", "error": "\(reason)", "attempt": "\(attempt)", "delaySeconds": "\(delay)"])
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                continue
            }
            let status = response.status.code
            if settings.paceByRateLimitHeaders { await pacer.note(response.headers) }
            if (200..<300).contains(status) { return try await read(response) }
            let retriable = status == 429 || status == 503 || (options.idempotent && (500..<600).contains(status))
            var refreshable = false
            if status == 401, case .oauth2 = settings.auth, !refreshed { refreshable = true }
            if options.answerErrors && !refreshable && !(retriable && attempt < settings.maxAttempts) {
                return try await read(response)
            }
            let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            if refreshable {
                refreshed = true
                _ = try await authorization(refresh: true)
                attempt -= 1
                continue
            }
            if retriable, attempt < settings.maxAttempts {
                // Okta answers 429 with X-Rate-Limit-Reset (the window's end, in epoch seconds) and no Retry-After.
                let delay = HTTPFetcher.retryAfter(response.headers.first(name: "Retry-After"))
                    ?? (settings.paceByRateLimitHeaders ? RateLimitPacer.untilReset(response.headers) : nil) ?? backoff(attempt)
                logger.warning("the server asked to wait; trying again",
                               metadata: ["url": "\(url)", "status": "\(status)", "attempt": "\(attempt)", "delaySeconds": "\(delay)"])
                try await Task.sleep(for: .milliseconds(Int(min(delay, settings.maxRetryDelay) * 1000)))
                continue
            }
            throw HTTPSourceError.status(status, url: url, body: body, attempts: attempt, location: response.headers.first(name: "Location"))
        }
    }

    /// 0.5 s, 1 s, 2 s, … up to 30 s, each with up to a quarter more at random (so that many
    /// clients do not retry in step).
    private func backoff(_ attempt: Int) -> Double {
        let base = min(30, 0.5 * pow(2, Double(attempt - 1)))
        return base + Double.random(in: 0...(base / 4))
    }

    /// `Retry-After`: seconds, or an HTTP date (RFC 9110 section 10.2.3).
    static func retryAfter(_ value: String?) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connecting timed out"
            case .readTimeout: return "the server did not answer in time (timeout)"
            case .deadlineExceeded: return "the request took longer than its deadline"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        return isTLSFailure(error) ? "TLS failed: \(error)" : "\(error)"
    }

    /// Whether the request cannot have reached the server: the connection was never made.
    static func neverConnected(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        let text = "\(error)"
        return text.contains("connectTimeout") || text.contains("Connection refused") || text.contains("connection refused")
    }

    /// A handshake or certificate failure (NIOSSL's errors, or an error that names one, as
    /// AsyncHTTPClient passes on the last connection attempt's).
    static func isTLSFailure(_ error: any Error) -> Bool {
        if error is NIOSSLError || error is BoringSSLError { return true }
        let text = "\(error)"
        return text.contains("certificate") || text.contains("handshake")
    }

    // MARK: Authentication

    /// The Authorization header's value; nil without auth.
    private func authorization(refresh: Bool) async throws -> String? {
        switch settings.auth {
        case nil:
            return nil
        case .bearer(let file, let env)?:
            guard let token = try Secrets.password(file: file, environmentVariable: env) else { return nil }
            return "Bearer \(token)"
        case .ssws(let file, let env)?:
            guard let token = try Secrets.password(file: file, environmentVariable: env) else { return nil }
            return "SSWS \(token)"
        case .basic(let username, let file, let env)?:
            let password = try Secrets.password(file: file, environmentVariable: env) ?? ""
            return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        case .oauth2(let oauth)?:
            if !refresh, let token = await tokens.valid() { return "Bearer \(token)" }
            let token = try await requestToken(oauth)
            return "Bearer \(token)"
        }
    }

    /// The OAuth access token the requests carry (fetched when there is none yet); nil for
    /// other kinds of auth.
    func accessToken() async throws -> String? {
        guard case .oauth2 = settings.auth else { return nil }
        return try await authorization(refresh: false).map { String($0.dropFirst("Bearer ".count)) }
    }

    /// OAuth 2.0 client credentials grant (RFC 6749 section 4.4).
    private func requestToken(_ oauth: HTTPSettings.OAuth2) async throws -> String {
        var form = [("grant_type", "client_credentials")]
        if let scope = oauth.scope { form.append(("scope", scope)) }
        if let assertion = oauth.assertion {
            // RFC 7523 section 2.2: the client authenticates with a JWT it signs.
            form += [("client_id", oauth.clientID),
                     ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                     ("client_assertion", try assertion.make(clientID: oauth.clientID, audience: oauth.tokenURL))]
            return try await postTokenRequest(oauth, form: form, basic: nil)
        }
        let secret = try Secrets.password(file: oauth.clientSecretFile, environmentVariable: oauth.clientSecretEnv) ?? ""
        var basic: String?
        switch oauth.clientAuthentication {
        case .basic:
            basic = "Basic " + Data("\(HTTPFetcher.formEncode(oauth.clientID)):\(HTTPFetcher.formEncode(secret))".utf8).base64EncodedString()
        case .post:
            form += [("client_id", oauth.clientID), ("client_secret", secret)]
        }
        return try await postTokenRequest(oauth, form: form, basic: basic)
    }

    private func postTokenRequest(_ oauth: HTTPSettings.OAuth2, form: [(String, String)], basic: String?) async throws -> String {
        var request = HTTPClientRequest(url: oauth.tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if let basic { request.headers.add(name: "Authorization", value: basic) }
        let body = form.map { "\($0.0)=\(HTTPFetcher.formEncode($0.1))" }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout.secondsValue * 1000)))
        } catch {
            throw HTTPSourceError(kind: .unreachable, url: oauth.tokenURL, message: "the token endpoint: \(HTTPFetcher.describe(error))")
        }
        let data = try await response.body.collect(upTo: 1024 * 1024)
        let text = String(buffer: data)
        guard response.status == .ok else {
            throw HTTPSourceError(kind: .authentication, url: oauth.tokenURL,
                                  message: "the token endpoint answered \(response.status.code) \(response.status.reasonPhrase): \(text.prefix(300))")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let token = json["access_token"] as? String else {
            throw HTTPSourceError(kind: .malformed, url: oauth.tokenURL, message: "the token endpoint's answer has no access_token: \(text.prefix(300))")
        }
        let lifetime = (json["expires_in"] as? NSNumber)?.doubleValue ?? Double(json["expires_in"] as? String ?? "") ?? 3600
        await tokens.store(token, expires: Date().addingTimeInterval(lifetime))
        logger.debug("OAuth token obtained", metadata: ["expiresIn": "\(lifetime)"])
        return token
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The current OAuth token; taken as expired 30 s early, so that no request carries one that
/// runs out on its way.
actor TokenCache {
    private var token: String?
    private var expires = Date.distantPast

    func valid() -> String? {
        guard let token, Date().addingTimeInterval(30) < expires else { return nil }
        return token
    }

    func store(_ token: String, expires: Date) {
        self.token = token
        self.expires = expires
    }
}

/// What the last answer said of the rate limit's window (`X-Rate-Limit-Remaining`, and
/// `X-Rate-Limit-Reset` in seconds since the epoch, as Okta sends them on every answer).
actor RateLimitPacer {
    private var remaining: Int?
    private var reset: Double?
    private var pausedUntil: Double?

    func note(_ headers: HTTPHeaders) {
        guard let left = headers.first(name: "X-Rate-Limit-Remaining").flatMap({ Int($0) }) else { return }
        remaining = left
        reset = headers.first(name: "X-Rate-Limit-Reset").flatMap { Double($0) }
    }

    /// Seconds to wait before the next request: until the window's end when no more than
    /// `reserve` requests are left in it (room for the requests in flight beside this one);
    /// every request asking while the window is spent waits for the same end.
    func wait(reserve: Int) -> Double? {
        let now = Date().timeIntervalSince1970
        if let pausedUntil, pausedUntil > now { return pausedUntil - now }
        guard let left = remaining, left <= reserve, let reset, reset > now else {
            remaining = remaining.map { $0 - 1 }  // this request uses one
            return nil
        }
        let until = reset + 0.2
        pausedUntil = until
        // The first answer in the new window tells its count.
        remaining = nil
        return until - now
    }

    static func untilReset(_ headers: HTTPHeaders) -> Double? {
        guard let reset = headers.first(name: "X-Rate-Limit-Reset").flatMap({ Double($0) }) else { return nil }
        return max(0, reset - Date().timeIntervalSince1970) + 0.2
    }
}

/// A failed read of a REST or file source over HTTP.
public struct HTTPSourceError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case unreachable, tls, authentication, insecure, malformed, configuration, searchFailed, other
    }

    public let kind: Kind
    public let url: String
    public let message: String
    /// The HTTP status of the final answer, when there was one.
    public var status: UInt?
    /// The body of that answer (its first 64 KiB), for callers that read an error's code.
    public var body: String?

    public init(kind: Kind, url: String, message: String, status: UInt? = nil, body: String? = nil) {
        self.kind = kind
        self.url = url
        self.message = message
        self.status = status
        self.body = body
    }

    public var description: String { "\(url): \(message)" }

    /// A final answer that is not a success.
    static func status(_ status: UInt, url: String, body: String, attempts: Int, location: String?) -> HTTPSourceError {
        var error = plainStatus(status, url: url, body: body, attempts: attempts, location: location)
        error.status = status
        error.body = body
        return error
    }

    private static func plainStatus(_ status: UInt, url: String, body: String, attempts: Int, location: String?) -> HTTPSourceError {
        let excerpt = body.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300)
        let after = attempts > 1 ? " after \(attempts) tries" : ""
        switch status {
        case 401:
            return HTTPSourceError(kind: .authentication, url: url, message: "401 Unauthorized: the credentials (auth) were refused\(excerpt.isEmpty ? "" : ": \(excerpt)")")
        case 403:
            return HTTPSourceError(kind: .authentication, url: url, message: "403 Forbidden: the account may not read this\(excerpt.isEmpty ? "" : ": \(excerpt)")")
        case 404:
            return HTTPSourceError(kind: .searchFailed, url: url, message: "404 Not Found: check url")
        case 300..<400:
            return HTTPSourceError(kind: .configuration, url: url,
                                   message: "\(status) redirect to \(location ?? "?"): redirects are not followed (credentials would go along); put the final address in url")
        default:
            return HTTPSourceError(kind: .unreachable, url: url, message: "answered \(status)\(after)\(excerpt.isEmpty ? "" : ": \(excerpt)")")
        }
    }
}

/// A URL's origin (RFC 6454): scheme, host and port, the port made explicit.
struct Origin: Hashable, Sendable, CustomStringConvertible {
    let scheme: String
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(),
              let host = parsed.host?.lowercased(), !host.isEmpty else { return nil }
        self.scheme = scheme
        self.host = host
        guard let port = parsed.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : nil) else { return nil }
        self.port = port
    }

    var description: String { "\(scheme)://\(host):\(port)" }
}

extension HTTPSettings {
    /// Where requests may go: the configured URL's origin and `allowedOrigins`.
    var trustedOrigins: Set<Origin> {
        Set(([url] + allowedOrigins).compactMap(Origin.init))
    }
}
