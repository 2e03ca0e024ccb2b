import Foundation
import Hummingbird
import UserSync

/// The login form, its post and the logout.
enum ConsoleLogin {
    struct Form: Decodable {
        var user: String?
        var password: String?
        var next: String?
    }

    /// Where a login may send the browser on: a console page, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/console"), !next.hasPrefix("//"), !next.contains("\\") else { return "/console/" }
        return next
    }

    /// A post whose `Origin` (sent by browsers with every form post) is not this console's host
    /// comes from another site's page. Without an Origin (curl, a script), the credentials decide.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        guard let host = request.head.authority else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }
}

extension Console {
    struct LoginModel {
        var frame: Frame
        var next: String
        var failed: Bool
        var acceptsLogin: Bool
        var configFile: String
    }

    func loginPage(next: String?, failed: Bool, status: HTTPResponse.Status) -> Response {
        let model = LoginModel(frame: Frame(title: "Log in", loggedIn: false, section: ""), next: ConsoleLogin.safeNext(next),
                               failed: failed, acceptsLogin: access.acceptsLogin, configFile: configuration().file)
        // RFC 9110 §15.5.2: a 401 carries a challenge. Not "Basic", which would make browsers
        // ask in a dialog of their own instead of showing this page's form.
        return page("login", model, status: status,
                    headers: status == .unauthorized ? [.wwwAuthenticate: "Bearer realm=\"usersync console\""] : [:])
    }

    func login(_ request: Request, context: ConsoleContext) async throws -> Response {
        guard ConsoleLogin.sameOrigin(request) else {
            return page("message", Message(frame: .init(title: "Refused", loggedIn: false, section: ""),
                                           message: "This form was sent from another site."), status: .forbidden)
        }
        let body = try await request.body.collect(upTo: 16 * 1024)
        let form = (try? URLEncodedFormDecoder().decode(ConsoleLogin.Form.self, from: String(buffer: body))) ?? .init()
        guard access.checkLogin(user: form.user ?? "", password: form.password ?? "") else {
            logger.warning("console login refused", metadata: ["user": "\(form.user ?? "")", "peer": "\(context.remoteAddress?.description ?? "?")"])
            // A second for each wrong guess, so that guessing is slow.
            try? await Task.sleep(for: .seconds(1))
            return loginPage(next: form.next, failed: true, status: .unauthorized)
        }
        let session = await access.sessions.open()
        logger.info("console login", metadata: ["user": "\(form.user ?? "")", "peer": "\(context.remoteAddress?.description ?? "?")"])
        return Response(status: .seeOther, headers: [
            .location: ConsoleLogin.safeNext(form.next),
            // HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it.
            .setCookie: "\(ConsoleAccess.cookieName)=\(session); Path=/console; HttpOnly; SameSite=Strict; Max-Age=43200",
        ])
    }

    func logout(_ request: Request) async -> Response {
        if let session = ConsoleAccess.cookie(ConsoleAccess.cookieName, in: request) { await access.sessions.close(session) }
        return Response(status: .seeOther, headers: [
            .location: "/console/login",
            .setCookie: "\(ConsoleAccess.cookieName)=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ])
    }
}
