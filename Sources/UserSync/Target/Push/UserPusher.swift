import Foundation
import NIOHTTP1

/// One user's change for a target, decided before anything is sent.
struct PushAction: Sendable {
    enum Kind: String, Sendable {
        case create, update, deactivate, reactivate, delete
        /// No request: the store row is gone and the target never had it; its line goes.
        case forget
        /// A user whose create got no answer (it may exist there), deactivated in the store
        /// since: looked up, and disabled (or deleted) if the create did make it; else forgotten.
        case settlePending
        /// No request: the target has what the store says; only its failure count is reset.
        case settle
    }

    var kind: Kind
    var candidate: PushCandidate
    var desired: SCIMAttributes
    /// The user as messages name it (the userName sent).
    var name: String
}

/// What pushing one object did: what to keep of it, what to count, the requests it sent.
struct PushResult: Sendable {
    var object: PushedObject?
    /// Its line in target_objects goes (a `forget`).
    var dropped = false
    /// The count it adds to (created, updated, adopted, …); nil when it failed.
    var counted: String?
    var failure: String?
    /// No answer came at all (the target down): the push stops after several in a row.
    var unreachable = false
    var requests: [PushRequestRecord] = []
    var planned: [PushReport.PlannedRequest] = []
    /// The object's id when `dropped`, and its name, for reports.
    var droppedId: Int64?
    var name: String?
    var objectType = "user"
    /// Memberships sent (or found gone), to keep in `target_members`.
    var membersAdded: [MemberChange] = []
    var membersRemoved: [MemberChange] = []
}

/// Sends the requests of users' actions to one target (or, in a dry run, lists them): creates
/// that adopt what the server already has, PATCHes of what changed (a GET and a PUT where the
/// server has no PATCH), deactivation, deletion.
struct UserPusher: Sendable {
    let client: SCIMClient
    let provider: ServiceProvider
    let resources: UserResources
    let dryRun: Bool
    let quarantineAfter: Int
    /// The target's users by externalId and lowercased userName, when they were listed (a
    /// target with many users to create, or one that lost users); nil: look each up by filter.
    let index: RemoteIndex?
    /// The target holds no users at all: nothing to look up before creating.
    let targetEmpty: Bool
    /// onDeactivate: delete.
    var deletes = false

    /// Runs one action; never throws (a failure is in the result).
    func run(_ action: PushAction) async -> PushResult {
        var log = RequestLog(objectId: action.candidate.objectId, name: action.name)
        do {
            var result: PushResult
            switch action.kind {
            case .forget:
                return PushResult(dropped: true)
            case .settle:
                result = PushResult(object: pushed(action, remoteId: action.candidate.remote?.id, sent: action.candidate.remote?.sent ?? action.desired,
                                                   state: action.candidate.remote?.state ?? "active"), counted: "unchanged")
            case .create:
                result = try await create(action, &log)
            case .update, .deactivate, .reactivate:
                result = try await update(action, &log)
            case .settlePending:
                result = try await settlePending(action, &log)
            case .delete:
                result = try await delete(action, &log)
            }
            result.requests = log.records
            result.planned = log.planned
            result.name = action.name
            return result
        } catch {
            let failure = SyncFailure(error)
            let unreachable = failure.kind == .unreachable || failure.kind == .timeout || failure.kind == .connectionLost
            var result = failed(action, failure.message)
            result.unreachable = unreachable
            result.requests = log.records
            result.name = action.name
            return result
        }
    }

    // MARK: Actions

    private func create(_ action: PushAction, _ log: inout RequestLog) async throws -> PushResult {
        if let existing = try await findExisting(action.desired, &log) {
            return try await adopt(action, remoteId: existing, &log)
        }
        let body = action.desired.resource(coreSchema: SCIMClient.userSchema)
        if dryRun {
            log.plan(.POST, "/Users", body)
            return PushResult(counted: "created")
        }
        let answer = try await log.send(client, .POST, "/Users", body: body, outcome: "created")
        if answer.ok, let id = answer.object?["id"] as? String {
            return PushResult(object: pushed(action, remoteId: id, sent: action.desired, state: "active"), counted: "created")
        }
        if answer.status == 409 {
            // RFC 7644 section 3.3: 409 with scimType uniqueness, the userName taken. By a user
            // of ours whose answer was lost, or one made on the server by hand: adopt it.
            if let existing = try await findExisting(action.desired, &log, force: true) {
                return try await adopt(action, remoteId: existing, &log)
            }
        }
        return failed(action, "POST /Users answered \(answer.problem)")
    }

