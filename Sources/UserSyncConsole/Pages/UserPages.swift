import Foundation
import Hummingbird
import UserSync

/// The users (searched by name, email, state and source), one user with their row, groups and
/// history, and the record last received for them ("examine received data").
extension Console {
    static let usersPerPage = 50

    struct UserRow {
        var id: Int64
        var link: String
        var username: String
        var displayName: String?
        var email: String?
        var state: String
        var source: String
        var updatedAt: String?
    }

    struct UsersModel {
        var frame: Frame
        var q: String
        var states: [Option]
        var sources: [Option]
        var users: [UserRow]
        var pager: Pager
        var empty: Bool
    }

    func usersPage(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let text = request.parameter("q")?.trimmingCharacters(in: .whitespaces) ?? ""
        let state = request.parameter("state"), source = request.parameter("source"), pageNumber = request.pageNumber
        let rows = try await store.users(matching: text, state: state, source: source, limit: Self.usersPerPage + 1,
                                         offset: (pageNumber - 1) * Self.usersPerPage)
        let model = UsersModel(
            frame: Frame(title: "Users", loggedIn: context.hasSession, section: "users"), q: text,
            states: Option.choices(all: "any state", ["active", "deactivated"], selected: state),
            sources: Option.choices(all: "every source", configuration().sources.map(\.name), selected: source),
            users: rows.prefix(Self.usersPerPage).map(Self.userRow),
            pager: Pager(page: pageNumber, hasMore: rows.count > Self.usersPerPage) {
                "/console/users" + Formatting.query([("q", text), ("state", state), ("source", source), ("page", String($0))])
            },
            empty: rows.isEmpty)
        return page("users", model)
    }

    static func userRow(_ user: UserRecord) -> UserRow {
        UserRow(id: user.id, link: "/console/users/\(user.id)", username: user.username, displayName: user[.displayName],
                email: user[.email], state: user.state, source: user.source ?? "(by hand)", updatedAt: Formatting.time(user.updatedAt))
    }

    struct Field {
        var name: String
        var value: String
    }

    struct HistoryRow {
        var run: Int64
        var runLink: String
        var at: String?
        var what: String
    }

    struct UserModel {
        var frame: Frame
        var user: UserRow
        var fields: [Field]
        var groups: [String]
        var nestedGroups: [String]
        var hasNested: Bool
        var noGroups: Bool
        var history: [HistoryRow]
        var hasHistory: Bool
        var receivedLink: String
    }

    func userPage(_ context: ConsoleContext, id: Int64) async throws -> Response {
        guard let user = try await store.user(named: "#\(id)") else { return notFound(context, "No user \(id) in the store.") }
        var fields: [Field] = [Field(name: "source", value: user.source ?? "(none: made by hand or by the application; usersync never changes it)")]
        if let id = user.externalId { fields.append(Field(name: "external id", value: id)) }
        if let dn = user.dn { fields.append(Field(name: "dn", value: dn)) }
        for field in UserField.allCases where field != .username {
            if let value = user[field] { fields.append(Field(name: field.label, value: value)) }
        }
        for key in user.attributes.keys.sorted() {
            fields.append(Field(name: key, value: Redaction.value(user.attributes[key], of: key) ?? ""))
        }
        fields.append(Field(name: "created", value: Formatting.time(user.createdAt) ?? ""))
        fields.append(Field(name: "updated", value: Formatting.time(user.updatedAt) ?? ""))
        if let at = Formatting.time(user.deactivatedAt) { fields.append(Field(name: "deactivated", value: at)) }
        let groups = try await store.groups(ofUser: user.id)
        let history = try await store.history(user: user.id, limit: 50).map { change in
            HistoryRow(run: change.runId, runLink: "/console/runs/\(change.runId)", at: Formatting.time(change.runStartedAt),
                       what: ChangeDescription.historyLine(change, hiding: Redaction.isSecret, hidden: Redaction.hidden))
        }
        let nested = Set(groups.effective).subtracting(groups.direct).sorted()
        let model = UserModel(
            frame: Frame(title: "User \(user.username)", loggedIn: context.hasSession, section: "users"), user: Self.userRow(user),
            fields: fields, groups: groups.direct, nestedGroups: nested, hasNested: !nested.isEmpty,
            noGroups: groups.effective.isEmpty, history: history, hasHistory: !history.isEmpty,
            receivedLink: "/console/users/\(user.id)/received")
        return page("user", model)
    }

    struct ReceivedModel {
        var frame: Frame
        var user: UserRow
        var found: Bool
        var run: Int64?
        var runLink: String?
        var locator: String?
        var attributes: [Field]
        var why: String?
    }

    func receivedPage(_ context: ConsoleContext, id: Int64) async throws -> Response {
        guard let user = try await store.user(named: "#\(id)") else { return notFound(context, "No user \(id) in the store.") }
        let source = configuration().sources.first { $0.name == user.source }
        let last = try await store.lastRecord(of: user, stableIDAttribute: source?.stableID)
        var attributes: [Field] = []
        for attribute in last?.record.attributes ?? [] {
            let secret = Redaction.isSecret(attribute.name)
            for value in attribute.values {
                let text = secret ? Redaction.hidden : value.string ?? "(binary) " + Data(value.bytes).base64EncodedString()
                attributes.append(Field(name: attribute.name, value: text))
                if secret { break }
            }
        }
        let why = user.source == nil ? "This user was made by hand or by the application: no source sends a record for them."
            : "No kept run holds a record for this user: runs keep what they received only as long as options.keepRecords says."
        let model = ReceivedModel(
            frame: Frame(title: "Received for \(user.username)", loggedIn: context.hasSession, section: "users"),
            user: Self.userRow(user), found: last != nil, run: last?.runId, runLink: last.map { "/console/runs/\($0.runId)" },
            locator: last?.record.locator.description, attributes: attributes, why: last == nil ? why : nil)
        return page("received", model)
    }
}
