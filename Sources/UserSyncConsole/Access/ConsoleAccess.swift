import Foundation
import Hummingbird
import NIOCore
import UserSync

/// Who may open the console: a login (the form, or `Authorization: Basic`) with the configured
/// user and password, the token of `tokenFile` as `Authorization: Bearer`, a session cookie a
/// login gave, or — only when explicitly allowed and the console listens on loopback — any
/// connection from this machine. The secrets are read once, at start; none is ever shown.
public final class ConsoleAccess: Sendable {
    let user: String
    let password: String?
    let token: String?
    let loopbackWithoutLogin: Bool
    let sessions = ConsoleSessions()

    /// The cookie a login sets.
    static let cookieName = "usersync_console"

    public init(_ settings: ConsoleAccessSettings) throws(Secrets.Unavailable) {
        user = settings.user
        password = try Secrets.password(file: settings.passwordFile, environmentVariable: settings.passwordEnv)
        token = try Secrets.password(file: settings.tokenFile, environmentVariable: nil)
        loopbackWithoutLogin = settings.loopbackWithoutLogin
    }

    /// Whether the request may see the console.
    func allows(_ request: Request, peer: SocketAddress?) async -> Bool {
        if loopbackWithoutLogin, let peer, Self.isLoopback(peer) { return true }
        if let authorization = request.headers[.authorization] {
            if authorization.lowercased().hasPrefix("basic "),
               let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
               let pair = String(data: decoded, encoding: .utf8), let colon = pair.firstIndex(of: ":") {
                return checkLogin(user: String(pair[..<colon]), password: String(pair[pair.index(after: colon)...]))
            }
            if authorization.lowercased().hasPrefix("bearer "), let token {
                return Self.same(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces), token)
            }
            return false
        }
        if let session = Self.cookie(Self.cookieName, in: request) {
            return await sessions.isValid(session)
        }
        return false
    }

    /// The user name and password of a login, compared in constant time.
    func checkLogin(user: String, password: String) -> Bool {
        guard let expected = self.password else { return false }
        // Both compared, always: the time does not tell which one was wrong.
        let userMatches = Self.same(user, self.user)
        let passwordMatches = Self.same(password, expected)
        return userMatches && passwordMatches
    }

    /// Whether a login with a password is possible at all (else the page says how to set one).
    var acceptsLogin: Bool { password != nil }

    /// Equal texts, in a time that depends only on their lengths.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip == "::1" || ip.hasPrefix("127.") || ip.hasPrefix("::ffff:127.")
    }

    /// A cookie's value from the request's `Cookie` headers.
    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.trimmingCharacters(in: .whitespaces)
                if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
            }
        }
        return nil
    }
}

/// The sessions logins made: random tokens, valid for 12 hours, kept in memory (a restart
/// asks everyone to log in again).
actor ConsoleSessions {
    private var expiry: [String: ContinuousClock.Instant] = [:]
    static let lifetime: Duration = .seconds(12 * 3600)
    static let limit = 10_000

    func open() -> String {
        let now = ContinuousClock.now
        if expiry.count >= Self.limit {
            expiry = expiry.filter { $0.value > now }
            // Still full: the oldest go first.
            if expiry.count >= Self.limit {
                for (key, _) in expiry.sorted(by: { $0.value < $1.value }).prefix(expiry.count - Self.limit + 1) {
                    expiry[key] = nil
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
        expiry[token] = now + Self.lifetime
        return token
    }

    func isValid(_ token: String) -> Bool {
        guard let until = expiry[token] else { return false }
        if until < .now {
            expiry[token] = nil
            return false
        }
        return true
    }

    func close(_ token: String) {
        expiry[token] = nil
    }
}