    /// Takes over a user the server already has: its attributes are brought to what the store
    /// says, by the differences from what it holds.
    private func adopt(_ action: PushAction, remoteId: String, _ log: inout RequestLog) async throws -> PushResult {
        let path = "/Users/\(SCIMClient.segment(remoteId))"
        let current = try await log.send(client, .GET, path, outcome: "found")
        guard current.ok, let resource = current.object else { return failed(action, "GET \(path) answered \(current.problem)") }
        let held = resources.attributes(reading: resource)
        if let error = try await write(action, path: path, from: held, resource: resource, etag: current.etag, &log) {
            return failed(action, error)
        }
        return PushResult(object: pushed(action, remoteId: remoteId, sent: action.desired, state: action.desired.isActive ? "active" : "deactivated"),
                          counted: "adopted")
    }

    private func update(_ action: PushAction, _ log: inout RequestLog) async throws -> PushResult {
        guard let remote = action.candidate.remote, let remoteId = remote.id else { return try await create(action, &log) }
        let path = "/Users/\(SCIMClient.segment(remoteId))"
        var error: String?
        do {
            error = try await write(action, path: path, from: remote.sent, resource: nil, etag: nil, &log)
        } catch is RemoteGone {
            // The server no longer has it (emptied, restored, deleted by hand): create it again.
            var again = action
            again.candidate.remote?.id = nil
            var result = try await create(again, &log)
            if result.counted == "created" || result.counted == "adopted" { result.counted = action.kind.outcome }
            return result
        }
        if let error { return failed(action, error) }
        let counted = action.kind == .update ? "updated" : action.kind == .deactivate ? "deactivated" : "reactivated"
        return PushResult(object: pushed(action, remoteId: remoteId, sent: action.desired, state: action.desired.isActive ? "active" : "deactivated"),
                          counted: counted)
    }

    private func settlePending(_ action: PushAction, _ log: inout RequestLog) async throws -> PushResult {
        guard let existing = try await findExisting(action.desired, &log, force: true) else { return PushResult(dropped: true) }
        if deletes {
            var found = action
            found.candidate.remote = PushCandidate.Remote(id: existing, sent: SCIMAttributes(), state: "active", failures: 0, quarantined: false)
            return try await delete(found, &log)
        }
        var result = try await adopt(action, remoteId: existing, &log)
        if result.counted == "adopted" { result.counted = "deactivated" }
        return result
    }

    private func delete(_ action: PushAction, _ log: inout RequestLog) async throws -> PushResult {
        guard let remoteId = action.candidate.remote?.id else { return PushResult(dropped: true) }
        if let error = try await log.delete(client, "/Users/\(SCIMClient.segment(remoteId))", dryRun: dryRun) { return failed(action, error) }
        return PushResult(object: dryRun ? nil : pushed(action, remoteId: nil, sent: SCIMAttributes(), state: "deleted"), counted: "deleted")
    }

