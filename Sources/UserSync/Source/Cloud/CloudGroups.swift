import Foundation
import LDAP

/// Groups of a cloud directory whose API lists the groups, then each group's members by
/// requests of its own (Graph's /groups/{id}/members, Okta's /groups/{id}/users): the members
/// of `concurrency` groups are read at once, and the groups handed on in the order listed, as
/// records with `id`, the name and `member` values that are member locators (`/users/<id>`,
/// `/groups/<id>`), which the group planner matches as it matches a directory's member DNs.
enum CloudGroups {
    struct Group: Sendable {
        let id: String
        let name: String?
    }

    static func read(_ groups: [Group], concurrency: Int, nameAttribute: String,
                     members: @escaping @Sendable (String) async throws -> [String],
                     page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        var start = 0
        while start < groups.count {
            let batch = Array(groups[start..<min(start + 50, groups.count)])
            let links = try await withThrowingTaskGroup(of: (Int, [String]).self) { tasks in
                var result = [[String]](repeating: [], count: batch.count)
                var next = 0
                while next < min(concurrency, batch.count) {
                    let (index, id) = (next, batch[next].id)
                    tasks.addTask { (index, try await members(id)) }
                    next += 1
                }
                while let (index, found) = try await tasks.next() {
                    result[index] = found
                    if next < batch.count {
                        let (index, id) = (next, batch[next].id)
                        tasks.addTask { (index, try await members(id)) }
                        next += 1
                    }
                }
                return result
            }
            try await page(zip(batch, links).map { group, links in
                var attributes = [LDAPAttribute(name: "id", values: [LDAPValue(group.id)])]
                if let name = group.name { attributes.append(LDAPAttribute(name: nameAttribute, values: [LDAPValue(name)])) }
                if !links.isEmpty { attributes.append(LDAPAttribute(name: "member", values: links.map { LDAPValue($0) })) }
                return SourceRecord(.resource("/groups/\(group.id)"), attributes: attributes)
            })
            start += batch.count
        }
    }
}
