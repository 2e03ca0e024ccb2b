import Foundation
import Hummingbird
import UserSync

/// The group tree: collapsible (HTML's details and summary, no script), a group with several
/// parents marked under each, a cycle marked where it closes, as `usersync groups tree` draws it.
extension Console {
    /// Groups drawn at most: a group under many parents is drawn under each.
    static let groupNodeLimit = 5_000

    struct GroupNode {
        var name: String
        var direct: Int
        var effective: Int
        var parents: Int
        var shared: Bool
        var cycle: Bool
        var deactivated: Bool
        var open: Bool
        var children: [GroupNode]
        var hasChildren: Bool
        var hidden: Int
        var hasHidden: Bool
    }

    struct GroupEntry {
        var inCycleOnly: Bool
        var node: GroupNode
    }

    struct GroupsModel {
        var frame: Frame
        var sources: [Option]
        var entries: [GroupEntry]
        var count: Int
        var empty: Bool
        var truncated: Bool
        var limit: Int
    }

    func groupsPage(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let source = request.uri.queryParameters.get("source").flatMap { $0.isEmpty ? nil : $0 }
        let tree = try await store.groupTree(source: source)
        let outline = GroupOutline(tree, limit: Self.groupNodeLimit)
        func node(_ n: GroupOutline.Node, level: Int) -> GroupNode {
            GroupNode(name: n.group.name, direct: n.group.directMembers, effective: n.group.effectiveMembers, parents: n.parents,
                      shared: n.parents > 1, cycle: n.closesCycle, deactivated: n.group.state != "active", open: level < 2,
                      children: n.children.map { node($0, level: level + 1) }, hasChildren: !n.children.isEmpty,
                      hidden: n.hiddenChildren, hasHidden: n.hiddenChildren > 0)
        }
        let model = GroupsModel(
            frame: Frame(title: "Groups", loggedIn: context.hasSession, section: "groups"),
            sources: [Option(value: "", label: "every source", selected: source == nil)]
                + configuration().sources.filter { $0.groups != nil }.map { Option(value: $0.name, label: $0.name, selected: $0.name == source) },
            entries: outline.entries.map { GroupEntry(inCycleOnly: $0.inCycleOnly, node: node($0.node, level: 1)) },
            count: tree.groups.count, empty: tree.groups.isEmpty, truncated: outline.truncated, limit: Self.groupNodeLimit)
        return page("groups", model)
    }
}