    /// Brings the resource at `path` from `held` to the action's attributes: a PATCH of the
    /// differences, or (a server without PATCH) a PUT of the resource with them written over.
    /// Returns an error message, nil when done (or nothing to do); throws `RemoteGone` on 404.
    private func write(_ action: PushAction, path: String, from held: SCIMAttributes, resource: [String: Any]?, etag: String?,
                       _ log: inout RequestLog) async throws -> String? {
        let operations = action.desired.patchOperations(from: held)
        if operations.isEmpty { return nil }
        if provider.patch {
            let body: [String: Any] = ["schemas": [SCIMClient.patchSchema], "Operations": operations]
            if dryRun {
                log.plan(.PATCH, path, body)
                return nil
            }
            let answer = try await log.send(client, .PATCH, path, body: body, outcome: action.kind == .create ? "adopted" : action.kind.outcome)
            if answer.ok { return nil }
            if answer.status == 404 { throw RemoteGone() }
            if answer.status == 400 && answer.scimType == "noTarget" && resource == nil {
                // What was sent last is not what the server holds (changed there by hand): the
                // differences from what it holds instead (RFC 7644 section 3.5.2, "noTarget").
                let current = try await log.send(client, .GET, path, outcome: "found")
                if current.status == 404 { throw RemoteGone() }
                guard current.ok, let object = current.object else { return "GET \(path) answered \(current.problem)" }
                return try await write(action, path: path, from: resources.attributes(reading: object), resource: object, etag: current.etag, &log)
            }
            return "PATCH \(path) answered \(answer.problem)"
        }
        // No PATCH (ServiceProviderConfig patch.supported false): GET, write over, PUT, with
        // If-Match where the server keeps ETags so that a change made meanwhile is not lost.
        for _ in 0..<2 {
            var object = resource
            var version = etag
            if object == nil || version == nil && provider.etag {
                let current = try await log.send(client, .GET, path, outcome: "found")
                if current.status == 404 { throw RemoteGone() }
                guard current.ok, let fetched = current.object else { return "GET \(path) answered \(current.problem)" }
                object = fetched
                version = current.etag ?? ((fetched["meta"] as? [String: Any])?["version"] as? String)
            }
            let body = action.desired.overlay(on: object ?? [:], removing: held, coreSchema: SCIMClient.userSchema)
            if dryRun {
                log.plan(.PUT, path, body)
                return nil
            }
            let answer = try await log.send(client, .PUT, path, body: body, ifMatch: provider.etag ? version : nil, outcome: action.kind.outcome)
            if answer.ok { return nil }
            if answer.status == 404 { throw RemoteGone() }
            if answer.status != 412 { return "PUT \(path) answered \(answer.problem)" }
        }
        return "PUT \(path): the resource kept changing on the server (412 Precondition Failed twice)"
    }

    /// The id of the server's user with the action's externalId, else its userName.
    private func findExisting(_ desired: SCIMAttributes, _ log: inout RequestLog, force: Bool = false) async throws -> String? {
        if let index {
            if let id = index.find(desired, resources) { return id }
            // The index lists every user the target had when the push began.
            if !force { return nil }
        }
        if targetEmpty && !force { return nil }
        guard provider.filter else {
            // No filters (ServiceProviderConfig filter.supported false): list them all.
            let started = ContinuousClock.now
            let all = try await client.list("Users", attributes: ["id", "userName", "externalId"], pageSize: provider.pageSize)
            log.record(.GET, "/Users", status: 200, outcome: "listed", ms: started.elapsedMilliseconds)
            return RemoteIndex(all).find(desired, resources)
        }
        for (attribute, path) in [("externalId", resources.externalIdPath), ("userName", resources.userNamePath)] {
            guard let path, case .string(let value)? = desired[path] else { continue }
            let filter = "\(attribute) eq \(SCIMClient.quoted(value))"
            let started = ContinuousClock.now
            let found = try await client.query("Users", filter: filter, attributes: ["id", "userName", "externalId"], count: 2)
            log.record(.GET, "/Users?filter=\(filter)", status: 200, outcome: found.resources.isEmpty ? "not_found" : "found", ms: started.elapsedMilliseconds)
            if let first = found.resources.first, let id = first["id"] as? String {
                if attribute == "userName" || found.resources.count == 1 { return id }
            }
        }
        return nil
    }

    // MARK: Results

    func pushed(_ action: PushAction, remoteId: String?, sent: SCIMAttributes, state: String) -> PushedObject {
        PushedObject(objectId: action.candidate.objectId, remoteId: remoteId, sent: sent, state: state, failures: 0, error: nil, quarantined: false)
    }

