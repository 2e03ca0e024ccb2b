import Foundation

/// The groups' side of a push, decided before anything is sent.
struct PreparedGroups: Sendable {
    var actions: [GroupAction]
    /// Groups usersync knows active there: the guard's base.
    var activeThere: Int
    /// Groups the target holds.
    var total: Int
    /// Child groups sent as members (else each group's users through nesting).
    var nested: Bool
    /// Members per PATCH.
    var batch: Int
}

extension PushEngine {
    /// The groups of the target's sources (those `groups.include` matches), against what the
    /// target was sent; nil when the target takes no groups, or cannot (no PATCH: a group's
    /// members would have to be replaced whole, dropping those the application added).
    func prepareGroups(_ target: TargetSettings, _ options: Options, _ client: SCIMClient, _ provider: ServiceProvider,
                       _ report: inout PushReport) async throws -> PreparedGroups? {
        guard let settings = target.groups else { return nil }
        guard provider.patch else {
            report.notes.append("groups are not pushed: the target's ServiceProviderConfig says it has no PATCH, and replacing a group's whole member list (PUT) could drop members the application added")
            return nil
        }
        let name = target.name
        let nested = try await nesting(settings.nesting, client, &report)
        let (total, _, lost) = try await findLost("group", target: name, options, client, provider, &report)
        let sources = target.sources
        let (candidates, activeThere) = try await store.read { db in
            (try TargetBook.groupCandidates(db, target: name, sources: sources),
             try db.value(Int.self, "SELECT count(*) FROM target_objects WHERE target = ? AND object_type = 'group' AND state = 'active'", name) ?? 0)
        }
        let include = try settings.include.map { try NSRegularExpression(pattern: $0) }
        var actions: [GroupAction] = []
        for var candidate in candidates {
            guard let remote = admit(candidate.objectId, candidate.remote, lost: lost, options, &report) else { continue }
            candidate.remote = remote
            if let action = decideGroup(candidate, target, include: include) { actions.append(action) }
        }
        let batch = settings.membersPerRequest ?? (provider.bulkMaxOperations > 0 ? provider.bulkMaxOperations : 100)
        return PreparedGroups(actions: actions, activeThere: activeThere, total: total, nested: nested, batch: max(1, batch))
    }

    /// What to do with one group, or nil when the target has what the store says.
    func decideGroup(_ candidate: GroupCandidate, _ target: TargetSettings, include: NSRegularExpression?) -> GroupAction? {
        let there = candidate.remote?.state ?? "none"
        let label = candidate.name ?? candidate.remote.flatMap { $0.sent[GroupPusher.displayName]?.description } ?? "#\(candidate.objectId)"
        let matches = candidate.name.map { name in
            include.map { $0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil } ?? true
        } ?? false
        let desired = candidate.name.map { GroupPusher.attributes(name: $0, externalId: candidate.externalId) } ?? SCIMAttributes()
        func action(_ kind: GroupAction.Kind) -> GroupAction { GroupAction(kind: kind, candidate: candidate, desired: desired, name: label) }
        guard candidate.active && matches else {
            switch there {
            case "active": return action(target.onDeactivate == .delete ? .delete : .disable)
            case "deactivated": return target.onDeactivate == .delete ? action(.delete) : nil
            case "pending": return action(.forget)
            default: return nil
            }
        }
        switch there {
        case "none", "pending", "deleted": return action(.create)
        case "deactivated": return action(.reactivate)
        default:
            if desired != candidate.remote!.sent { return action(.update) }
            return candidate.remote!.failures > 0 ? action(.settle) : nil
        }
    }

    /// Sends the groups' actions, then their members' changes (computed from the store once the
    /// groups and users have their ids there).
    func pushGroups(_ groups: inout PreparedGroups, _ target: TargetSettings, _ options: Options, _ client: SCIMClient,
                    _ provider: ServiceProvider, _ report: inout PushReport) async throws {
        report.groups = report.groups ?? PushReport.Counts()
        var index: GroupIndex?
        if groups.actions.contains(where: { $0.kind == .create }) && groups.total > 0 {
            let all = try await client.list("Groups", attributes: ["id", "displayName", "externalId"], pageSize: provider.pageSize)
            report.requests += pages(all.count, provider)
            index = GroupIndex(all)
        }
        let pusher = GroupPusher(client: client, dryRun: options.dryRun, quarantineAfter: target.quarantineAfter, index: index, batch: groups.batch)
        let actions = groups.actions
        try await send(actions.count, concurrency: target.concurrency, options: options, report: &report) { await pusher.run(actions[$0]) }
        if report.status == .failed { return }

        let name = target.name, nested = groups.nested
        let (changes, remotes, names) = try await store.read { db in
            let changes = try TargetBook.memberChanges(db, target: name, nested: nested)
            var remotes: [Int64: PushCandidate.Remote] = [:]
            for row in try db.rows("""
                SELECT object_id, remote_id, sent, state AS remote_state, failures, quarantined_at FROM target_objects
                WHERE target = ? AND object_type = 'group'
                """, name) {
                remotes[row["object_id"]] = TargetBook.remoteState(row)
            }
            let names = Dictionary(try db.rows("SELECT id, name FROM groups").map { ($0["id"] as Int64, $0["name"] as String) },
                                   uniquingKeysWith: { a, _ in a })
            return (changes, remotes, names)
        }
        var byGroup: [Int64: GroupMembers] = [:]
        func entry(_ id: Int64) -> GroupMembers {
            byGroup[id] ?? GroupMembers(groupId: id, name: names[id] ?? "#\(id)",
                                        remoteId: remotes[id].flatMap { $0.state == "deleted" ? nil : $0.id }, remote: remotes[id])
        }
        for change in changes.adds { var e = entry(change.groupId); e.adds.append(change); byGroup[change.groupId] = e }
        for change in changes.removes { var e = entry(change.groupId); e.removes.append(change); byGroup[change.groupId] = e }
        let work = byGroup.values.sorted { $0.groupId < $1.groupId }.filter { options.retryQuarantined || $0.remote?.quarantined != true }
        try await send(work.count, concurrency: target.concurrency, options: options, report: &report) { await pusher.members(of: work[$0]) }
    }

    /// Whether child groups go as members: `auto` reads the server's Group schema (RFC 7643
    /// section 7, /Schemas): nested when `members` may reference a Group, else flattened.
    func nesting(_ setting: TargetGroupSettings.Nesting, _ client: SCIMClient, _ report: inout PushReport) async throws -> Bool {
        switch setting {
        case .nested: return true
        case .flatten: return false
        case .auto:
            let answer = try await client.send(.GET, "/Schemas/\(SCIMClient.groupSchema)")
            report.requests += 1
            guard answer.ok, let schema = answer.object,
                  let attributes = schema["attributes"] as? [[String: Any]],
                  let members = attributes.first(where: { ($0["name"] as? String)?.lowercased() == "members" }) else {
                report.notes.append("the target's Group schema could not be read (\(answer.problem)): groups are flattened (each lists its users through nesting); set groups.nesting: nested if the application takes groups as members")
                return false
            }
            let references = (members["subAttributes"] as? [[String: Any]] ?? []).flatMap { $0["referenceTypes"] as? [String] ?? [] }
                + (members["referenceTypes"] as? [String] ?? [])
            return references.contains { $0.lowercased() == "group" }
        }
    }
}
