import Foundation
import NIOHTTP1

/// One group's change for a target.
struct GroupAction: Sendable {
    enum Kind: String, Sendable {
        case create, update, reactivate, delete
        /// onDeactivate: disable — SCIM groups have no `active`: the group stays, emptied of
        /// the members usersync sent (the membership phase removes them).
        case disable
        case forget, settle
    }

    var kind: Kind
    var candidate: GroupCandidate
    var desired: SCIMAttributes
    var name: String
}

/// Sends groups' requests: created (or adopted by externalId or displayName), renamed,
/// deleted; then their members, added and removed by PATCH in batches — never a PUT of a whole
/// member list, which would drop members the application added meanwhile.
struct GroupPusher: Sendable {
    let client: SCIMClient
    let dryRun: Bool
    let quarantineAfter: Int
    /// The target's groups, listed when some are to be created.
    let index: GroupIndex?
    /// Members per PATCH.
    let batch: Int

    static let displayName = SCIMPath(attribute: "displayName")
    static let externalId = SCIMPath(attribute: "externalId")

    /// What a group is sent: its name and its stable id.
    static func attributes(name: String, externalId: String?) -> SCIMAttributes {
        var attributes = SCIMAttributes()
        attributes[displayName] = .string(name)
        if let externalId { attributes[GroupPusher.externalId] = .string(externalId) }
        return attributes
    }

    func run(_ action: GroupAction) async -> PushResult {
        var log = RequestLog(objectId: action.candidate.objectId, name: action.name, objectType: "group")
        var result: PushResult
        do {
            switch action.kind {
            case .forget: result = PushResult(dropped: true)
            case .settle, .disable:
                let state = action.kind == .disable ? "deactivated" : action.candidate.remote?.state ?? "active"
                result = PushResult(object: pushed(action, remoteId: action.candidate.remote?.id,
                                                   sent: action.candidate.remote?.sent ?? action.desired, state: state),
                                    counted: action.kind == .disable ? "deactivated" : "unchanged")
            case .create: result = try await create(action, &log)
            case .update, .reactivate: result = try await update(action, &log)
            case .delete: result = try await delete(action, &log)
            }
        } catch {
            result = failed(action, SyncFailure(error).message)
        }
        result.objectType = "group"
        result.name = "group " + action.name
        result.requests = log.records
        result.planned = log.planned
        return result
    }

    private func create(_ action: GroupAction, _ log: inout RequestLog) async throws -> PushResult {
        if let existing = index?.find(action.desired) {
            let held = GroupPusher.attributes(name: existing.displayName ?? "", externalId: existing.externalId)
            try await patch(action, id: existing.id, from: held, &log)
            return PushResult(object: pushed(action, remoteId: existing.id, sent: action.desired, state: "active"), counted: "adopted")
        }
        let body = action.desired.resource(coreSchema: SCIMClient.groupSchema)
        if dryRun {
            log.plan(.POST, "/Groups", body)
            return PushResult(counted: "created")
        }
        let answer = try await log.send(client, .POST, "/Groups", body: body, outcome: "created")
        guard answer.ok, let id = answer.object?["id"] as? String else { return failed(action, "POST /Groups answered \(answer.problem)") }
        return PushResult(object: pushed(action, remoteId: id, sent: action.desired, state: "active"), counted: "created")
    }

    private func update(_ action: GroupAction, _ log: inout RequestLog) async throws -> PushResult {
        guard let remote = action.candidate.remote, let id = remote.id else { return try await create(action, &log) }
        do {
            try await patch(action, id: id, from: remote.sent, &log)
        } catch is RemoteGone {
            var again = action
            again.candidate.remote = nil
            var result = try await create(again, &log)
            if result.counted != nil { result.counted = "updated" }
            return result
        }
        return PushResult(object: pushed(action, remoteId: id, sent: action.desired, state: "active"),
                          counted: action.kind == .reactivate ? "reactivated" : "updated")
    }

    private func patch(_ action: GroupAction, id: String, from held: SCIMAttributes, _ log: inout RequestLog) async throws {
        let operations = action.desired.patchOperations(from: held)
        guard !operations.isEmpty else { return }
        let path = "/Groups/\(SCIMClient.segment(id))"
        let body: [String: Any] = ["schemas": [SCIMClient.patchSchema], "Operations": operations]
        if dryRun { return log.plan(.PATCH, path, body) }
        let answer = try await log.send(client, .PATCH, path, body: body, outcome: "updated")
        if answer.status == 404 { throw RemoteGone() }
        guard answer.ok else { throw SyncFailure(kind: .other, message: "PATCH \(path) answered \(answer.problem)") }
    }

    private func delete(_ action: GroupAction, _ log: inout RequestLog) async throws -> PushResult {
        guard let id = action.candidate.remote?.id else { return PushResult(dropped: true) }
        if let error = try await log.delete(client, "/Groups/\(SCIMClient.segment(id))", dryRun: dryRun) { return failed(action, error) }
        return PushResult(object: dryRun ? nil : pushed(action, remoteId: nil, sent: SCIMAttributes(), state: "deleted"), counted: "deleted")
    }

