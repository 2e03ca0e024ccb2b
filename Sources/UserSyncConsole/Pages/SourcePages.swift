import Foundation
import Hummingbird
import UserSync

/// The sources: each with its last run, next slot, mode and health; one source with its
/// mapping, a live preview of a few entries, and "test connection".
extension Console {
    struct SourceRow {
        var name: String
        var link: String
        var type: String
        var mode: String
        var schedule: String
        var lastRun: RunCell?
        var next: String?
        var health: String
        var healthClass: String
        var runningOn: String?
    }

    struct RunCell {
        var id: Int64
        var link: String
        var status: String
        var startedAt: String?
        var error: String?
    }

    struct SourcesModel {
        var frame: Frame
        var sources: [SourceRow]
    }

    func sourcesPage(_ context: ConsoleContext) async throws -> Response {
        let configuration = self.configuration()
        let states = Dictionary(uniqueKeysWithValues: await status.snapshot().map { ($0.source, $0) })
        var rows: [SourceRow] = []
        for source in configuration.sources {
            rows.append(try await sourceRow(source, state: states[source.name]))
        }
        return page("sources", SourcesModel(frame: Frame(title: "Sources", loggedIn: context.hasSession, section: "sources"), sources: rows))
    }

    func sourceRow(_ source: SourceSettings, state: ServiceStatus.SourceState?) async throws -> SourceRow {
        let last = try await store.runs(limit: 1, source: source.name).first
        let holder = try await store.runLockHolder(source: source.name)
        let health: (String, String)
        if let state {
            if state.running || holder != nil {
                health = ("running now", "running")
            } else if let retry = state.retryAt {
                health = ("failed; retried at \(Formatting.time(retry) ?? "?")", "warn")
            } else if state.healthy {
                health = (state.lastStatus == nil ? "starting" : "healthy", "ok")
            } else {
                health = ("failing: \(state.lastError ?? state.lastStatus ?? "?")", "bad")
            }
        } else if let last, last.status == "failed" {
            health = ("last run failed (not scheduled)", "bad")
        } else {
            health = ("not scheduled: only 'usersync sync' runs it", "idle")
        }
        return SourceRow(name: source.name, link: "/console/sources/\(Formatting.segment(source.name))", type: source.type.rawValue,
                         mode: Self.mode(source), schedule: source.schedule?.description ?? "none",
                         lastRun: last.map(Self.runCell), next: Formatting.time(state?.nextRun),
                         health: health.0, healthClass: health.1, runningOn: holder)
    }

    static func runCell(_ run: RunRecord) -> RunCell {
        RunCell(id: run.id, link: "/console/runs/\(run.id)", status: run.status, startedAt: Formatting.time(run.startedAt),
                error: run.error)
    }

    /// How the source reads: every record each run, or only what changed (and by which method).
    static func mode(_ source: SourceSettings) -> String {
        guard let incremental = source.ldap?.incremental, incremental.method != .off else { return "full read each run" }
        let seconds = incremental.fullEvery.components.seconds
        let every = seconds % 3600 == 0 ? "\(seconds / 3600) h" : "\(seconds / 60) min"
        return "incremental (\(incremental.method.rawValue)), a full read every \(every)"
    }

    // MARK: One source

    struct MappingRow {
        var field: String
        var from: String
        var options: String
    }

    struct PreviewField {
        var field: String
        var value: String
        var from: String
        var missing: Bool
    }

    struct PreviewItem {
        var locator: String
        var fields: [PreviewField]
        var externalId: String
        var state: String
        var skipReason: String?
        var conflict: String?
    }

    struct SourceModel {
        var frame: Frame
        var source: SourceRow
        var name: String
        var reads: String
        var stableID: String
        var groups: String?
        var mapping: [MappingRow]
        var runs: [RunCell]
        var runsLink: String
        var testLink: String
        var previewLink: String
        var previewAsked: Bool
        var preview: [PreviewItem]
        var previewError: String?
        var tested: Bool
        var testReport: String?
        var testError: String?
        var testHint: String?
        var testPassed: Bool
    }

