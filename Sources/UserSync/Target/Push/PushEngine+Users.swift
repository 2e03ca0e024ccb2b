import Foundation

/// The users' side of a push, decided before anything is sent.
struct PreparedUsers: Sendable {
    var actions: [PushAction]
    var resources: UserResources
    /// Users the target holds (all of them, not only usersync's).
    var total: Int
    /// The target's users, when listed.
    var index: RemoteIndex?
    /// Users usersync knows active there: the guard's base.
    var activeThere: Int
    /// The position the push moves to once done.
    var next: Int64
    var force: Bool
}

extension PushEngine {
    /// Finds what the target lost (a server restored from a backup, or emptied: those users are
    /// created again, or adopted), reads the outbox — users changed since the position, those
    /// that failed or were never pushed, those gone from the sources — and decides each one.
    func prepareUsers(_ target: TargetSettings, _ options: Options, _ client: SCIMClient, _ provider: ServiceProvider,
                      _ report: inout PushReport) async throws -> PreparedUsers {
        let name = target.name, sources = target.sources
        let (total, listing, lost) = try await findLost("user", target: name, options, client, provider, &report)
        let index = listing.map(RemoteIndex.init)
        let full = options.full || !lost.isEmpty
        let (candidates, next, activeThere) = try await store.read { db in
            let position = try TargetBook.position(db, target: name)
            let next = try TargetBook.nextPosition(db, after: position)
            var candidates = try TargetBook.userCandidates(db, target: name, sources: sources, position: position, full: full)
            candidates += try TargetBook.departedUsers(db, target: name, sources: sources)
            return (candidates, next, try TargetBook.activeRemoteUsers(db, target: name))
        }
        let resources = UserResources(mapping: target.userMapping)
        var actions: [PushAction] = []
        for var candidate in candidates {
            guard let remote = admit(candidate.objectId, candidate.remote, lost: lost, options, &report) else { continue }
            candidate.remote = remote
            if let action = decide(candidate, target, resources) { actions.append(action) }
        }
        return PreparedUsers(actions: actions, resources: resources, total: total, index: index, activeThere: activeThere, next: next,
                             force: options.force)
    }

    /// Creates look for a user the target already has (made there by hand, or created by a
    /// push whose answer was lost) before POSTing. With many to create, one listing of the
    /// target's users is cheaper than a query for each; a target without filters is listed.
    func listForCreates(_ users: inout PreparedUsers, _ client: SCIMClient, _ provider: ServiceProvider, _ report: inout PushReport) async throws {
        let creates = users.actions.filter { $0.kind == .create }.count
        guard users.index == nil, creates > 0, users.total > 0,
              !provider.filter || creates > (users.total + provider.pageSize - 1) / provider.pageSize else { return }
        let all = try await client.list("Users", attributes: ["id", "userName", "externalId"], pageSize: provider.pageSize)
        report.requests += pages(all.count, provider)
        users.index = RemoteIndex(all)
    }

    /// How many users (or groups) the target holds, and the objects it no longer has of those
    /// usersync sent it (fewer than were sent: restored from a backup, or emptied). Those are
    /// made pending again (not in a dry run), so that they are created again or adopted; the
    /// target's listing, when it was needed, comes back too.
    func findLost(_ objectType: String, target name: String, _ options: Options, _ client: SCIMClient, _ provider: ServiceProvider,
                  _ report: inout PushReport) async throws -> (total: Int, listing: [[String: Any]]?, lost: Set<Int64>) {
        let resource = objectType == "user" ? "Users" : "Groups"
        let known = try await store.read { db in try TargetBook.remoteIDs(db, target: name, objectType: objectType) }
        let total = try await client.query(resource, attributes: ["id"], count: 1).total
        report.requests += 1
        guard total < known.count else { return (total, nil, []) }
        let attributes = objectType == "user" ? ["id", "userName", "externalId"] : ["id", "displayName", "externalId"]
        let all = try await client.list(resource, attributes: attributes, pageSize: provider.pageSize)
        report.requests += pages(all.count, provider)
        let present = Set(all.compactMap { $0["id"] as? String })
        let lost = Set(known.filter { !present.contains($0.1) }.map(\.0))
        logger.warning("the target no longer has \(resource.lowercased()) it was sent: they are created again",
                       metadata: ["target": "\(name)", "missing": "\(lost.count)", "onTarget": "\(total)"])
        if !options.dryRun && !lost.isEmpty {
            let ids = Array(lost)
            try await store.write { db in try TargetBook.forget(db, target: name, objectType: objectType, ids: ids, at: Timestamp.now()) }
        }
        return (total, all, lost)
    }

    /// What the target holds of an object as the push sees it — pending when the target lost
    /// it — or nil when the object is quarantined and left alone (counted in the report).
    func admit(_ id: Int64, _ remote: PushCandidate.Remote?, lost: Set<Int64>, _ options: Options,
               _ report: inout PushReport) -> PushCandidate.Remote?? {
        var remote = remote
        if lost.contains(id), let known = remote {
            remote = PushCandidate.Remote(id: nil, sent: SCIMAttributes(), state: "pending", failures: known.failures, quarantined: known.quarantined)
        }
        if remote?.quarantined == true && !options.retryQuarantined {
            report.skippedQuarantined += 1
            return nil
        }
        return .some(remote)
    }

    /// The requests a listing of `count` resources took.
    func pages(_ count: Int, _ provider: ServiceProvider) -> Int {
        max(1, (count + provider.pageSize - 1) / provider.pageSize)
    }

    /// What to do with one user, or nil when the target has what the store says.
    func decide(_ candidate: PushCandidate, _ target: TargetSettings, _ resources: UserResources) -> PushAction? {
        let remote = candidate.remote
        let there = remote?.state ?? "none"
        guard let row = candidate.row else {
            // Gone from the store, or from the target's sources.
            switch there {
            case "pending": return PushAction(kind: .forget, candidate: candidate, desired: SCIMAttributes(), name: "#\(candidate.objectId)")
            case "active":
                var desired = remote?.sent ?? SCIMAttributes()
                let name = remote.flatMap { r in resources.userNamePath.flatMap { r.sent[$0]?.description } } ?? "#\(candidate.objectId)"
                if target.onDeactivate == .delete { return PushAction(kind: .delete, candidate: candidate, desired: desired, name: name) }
                for rule in target.userMapping where rule.value == .field(.active) { desired[rule.path] = .bool(false) }
                return PushAction(kind: .deactivate, candidate: candidate, desired: desired, name: name)
            default: return nil
            }
        }
        let desired = resources.attributes(row)
        let name = row.fields[.username] ?? "#\(row.id)"
        func action(_ kind: PushAction.Kind) -> PushAction { PushAction(kind: kind, candidate: candidate, desired: desired, name: name) }
        if row.active {
            switch there {
            case "none", "pending", "deleted": return action(.create)
            case "deactivated": return action(.reactivate)
            default:
                if desired != remote!.sent { return action(.update) }
                return remote!.failures > 0 ? action(.settle) : nil
            }
        }
        switch there {
        case "active": return action(target.onDeactivate == .delete ? .delete : .deactivate)
        case "deactivated":
            if target.onDeactivate == .delete { return action(.delete) }
            if desired != remote!.sent { return action(.update) }
            return remote!.failures > 0 ? action(.settle) : nil
        case "pending": return action(.settlePending)
        default: return nil
        }
    }
}