    /// Adds and removes one group's members, `batch` at a time (RFC 7644 section 3.5.2.1 and
    /// 3.5.2.2: `add` with the new members as `value`, `remove` with a `members[value eq …]`
    /// filter). A member no longer on the target is only forgotten.
    func members(of group: GroupMembers) async -> PushResult {
        var log = RequestLog(objectId: group.groupId, name: group.name, objectType: "group")
        var result = PushResult(objectType: "group")
        result.name = "group " + group.name
        let gone = group.removes.filter { $0.memberRemoteId == nil || group.remoteId == nil }
        result.membersRemoved = gone
        guard let remoteId = group.remoteId else { return result }
        let path = "/Groups/\(SCIMClient.segment(remoteId))"
        let items = group.removes.filter { $0.memberRemoteId != nil }.map { (change: $0, add: false) }
            + group.adds.filter { $0.memberRemoteId != nil }.map { (change: $0, add: true) }
        do {
            for start in stride(from: 0, to: items.count, by: batch) {
                let chunk = items[start..<min(start + batch, items.count)]
                var operations: [[String: Any]] = chunk.filter { !$0.add }.map {
                    ["op": "remove", "path": "members[value eq \(SCIMClient.quoted($0.change.memberRemoteId!))]"]
                }
                let added = chunk.filter(\.add).map { ["value": $0.change.memberRemoteId!, "type": $0.change.memberType == "group" ? "Group" : "User"] }
                if !added.isEmpty { operations.append(["op": "add", "path": "members", "value": added]) }
                let body: [String: Any] = ["schemas": [SCIMClient.patchSchema], "Operations": operations]
                if dryRun {
                    log.plan(.PATCH, path, body)
                    continue
                }
                let answer = try await log.send(client, .PATCH, path, body: body, outcome: "members")
                guard answer.ok else {
                    result.failure = "PATCH \(path) (members) answered \(answer.problem)"
                    break
                }
                result.membersAdded += chunk.filter(\.add).map(\.change)
                result.membersRemoved += chunk.filter { !$0.add }.map(\.change)
            }
        } catch {
            result.failure = SyncFailure(error).message
            result.unreachable = SyncFailure(error).kind == .unreachable
        }
        if dryRun {
            result.membersAdded = group.adds
            result.membersRemoved = group.removes
        }
        result.requests = log.records
        result.planned = log.planned
        if let failure = result.failure, let remote = group.remote {
            let failures = remote.failures + 1
            result.object = dryRun ? nil : PushedObject(objectType: "group", objectId: group.groupId, remoteId: remote.id, sent: remote.sent, state: remote.state,
                                                        failures: failures, error: failure, quarantined: failures >= quarantineAfter)
        }
        return result
    }

    // MARK: Results

    private func pushed(_ action: GroupAction, remoteId: String?, sent: SCIMAttributes, state: String) -> PushedObject {
        PushedObject(objectType: "group", objectId: action.candidate.objectId, remoteId: remoteId, sent: sent, state: state,
                     failures: 0, error: nil, quarantined: false)
    }

    private func failed(_ action: GroupAction, _ message: String) -> PushResult {
        let remote = action.candidate.remote
        let failures = (remote?.failures ?? 0) + 1
        let object = PushedObject(objectType: "group", objectId: action.candidate.objectId, remoteId: remote?.id, sent: remote?.sent ?? SCIMAttributes(),
                                  state: remote?.state ?? "pending", failures: failures, error: message, quarantined: failures >= quarantineAfter)
        return PushResult(object: dryRun ? nil : object, failure: message)
    }
}

/// One group's membership changes, with what the push needs to send them.
struct GroupMembers: Sendable {
    var groupId: Int64
    var name: String
    var remoteId: String?
    var remote: PushCandidate.Remote?
    var adds: [MemberChange] = []
    var removes: [MemberChange] = []
}

/// The target's groups by externalId and lowercased displayName.
struct GroupIndex: Sendable {
    struct Entry: Sendable {
        var id: String
        var displayName: String?
        var externalId: String?
    }

    var byExternalId: [String: Entry] = [:]
    var byName: [String: Entry] = [:]

    init(_ resources: [[String: Any]]) {
        for resource in resources {
            guard let id = resource["id"] as? String else { continue }
            let entry = Entry(id: id, displayName: UserResources.member("displayName", of: resource) as? String,
                              externalId: UserResources.member("externalId", of: resource) as? String)
            if let external = entry.externalId { byExternalId[external] = entry }
            if let name = entry.displayName { byName[name.lowercased()] = entry }
        }
    }

    func find(_ desired: SCIMAttributes) -> Entry? {
        if case .string(let external)? = desired[GroupPusher.externalId], let entry = byExternalId[external] { return entry }
        if case .string(let name)? = desired[GroupPusher.displayName] { return byName[name.lowercased()] }
        return nil
    }
}
