import Foundation
import Hummingbird
import Logging
import Mustache
import UserSync

/// The read-only web console: pages over the store (sources, runs, users, the group tree) and
/// the configuration (mappings), and the one action, "test connection", which reads a source
/// and writes nothing. Server-rendered from Mustache templates; no script, no asset from
/// elsewhere.
public final class Console: Sendable {
    let store: UserStore
    let status: ServiceStatus
    let configuration: @Sendable () -> Configuration
    let access: ConsoleAccess
    let templates: MustacheLibrary
    let logger: Logger

    /// - Parameter configuration: the configuration in use (it follows `serve`'s reloads).
    public init(store: UserStore, status: ServiceStatus, access: ConsoleAccess, logger: Logger,
                configuration: @escaping @Sendable () -> Configuration) throws {
        self.store = store
        self.status = status
        self.access = access
        self.logger = logger
        self.configuration = configuration
        templates = try ConsoleTemplates.library()
    }

    func addRoutes(to router: Router<ConsoleContext>) {
        let open = router.group("console")
        open.get("login") { request, _ in self.loginPage(next: request.uri.queryParameters.get("next"), failed: false, status: .ok) }
        open.post("login") { request, context in try await self.login(request, context: context) }
        open.post("logout") { request, _ in await self.logout(request) }

        let pages = router.group("console").add(middleware: RequireAccess(console: self))
        pages.get("/") { _, context in try await self.sourcesPage(context) }
        pages.get("sources/:name") { request, context in
            try await self.sourcePage(context, name: try context.parameters.require("name"),
                                      preview: request.uri.queryParameters.get("preview").flatMap { Int($0) }, test: false)
        }
        pages.post("sources/:name/test") { _, context in
            try await self.sourcePage(context, name: try context.parameters.require("name"), preview: nil, test: true)
        }
        pages.get("runs") { request, context in try await self.runsPage(request, context) }
        pages.get("runs/:id") { request, context in
            try await self.runPage(request, context, id: try context.parameters.require("id", as: Int64.self))
        }
        pages.get("users") { request, context in try await self.usersPage(request, context) }
        pages.get("users/:id") { _, context in try await self.userPage(context, id: try context.parameters.require("id", as: Int64.self)) }
        pages.get("users/:id/received") { _, context in
            try await self.receivedPage(context, id: try context.parameters.require("id", as: Int64.self))
        }
        pages.get("groups") { request, context in try await self.groupsPage(request, context) }
        pages.get("**") { _, context in self.notFound(context, "There is no such page.") }
    }

    // MARK: Rendering

    /// What every page has: its title and whether the "log out" button is shown.
    struct Frame {
        var title: String
        var loggedIn: Bool
        var nav: [NavLink]

        init(title: String, loggedIn: Bool, section: String) {
            self.title = title
            self.loggedIn = loggedIn
            nav = [("sources", "Sources", "/console/"), ("runs", "Runs", "/console/runs"), ("users", "Users", "/console/users"),
                   ("groups", "Groups", "/console/groups")].map { NavLink(label: $0.1, link: $0.2, current: $0.0 == section) }
        }
    }

    struct NavLink {
        var label: String
        var link: String
        var current: Bool
    }

    /// `template` rendered with `model`, as an HTML response with the console's headers.
    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        let html = templates.render(model, withTemplate: template) ?? "template \(template) is missing"
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// No script may run, nothing may be loaded from elsewhere, no page may frame the console,
    /// forms post only to it; nothing is cached, and no other site learns a console address.
    /// (`same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
    /// a form's post — the Fetch standard's "serializing a request origin" — and the console's
    /// own forms would look cross-site.)
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    struct Message {
        var frame: Frame
        var message: String
    }

    func notFound(_ context: ConsoleContext, _ message: String) -> Response {
        page("message", Message(frame: Frame(title: "Not found", loggedIn: context.hasSession, section: ""), message: message), status: .notFound)
    }
}

/// Lets a request through to the pages only when `ConsoleAccess` allows it; anyone else gets
/// 401 and the login page (which says how to set a credential when none is configured).
struct RequireAccess: RouterMiddleware {
    let console: Console

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        guard await console.access.allows(request, peer: context.remoteAddress) else {
            let path = request.uri.path
            return console.loginPage(next: request.method == .get ? path + (request.uri.query.map { "?" + $0 } ?? "") : nil,
                                     failed: false, status: .unauthorized)
        }
        // A form posted from another site (the browser sends its Origin): refused.
        if request.method == .post, !ConsoleLogin.sameOrigin(request) {
            return console.page("message", Console.Message(frame: .init(title: "Refused", loggedIn: false, section: ""),
                                                          message: "This form was sent from another site."), status: .forbidden)
        }
        var context = context
        context.hasSession = ConsoleAccess.cookie(ConsoleAccess.cookieName, in: request) != nil
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            throw error
        } catch {
            // The store unreachable (a PostgreSQL restarting) or damaged: said on the page, as
            // the commands say it, rather than an empty 500.
            let failure = SyncFailure(error)
            console.logger.error("console: \(request.uri.path): \(failure.message)")
            return console.page("message", Console.Message(frame: .init(title: "The store could not be read", loggedIn: context.hasSession, section: ""),
                                                          message: failure.message), status: .serviceUnavailable)
        }
    }
}
