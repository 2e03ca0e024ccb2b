import Foundation
import LDAP
import Logging
import NIOConcurrencyHelpers

/// A CSV file of users (`type: csv`): each row a record, its columns its attributes.
///
/// A record's locator is `file:line`. Empty cells are missing attributes (so a mapping's
/// `default` and `requiredFields` apply). With a groups column, each row's groups become its
/// `memberOf`, and every group path (`Sales/EMEA/Paris`) and each of its parents become group
/// records whose `memberOf` is their parent: the group tree of the LDAP source, with the path
/// as the group's stable id and DN and its last part as its name.
public struct CSVSource: RecordSource {
    public let settings: SourceSettings
    public let csv: CSVSettings
    /// Stops after this many rows (previews, test-bind); nil reads everything.
    public var limit: Int?
    /// Rows per page handed to the engine.
    public var pageSize = 1000
    public var logger: Logger
    /// The group paths seen in the last read (read and readGroups are separate calls).
    private let groups = NIOLockedValueBox<Set<String>>([])

    /// Attributes the engine asks every source for, which a file need not have.
    static let optionalAttributes: Set<String> = ["useraccountcontrol", "memberof"]

    public init(settings: SourceSettings, csv: CSVSettings, limit: Int? = nil, logger: Logger = Logger(label: "usersync")) {
        self.settings = settings
        self.csv = csv
        self.limit = limit
        self.logger = logger
    }

    /// Runs `body` with the file to read: the configured path, or for a `url` the file
    /// downloaded to a private temporary file (streamed to disk, removed afterwards).
    func withLocalFile<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let http = csv.http else { return try await body(csv.path) }
        let directory = try Self.privateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/download.csv"
        try await HTTPFetcher.with(http, logger: logger) { fetcher in try await fetcher.download(http.url, to: file) }
        return try await body(file)
    }

    static func privateDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/usersync-csv-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CSVFileError(path: NSTemporaryDirectory(), line: nil, column: nil,
                               message: "cannot make a temporary directory for the download: \(String(cString: strerror(errno)))", unreadable: true)
        }
        return String(cString: made)
    }

    /// Opens the file and checks its header against what the mapping reads.
    func open(attributes: [String], file path: String? = nil) throws(CSVFileError) -> (file: CSVFile, columns: [(name: String, index: Int)]) {
        let file = try CSVFile(csv, file: path)
        var columns: [(String, Int)] = []
        var missing: [String] = []
        for name in attributes {
            // memberOf comes from the groups column when there is one.
            if csv.groupsColumn != nil && name.lowercased() == "memberof" { continue }
            if let index = file.column(name) {
                columns.append((name, index))
            } else if !CSVSource.optionalAttributes.contains(name.lowercased()) {
                missing.append(name)
            }
        }
        if let groupsColumn = csv.groupsColumn, file.column(groupsColumn.column) == nil {
            missing.append(groupsColumn.column)
        }
        if !missing.isEmpty {
            let list = missing.map { "'\($0)'" }.joined(separator: ", ")
            var message = "no column \(list) in the header (the mapping\(csv.groupsColumn != nil ? ", idColumn or groupsColumn" : " or idColumn") reads \(missing.count == 1 ? "it" : "them")); the header has: \(file.header.joined(separator: ", "))"
            if missing.count == 1, let near = ConfigLoader.suggestion(for: missing[0], in: file.header) {
                message += "; did you mean '\(near)'?"
            }
            if file.header.count == 1, let other = [",", ";", "\t", "|"].first(where: { file.header[0].contains($0) }) {
                message += " (the header is one column but holds '\(other == "\t" ? "a tab" : other)': set 'delimiter' on the source to the file's separator)"
            }
            throw CSVFileError(path: csv.path, line: 1, column: nil, message: message)
        }
        return (file, columns)
    }

    @discardableResult
    public func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        try await withLocalFile { path in try await read(path, attributes: attributes, page: page) }
        return SourceReadInfo()
    }

    func read(_ path: String, attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        let (file, columns) = try open(attributes: attributes, file: path)
        let groupsIndex = csv.groupsColumn.flatMap { file.column($0.column) }
        var records: [SourceRecord] = []
        records.reserveCapacity(pageSize)
        var count = 0
        var paths = Set<String>()
        while let (line, fields) = try file.next() {
            var attributes: [LDAPAttribute] = []
            attributes.reserveCapacity(columns.count + 1)
            for (name, index) in columns where !fields[index].isEmpty {
                attributes.append(LDAPAttribute(name: name, values: [LDAPValue(fields[index])]))
            }
            if let groupsIndex, let groupsColumn = csv.groupsColumn {
                let userGroups = CSVSource.groupPaths(fields[groupsIndex], groupsColumn)
                if !userGroups.isEmpty {
                    attributes.append(LDAPAttribute(name: "memberOf", values: userGroups.map { LDAPValue($0) }))
                    paths.formUnion(userGroups)
                }
            }
            records.append(SourceRecord(.row(file: csv.path, line: line), attributes: attributes))
            count += 1
            if records.count >= pageSize {
                try await page(records)
                records.removeAll(keepingCapacity: true)
            }
            if let limit, count >= limit { break }
        }
        if !records.isEmpty { try await page(records) }
        groups.withLockedValue { $0 = paths }
    }

    /// The group records: every path the rows named, and their parents, each a member of its parent.
    public func readGroups(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws {
        guard let groupsColumn = csv.groupsColumn else { return }
        var all = Set<String>()
        for path in groups.withLockedValue({ $0 }) {
            var parts = groupsColumn.pathSeparator.map { path.components(separatedBy: $0) } ?? [path]
            while !parts.isEmpty {
                let joined = parts.joined(separator: groupsColumn.pathSeparator ?? "")
                if !all.insert(joined).inserted { break }
                parts.removeLast()
            }
        }
        var records: [SourceRecord] = []
        for path in all.sorted() {
            var parts = groupsColumn.pathSeparator.map { path.components(separatedBy: $0) } ?? [path]
            var attributes = [LDAPAttribute(name: "id", values: [LDAPValue(path)]),
                              LDAPAttribute(name: "cn", values: [LDAPValue(parts.last!)])]
            if parts.count > 1, let separator = groupsColumn.pathSeparator {
                parts.removeLast()
                attributes.append(LDAPAttribute(name: "memberOf", values: [LDAPValue(parts.joined(separator: separator))]))
            }
            records.append(SourceRecord(.groupPath(path), attributes: attributes))
            if records.count >= 200 {
                try await page(records)
                records.removeAll(keepingCapacity: true)
            }
        }
        if !records.isEmpty { try await page(records) }
    }

    /// A cell's groups as full paths, each part trimmed, empty parts and duplicates dropped.
    static func groupPaths(_ cell: String, _ column: CSVSettings.GroupsColumn) -> [String] {
        var result: [String] = []
        for item in cell.components(separatedBy: column.separator) {
            let path: String
            if let separator = column.pathSeparator {
                let parts = item.components(separatedBy: separator)
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                path = parts.joined(separator: separator)
            } else {
                path = item.trimmingCharacters(in: .whitespaces)
            }
            if !path.isEmpty && !result.contains(path) { result.append(path) }
        }
        return result
    }

    /// The group settings a groups column implies: records whose `memberOf` is their parent.
    public static func groupMapping(_ column: CSVSettings.GroupsColumn) -> GroupMapping {
        var mapping = GroupMapping()
        mapping.idAttribute = "id"
        mapping.nameAttribute = "cn"
        mapping.membership = .memberOf
        mapping.tree = column.pathSeparator != nil
        return mapping
    }
}
