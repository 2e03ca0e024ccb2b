import Foundation
import Hummingbird
import UserSync

/// The runs, filtered by source and status, and one run with its counts, error and changes.
extension Console {
    static let runsPerPage = 50
    static let changesPerPage = 100
    static let statuses = ["running", "applied", "planned", "stopped", "failed"]

    struct Option {
        var value: String
        var label: String
        var selected: Bool

        /// A select's options: `all` (the empty value) first, then each of `values`.
        static func choices(all: String, _ values: [String], selected: String?) -> [Option] {
            [Option(value: "", label: all, selected: selected == nil)] + values.map { Option(value: $0, label: $0, selected: $0 == selected) }
        }
    }

    struct RunRow {
        var id: Int64
        var link: String
        var source: String
        var startedAt: String?
        var duration: String?
        var status: String
        var dryRun: Bool
        var mode: String?
        var read: Int
        var created: Int
        var updated: Int
        var deactivated: Int
        var reactivated: Int
        var skipped: Int
        var error: String?
    }

    struct RunsModel {
        var frame: Frame
        var sources: [Option]
        var statuses: [Option]
        var runs: [RunRow]
        var pager: Pager
        var empty: Bool
    }

    func runsPage(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let source = request.parameter("source"), status = request.parameter("status"), pageNumber = request.pageNumber
        let rows = try await store.runs(limit: Self.runsPerPage + 1, source: source, status: status,
                                        offset: (pageNumber - 1) * Self.runsPerPage)
        let names = configuration().sources.map(\.name)
        let model = RunsModel(
            frame: Frame(title: "Runs", loggedIn: context.hasSession, section: "runs"),
            sources: Option.choices(all: "every source", names, selected: source),
            statuses: Option.choices(all: "any status", Self.statuses, selected: status),
            runs: rows.prefix(Self.runsPerPage).map(Self.runRow),
            pager: Pager(page: pageNumber, hasMore: rows.count > Self.runsPerPage) {
                "/console/runs" + Formatting.query([("source", source), ("status", status), ("page", String($0))])
            },
            empty: rows.isEmpty)
        return page("runs", model)
    }

    static func runRow(_ run: RunRecord) -> RunRow {
        RunRow(id: run.id, link: "/console/runs/\(run.id)", source: run.source, startedAt: Formatting.time(run.startedAt),
               duration: Formatting.duration(run.durationSeconds), status: run.status, dryRun: run.dryRun,
               mode: run.mode.map { $0 + (run.method.map { " (\($0))" } ?? "") }, read: run.entriesRead, created: run.created,
               updated: run.updated, deactivated: run.deactivated, reactivated: run.reactivated, skipped: run.skipped, error: run.error)
    }

    struct ChangeRow {
        var action: String
        var object: String
        var link: String?
        var detail: String
    }

    struct RunModel {
        var frame: Frame
        var run: RunRow
        var finishedAt: String?
        var fullReason: String?
        var unchanged: Int
        var groups: Bool
        var groupsRead: Int
        var groupsCreated: Int
        var groupsUpdated: Int
        var groupsDeactivated: Int
        var groupsReactivated: Int
        var membershipsAdded: Int
        var membershipsRemoved: Int
        var counts: [Option]
        var hasCounts: Bool
        var changes: [ChangeRow]
        var firstChange: Int
        var pager: Pager
        var noChanges: Bool
    }

    func runPage(_ request: Request, _ context: ConsoleContext, id: Int64) async throws -> Response {
        guard let run = try await store.run(id: id) else { return notFound(context, "No run \(id) in the store.") }
        let pageNumber = request.pageNumber
        let offset = (pageNumber - 1) * Self.changesPerPage
        let changes = try await store.changes(run: id, limit: Self.changesPerPage + 1, offset: offset)
        let counts = try await store.changeCounts(run: id)
        let model = RunModel(
            frame: Frame(title: "Run \(id) of \(run.source)", loggedIn: context.hasSession, section: "runs"),
            run: Self.runRow(run), finishedAt: Formatting.time(run.finishedAt), fullReason: run.fullReason, unchanged: run.unchanged,
            groups: run.groupsRead > 0 || run.groupsDeactivated > 0, groupsRead: run.groupsRead, groupsCreated: run.groupsCreated,
            groupsUpdated: run.groupsUpdated, groupsDeactivated: run.groupsDeactivated, groupsReactivated: run.groupsReactivated,
            membershipsAdded: run.membershipsAdded, membershipsRemoved: run.membershipsRemoved,
            counts: counts.keys.sorted().map { Option(value: $0, label: "\(counts[$0]!)", selected: false) }, hasCounts: !counts.isEmpty,
            changes: changes.prefix(Self.changesPerPage).map(Self.changeRow), firstChange: offset + 1,
            pager: Pager(page: pageNumber, hasMore: changes.count > Self.changesPerPage) { "/console/runs/\(id)?page=\($0)" },
            noChanges: changes.isEmpty)
        return page("run", model)
    }

    /// A change as a row: what was done, to whom (linked to the user), and the details.
    static func changeRow(_ c: ChangeRecord) -> ChangeRow {
        var object = c.username ?? c.record ?? "#\(c.objectId)"
        var link: String?
        switch c.objectType {
        case .user: link = c.action == .skip ? nil : "/console/users/\(c.objectId)"
        case .group, .membership: object = "group " + object
        }
        let detail = ChangeDescription.detail(action: c.action, field: c.field, oldValue: c.oldValue, newValue: c.newValue,
                                              memberName: c.memberName, record: c.record, hiding: Redaction.isSecret, hidden: Redaction.hidden)
        return ChangeRow(action: c.action.rawValue, object: object, link: link, detail: detail)
    }
}
