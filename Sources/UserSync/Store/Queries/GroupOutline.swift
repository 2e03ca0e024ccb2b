/// A group tree laid out for drawing, as `groups tree` and the console draw it: the roots
/// (groups without a parent) with their children below them by name. The groups form a
/// directed graph, not a tree, so a group with several parents appears under each of them
/// (marked with how many it has), a cycle is marked where it closes instead of being followed,
/// and groups that no root reaches (a cycle with nothing above it) are drawn from the first of
/// them, in an entry of their own.
public struct GroupOutline: Sendable {
    public struct Node: Sendable {
        public var group: GroupRecord
        /// How many parents the group has (drawn under each of them when more than one).
        public var parents: Int
        /// The group is one of its own ancestors here: it is not followed again.
        public var closesCycle: Bool
        public var children: [Node]
        /// Children not drawn: below the depth asked for, or past the node limit.
        public var hiddenChildren: Int
    }

    public struct Entry: Sendable {
        /// No root reaches this group: it sits in a cycle (or below one).
        public var inCycleOnly: Bool
        public var node: Node
    }

    public var entries: [Entry]
    /// The node limit was reached: some groups are not drawn.
    public private(set) var truncated = false

    /// Lays `tree` out to at most `depth` levels and `limit` nodes (a group shared by many
    /// parents is drawn many times: a wide DAG would otherwise draw without end).
    public init(_ tree: GroupTree, depth: Int? = nil, limit: Int = .max) {
        let byID = Dictionary(uniqueKeysWithValues: tree.groups.map { ($0.id, $0) })
        var children: [Int64: [Int64]] = [:]
        var parentCount: [Int64: Int] = [:]
        for edge in tree.edges where byID[edge.group] != nil && byID[edge.parent] != nil {
            children[edge.parent, default: []].append(edge.group)
            parentCount[edge.group, default: 0] += 1
        }
        for (id, list) in children {
            children[id] = list.sorted { (byID[$0]!.name, $0) < (byID[$1]!.name, $1) }
        }
        var budget = limit
        var truncated = false
        func node(_ id: Int64, path: Set<Int64>, level: Int) -> Node {
            budget -= 1
            let group = byID[id]!
            if path.contains(id) {
                return Node(group: group, parents: parentCount[id] ?? 0, closesCycle: true, children: [], hiddenChildren: 0)
            }
            let below = children[id] ?? []
            var drawn: [Node] = []
            if depth.map({ level < $0 }) ?? true {
                var inner = path
                inner.insert(id)
                for child in below {
                    if budget <= 0 {
                        truncated = true
                        break
                    }
                    drawn.append(node(child, path: inner, level: level + 1))
                }
            }
            return Node(group: group, parents: parentCount[id] ?? 0, closesCycle: false, children: drawn,
                        hiddenChildren: below.count - drawn.count)
        }
        var entries: [Entry] = []
        let roots = tree.groups.filter { parentCount[$0.id] == nil }.map(\.id)
        var reached = Set<Int64>()
        func reach(_ start: Int64) {
            var queue = [start]
            reached.insert(start)
            while let next = queue.popLast() {
                for child in children[next] ?? [] where reached.insert(child).inserted { queue.append(child) }
            }
        }
        for root in roots {
            if budget <= 0 { truncated = true; break }
            entries.append(Entry(inCycleOnly: false, node: node(root, path: [], level: 1)))
            reach(root)
        }
        for group in tree.groups where !reached.contains(group.id) {
            if budget <= 0 { truncated = true; break }
            entries.append(Entry(inCycleOnly: true, node: node(group.id, path: [], level: 1)))
            reach(group.id)
        }
        self.entries = entries
        self.truncated = truncated
    }
}