    private func failed(_ action: PushAction, _ message: String) -> PushResult {
        let remote = action.candidate.remote
        let failures = (remote?.failures ?? 0) + 1
        let object = PushedObject(objectId: action.candidate.objectId, remoteId: remote?.id, sent: remote?.sent ?? SCIMAttributes(),
                                  state: remote?.state ?? "pending", failures: failures, error: message,
                                  quarantined: failures >= quarantineAfter)
        return PushResult(object: dryRun ? nil : object, failure: message, name: action.name)
    }
}

/// A PATCH or PUT answered 404: the server no longer has the resource.
struct RemoteGone: Error {}

extension PushAction.Kind {
    /// The outcome a request of this action records when it succeeds.
    var outcome: String {
        switch self {
        case .update: return "updated"
        case .deactivate: return "deactivated"
        case .reactivate: return "reactivated"
        case .create: return "created"
        case .delete: return "deleted"
        case .settlePending: return "deactivated"
        case .forget, .settle: return "none"
        }
    }
}

extension SCIMAttributes {
    /// Whether the attributes say the user is active (`active` not false).
    var isActive: Bool {
        !values.contains { $0.key.schema == nil && $0.key.attribute.lowercased() == "active" && $0.key.subAttribute == nil && $0.value == .bool(false) }
    }
}

/// The target's users by externalId and by lowercased userName (userName is unique without
/// regard to case, RFC 7643 section 4.1.1).
struct RemoteIndex: Sendable {
    var byExternalId: [String: String] = [:]
    var byUserName: [String: String] = [:]

    /// The id of the user with the attributes' externalId, else with their userName.
    func find(_ desired: SCIMAttributes, _ resources: UserResources) -> String? {
        if let path = resources.externalIdPath, case .string(let value)? = desired[path], let id = byExternalId[value] { return id }
        if let path = resources.userNamePath, case .string(let value)? = desired[path], let id = byUserName[value.lowercased()] { return id }
        return nil
    }

    init(_ resources: [[String: Any]]) {
        for resource in resources {
            guard let id = resource["id"] as? String else { continue }
            if let external = UserResources.member("externalId", of: resource) as? String { byExternalId[external] = id }
            if let name = UserResources.member("userName", of: resource) as? String { byUserName[name.lowercased()] = id }
        }
    }
}

/// The requests one object's push sent, as `push_requests` keeps them, and the requests a
/// dry run would send.
struct RequestLog {
    let objectId: Int64
    let name: String
    var objectType = "user"
    var records: [PushRequestRecord] = []
    var planned: [PushReport.PlannedRequest] = []

    mutating func send(_ client: SCIMClient, _ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, ifMatch: String? = nil,
                       outcome: String) async throws -> SCIMClient.Answer {
        let started = ContinuousClock.now
        do {
            let answer = try await client.send(method, path, body: body, ifMatch: ifMatch)
            record(method, path, status: Int(answer.status), outcome: answer.ok ? outcome : "failed",
                   error: answer.ok ? nil : answer.problem, ms: answer.milliseconds)
            return answer
        } catch {
            record(method, path, status: 0, outcome: "failed", error: SyncFailure(error).message, ms: started.elapsedMilliseconds)
            throw error
        }
    }

    /// DELETE of a resource (or, in a dry run, its plan); a 404 is as good: it is gone. Returns
    /// the error, nil when done.
    mutating func delete(_ client: SCIMClient, _ path: String, dryRun: Bool) async throws -> String? {
        if dryRun {
            plan(.DELETE, path, nil)
            return nil
        }
        let answer = try await send(client, .DELETE, path, outcome: "deleted")
        return answer.ok || answer.status == 404 ? nil : "DELETE \(path) answered \(answer.problem)"
    }

    mutating func record(_ method: HTTPMethod, _ path: String, status: Int, outcome: String, error: String? = nil, ms: Int) {
        records.append(PushRequestRecord(objectType: objectType, objectId: objectId, method: method.rawValue, path: path, status: status,
                                         outcome: outcome, error: error, milliseconds: ms))
    }

    mutating func plan(_ method: HTTPMethod, _ path: String, _ body: [String: Any]?) {
        let text = body.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { String(decoding: $0, as: UTF8.self) }
        planned.append(PushReport.PlannedRequest(method: method.rawValue, path: path, body: text, object: name))
    }
}