    func sourcePage(_ context: ConsoleContext, name: String, preview: Int?, test: Bool) async throws -> Response {
        let configuration = self.configuration()
        guard let source = configuration.sources.first(where: { $0.name == name }) else {
            return notFound(context, "No source '\(name)' in \(configuration.file).")
        }
        let state = await status.snapshot().first { $0.source == name }
        let link = "/console/sources/\(Formatting.segment(name))"
        var model = SourceModel(
            frame: Frame(title: "Source \(name)", loggedIn: context.hasSession, section: "sources"),
            source: try await sourceRow(source, state: state), name: name, reads: Redaction.urls(source.origin),
            stableID: source.stableID, groups: source.groups.map { _ in "read (the group tree)" },
            mapping: Self.mappingRows(source.mapping),
            runs: try await store.runs(limit: 5, source: name).map(Self.runCell),
            runsLink: "/console/runs" + Formatting.query([("source", name)]), testLink: link + "/test",
            previewLink: link + "?preview=5", previewAsked: preview != nil, preview: [], previewError: nil,
            tested: test, testReport: nil, testError: nil, testHint: nil, testPassed: false)
        if let preview {
            do {
                let items = try await MappingDiagnostics.preview(source, limit: min(max(preview, 1), 50), filter: nil, store: store)
                model.preview = items.map(Self.previewItem)
                if items.isEmpty { model.previewError = "The source sent no records." }
            } catch {
                model.previewError = SyncFailure(error).message
            }
        }
        if test {
            let outcome = await Self.testConnection(source)
            model.testReport = outcome.report
            model.testError = outcome.error
            model.testHint = outcome.hint
            model.testPassed = outcome.error == nil
            logger.info("console: test connection", metadata: ["source": "\(name)", "result": "\(outcome.error ?? "ok")"])
        }
        return page("source", model)
    }

    static func mappingRows(_ mapping: Mapping) -> [MappingRow] {
        var rows: [MappingRow] = []
        func row(_ name: String, _ rule: FieldRule) {
            let from = rule.from ?? rule.template.map { "template \"\($0)\"" } ?? "(default only)"
            var options: [String] = []
            if rule.lowercase { options.append("lowercase") }
            if !rule.trim { options.append("not trimmed") }
            if let value = rule.defaultValue { options.append("default \"\(value)\"") }
            if let join = rule.join { options.append("all values joined by \"\(join)\"") }
            if rule.rdnValue { options.append("the DN's first RDN value") }
            if rule.format != .text { options.append("format \(rule.format.rawValue)") }
            rows.append(MappingRow(field: name, from: from, options: options.joined(separator: ", ")))
        }
        for field in UserField.allCases { if let rule = mapping[field] { row(field.rawValue, rule) } }
        for name in mapping.attributes.keys.sorted() { row("attributes.\(name)", mapping.attributes[name]!) }
        return rows
    }

    static func previewItem(_ item: MappingDiagnostics.PreviewItem) -> PreviewItem {
        PreviewItem(
            locator: item.dn,
            fields: item.fields.map { field in
                let from = field.from.keys.sorted().map { name in
                    let values = field.from[name]!
                    if Redaction.isSecret(name) { return "\(name): \(Redaction.hidden)" }
                    return "\(name): " + (values.isEmpty ? "(absent)" : values.joined(separator: " | "))
                }.joined(separator: "; ")
                return PreviewField(field: field.field, value: Redaction.value(field.value, of: field.field) ?? "∅", from: from,
                                    missing: field.value == nil && field.required)
            },
            externalId: item.externalId ?? "∅", state: item.state, skipReason: item.skipReason, conflict: item.conflict)
    }

    /// `test-bind --source`'s checks and report: a directory is reached, secured and bound to
    /// and searched; another source's file or endpoint is read and its first page mapped.
    static func testConnection(_ source: SourceSettings) async -> (report: String, error: String?, hint: String?) {
        if let ldap = source.ldap {
            let test: BindTest
            do {
                test = try BindTest(directory: ldap, listLimit: 10)
            } catch {
                return ("", error.description, "Fix the source's bind password setting in the configuration file.")
            }
            let report = await test.run()
            return (TestBindText.render(report), report.error?.message, report.error?.hint)
        }
        let report = await SourceCheck(source: source, pageLimit: 1000, listLimit: 10).run()
        return (TestBindText.render(report), report.error?.message, report.error?.hint)
    }
}
