import Foundation
import LDAP

/// `usersync test-bind --source NAME` for a source that is not a directory: the file (or, later,
/// the endpoint) is there, can be read, has the columns the mapping reads, and its first page
/// parses and maps. Nothing is written.
public struct SourceCheck: Sendable {
    public let source: SourceSettings
    /// Records of the first page to read and map.
    public var pageLimit: Int
    /// How many mapped usernames and skip reasons to list.
    public var listLimit: Int

    public init(source: SourceSettings, pageLimit: Int = 1000, listLimit: Int = 10) {
        self.source = source
        self.pageLimit = pageLimit
        self.listLimit = listLimit
    }

    /// Runs the check; a failure is in `report.error`, not thrown.
    public func run() async -> SourceCheckReport {
        let started = ContinuousClock.now
        var report = SourceCheckReport(source: source.name, type: source.type.rawValue, location: source.origin)
        do {
            switch source.type {
            case .ldap:
                throw SyncConfigurationError(description: "an ldap source is checked by BindTest")
            case .csv:
                let csv = source.csv!
                var check = CSVSource(settings: source, csv: csv, limit: pageLimit)
                check.pageSize = pageLimit
                let mapper = Mapper(source: source)
                let header = try CSVFile(csv).header
                report.columns = header
                let collected = Collected()
                let attributes = mapper.requestedAttributes + (csv.groupsColumn != nil ? ["memberOf"] : [])
                try await check.read(attributes: attributes) { entries in collected.add(entries) }
                for entry in collected.entries {
                    let user = mapper.map(entry)
                    report.recordsRead += 1
                    if let reason = user.skipReason {
                        report.skipped += 1
                        if report.skipReasons.count < listLimit { report.skipReasons.append("\(user.locator): \(reason)") }
                    } else if report.samples.count < listLimit {
                        report.samples.append(user.username ?? "?")
                    }
                    if csv.groupsColumn != nil { report.groupsNamed += entry.strings("memberOf").count }
                }
            }
        } catch {
            let (message, kind) = SyncEngine.describe(error)
            report.error = SourceCheckReport.Failure(kind: kind, message: message, hint: SourceCheck.hint(kind, source))
        }
        report.durationSeconds = (ContinuousClock.now - started).secondsValue
        return report
    }

    static func hint(_ kind: String, _ source: SourceSettings) -> String? {
        switch (source.type, kind) {
        case (.csv, "unreachable"): return "check the path and that the account running usersync may read the file"
        case (.csv, "malformed"): return "fix the file at that place, or export it again (usersync never syncs part of a file)"
        default: return nil
        }
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var entries: [LDAPEntry] = []
        func add(_ page: [LDAPEntry]) {
            lock.lock()
            entries += page
            lock.unlock()
        }
    }
}

/// What `SourceCheck` found.
public struct SourceCheckReport: Codable, Sendable {
    public var source: String
    public var type: String
    /// The file (or URL) read.
    public var location: String
    /// A CSV file's header.
    public var columns: [String]?
    /// Records of the first page read (at most the check's page limit).
    public var recordsRead = 0
    /// Of those, records the mapping skips (a missing required field, no stable id).
    public var skipped = 0
    public var skipReasons: [String] = []
    /// The first usernames the mapping made.
    public var samples: [String] = []
    /// Group memberships the rows named (a CSV groups column).
    public var groupsNamed = 0
    public var durationSeconds = 0.0
    public var error: Failure?

    public init(source: String, type: String, location: String) {
        self.source = source
        self.type = type
        self.location = location
    }

    public struct Failure: Codable, Sendable {
        /// `unreachable`, `malformed`, `configuration`, …
        public var kind: String
        public var message: String
        public var hint: String?
    }
}
