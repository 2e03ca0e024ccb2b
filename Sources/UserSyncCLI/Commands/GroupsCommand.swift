import ArgumentParser
import Foundation
import UserSync

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "The imported group tree, and one group's parents, children and members.",
        discussion: """
          usersync groups tree                      the tree, with direct / effective member counts
          usersync groups tree --format mermaid     a picture of it (also: dot)
          usersync groups show "Intranet Users"     parents, children, direct and effective members
        A group with several parents is drawn under each of them and marked; a cycle is marked where it closes.
        """,
        subcommands: [Tree.self, Show.self],
        defaultSubcommand: Tree.self
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, dot, mermaid }

    struct Tree: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tree", abstract: "Draw the group tree.")

        @OptionGroup var file: ConfigFileOptions
        @Option(name: .customLong("source"), help: ArgumentHelp("Only this source's groups.", valueName: "name"))
        var source: String?
        @Option(name: .customLong("depth"), help: ArgumentHelp("Draw at most this many levels.", valueName: "n"))
        var depth: Int?
        @Option(name: .customLong("format"), help: "text (box drawing), dot (Graphviz) or mermaid.")
        var format: Format = .text
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            let tree = try await store.groupTree(source: source)
            if output.json {
                Output.printJSON(tree)
                return
            }
            if tree.groups.isEmpty {
                Output.write("no groups: add a 'groups' section to a source and run 'usersync sync'\n", to: .standardOutput)
                return
            }
            switch format {
            case .text: Output.write(GroupDrawing.text(tree, depth: depth), to: .standardOutput)
            case .dot: Output.write(GroupDrawing.dot(tree), to: .standardOutput)
            case .mermaid: Output.write(GroupDrawing.mermaid(tree), to: .standardOutput)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One group: parents, children, members.")

        @OptionGroup var file: ConfigFileOptions
        @Argument(help: ArgumentHelp("The group's name, DN or #ID.", valueName: "name"))
        var name: String
        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var group: GroupRecord
            var parents: [String]
            var children: [String]
            var members: [String]
            var effectiveMembers: [String]
        }

        func run() async throws {
            let configuration = try file.load()
            let store = try await file.openStore(configuration)
            let found = try await store.groups(named: name)
            guard !found.isEmpty else {
                throw CommandFailure(status: .failure, message: "no group '\(name)' in \(configuration.store.name) ('usersync groups tree' lists them)")
            }
            let tree = try await store.groupTree(includeDeactivated: true)
            let byID = Dictionary(uniqueKeysWithValues: tree.groups.map { ($0.id, $0) })
            var reports: [Report] = []
            for group in found {
                reports.append(Report(group: group, parents: tree.parents(of: group.id).compactMap { byID[$0]?.name }.sorted(),
                                      children: tree.children(of: group.id).compactMap { byID[$0]?.name }.sorted(),
                                      members: try await store.members(ofGroup: group.id, effective: false),
                                      effectiveMembers: try await store.members(ofGroup: group.id, effective: true)))
            }
            if output.json {
                if reports.count == 1 { Output.printJSON(reports[0]) } else { Output.printJSON(reports) }
                return
            }
            var text = ""
            for r in reports {
                text += "group \(r.group.id): \(r.group.name) (\(r.group.state))\n"
                text += "  source     \(r.group.source ?? "(none: made by hand)")\n"
                if let dn = r.group.dn { text += "  dn         \(dn)\n" }
                text += "  parents    \(r.parents.isEmpty ? "(none: a root)" : r.parents.joined(separator: ", "))\n"
                text += "  children   \(r.children.isEmpty ? "(none)" : r.children.joined(separator: ", "))\n"
                text += "  members    \(r.members.count) direct, \(r.effectiveMembers.count) with nested groups\n"
                for member in r.members.prefix(50) { text += "    \(member)\n" }
                if r.members.count > 50 { text += "    … \(r.members.count - 50) more (--json lists all)\n" }
                let nested = Set(r.effectiveMembers).subtracting(r.members).sorted()
                if !nested.isEmpty {
                    text += "  through nested groups:\n"
                    for member in nested.prefix(50) { text += "    \(member)\n" }
                    if nested.count > 50 { text += "    … \(nested.count - 50) more (--json lists all)\n" }
                }
            }
            Output.write(text, to: .standardOutput)
        }
    }
}

/// Drawings of a group tree.
enum GroupDrawing {
    static func label(_ g: GroupRecord) -> String { "\(g.name)  (\(g.directMembers) / \(g.effectiveMembers))" }

    /// Box-drawing text of the tree's outline (`GroupOutline`): a group with several parents
    /// appears under each, marked; a cycle is marked where it closes; groups reachable only
    /// through a cycle are drawn from the first of them.
    static func text(_ tree: GroupTree, depth: Int?) -> String {
        var out = "groups (direct / effective members)\n"
        func draw(_ node: GroupOutline.Node, prefix: String, connector: String) {
            if node.closesCycle {
                out += prefix + connector + "↻ \(node.group.name)  (cycle)\n"
                return
            }
            out += prefix + connector + label(node.group) + (node.parents > 1 ? "  [\(node.parents) parents]" : "") + "\n"
            let childPrefix = prefix + (connector.isEmpty ? "" : (connector == "└── " ? "    " : "│   "))
            if node.children.isEmpty && node.hiddenChildren > 0 {
                out += childPrefix + "└── … \(node.hiddenChildren) more\n"
            }
            for (i, child) in node.children.enumerated() {
                draw(child, prefix: childPrefix, connector: i == node.children.count - 1 ? "└── " : "├── ")
            }
        }
        for entry in GroupOutline(tree, depth: depth).entries {
            if entry.inCycleOnly { out += "(in a cycle, no root above it)\n" }
            draw(entry.node, prefix: "", connector: "")
        }
        return out
    }

    static func dot(_ tree: GroupTree) -> String {
        var out = "digraph groups {\n  rankdir=LR;\n  node [shape=box];\n"
        for g in tree.groups { out += "  g\(g.id) [label=\"\(escape(label(g)))\"];\n" }
        for e in tree.edges { out += "  g\(e.parent) -> g\(e.group);\n" }
        return out + "}\n"
    }

    static func mermaid(_ tree: GroupTree) -> String {
        var out = "graph TD\n"
        for g in tree.groups { out += "  g\(g.id)[\"\(escape(label(g)))\"]\n" }
        for e in tree.edges { out += "  g\(e.parent) --> g\(e.group)\n" }
        return out
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "#quot;")
    }
}
