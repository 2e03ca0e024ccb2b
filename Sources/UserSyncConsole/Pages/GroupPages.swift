import Foundation
import Hummingbird
import UserSync

/// The group tree: collapsible (HTML's details and summary, no script), a group with several
/// parents marked under each, a cycle marked where it closes, as `usersync groups tree` draws it.
extension Console {
    /// Groups drawn at most: a group under many parents is drawn under each.
    static let groupNodeLimit = 5_000

    struct GroupsModel {
        var frame: Frame
        var sources: [Option]
        /// The tree as HTML: `GroupTreeHTML`, every value escaped there.
        var tree: String
        var count: Int
        var empty: Bool
        var truncated: Bool
        var limit: Int
    }

    func groupsPage(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let source = request.parameter("source")
        let tree = try await store.groupTree(source: source)
        let outline = GroupOutline(tree, limit: Self.groupNodeLimit)
        let model = GroupsModel(
            frame: Frame(title: "Groups", loggedIn: context.hasSession, section: "groups"),
            sources: Option.choices(all: "every source", configuration().sources.filter { $0.groups != nil }.map(\.name), selected: source),
            tree: GroupTreeHTML.render(outline), count: tree.groups.count, empty: tree.groups.isEmpty,
            truncated: outline.truncated, limit: Self.groupNodeLimit)
        return page("groups", model)
    }
}
