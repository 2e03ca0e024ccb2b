import Foundation
import LDAP

/// Checks of a mapping against the live directory: attribute names against the server's
/// schema (`mapping check`), and what the mapping makes of a few entries (`mapping preview`).
public enum MappingDiagnostics {
    /// The attribute names a source reads, each with the key path it is configured at.
    public static func attributeReferences(_ source: SourceSettings, index: Int) -> [(name: String, path: String)] {
        let base = "sources[\(index)]"
        var references: [(String, String)] = [(source.stableID, "\(base).users.idAttribute")]
        for field in Mapping.fields {
            guard let rule = source.mapping[field] else { continue }
            let path = "\(base).mapping.\(field)"
            for name in rule.attributeNames { references.append((name, rule.template != nil ? "\(path).template" : path)) }
        }
        for name in source.mapping.attributes.keys.sorted() {
            let path = "\(base).mapping.attributes.\(name)"
            for attribute in source.mapping.attributes[name]!.attributeNames { references.append((attribute, path)) }
        }
        return references
    }

    /// Problems with the attribute names a source reads, found in the server's schema; throws
    /// when the server cannot be reached or read.
    public static func checkSchema(_ configuration: Configuration, source: SourceSettings) async throws -> [ConfigProblem] {
        if [.scim, .json, .entra, .okta].contains(source.type) {
            throw SyncConfigurationError(description: "a \(source.type.rawValue) source publishes no schema to check paths against; 'usersync mapping preview --source \(source.name)' shows what each path finds")
        }
        if source.type == .command {
            throw SyncConfigurationError(description: "a command source's columns are known only once it runs: 'usersync test-bind --source \(source.name)' runs it and checks what it prints against the mapping")
        }
        if case .csv(let csv) = source.kind, csv.http != nil {
            throw SyncConfigurationError(description: "the file is at a URL: 'usersync test-bind --source \(source.name)' downloads it and checks its header against the mapping")
        }
        if case .csv(let csv) = source.kind {
            // A file's schema is its header.
            let header = try CSVFile(csv).header
            let known = Set(header.map { $0.lowercased() })
            var problems: [ConfigProblem] = []
            let index = configuration.index(of: source)
            var references = attributeReferences(source, index: index)
            references[0].path = "sources[\(index)].idColumn"
            if let when = source.options.disabledWhenValue {
                references.append((when.attribute, "sources[\(index)].options.disabledWhen.attribute"))
            }
            if let groups = csv.groupsColumn { references.append((groups.column, "sources[\(index)].groupsColumn")) }
            for (name, path) in references where !known.contains(name.lowercased()) {
                let exact = configuration.locations[path + ".from"] != nil ? path + ".from" : path
                problems.append(configuration.problem(at: exact, "the header of \(csv.path) has no column '\(name)'",
                                                      suggestion: nearest(name, in: header)))
            }
            return problems
        }
        let directory = try source.directory(for: "mapping check --schema")
        let ldap = try await LDAPConnection.connect(directory.connection)
        defer { Task { await ldap.close() } }
        try await ldap.bind(try directory.credentials(), allowInsecure: directory.allowInsecure)
        let schema = try await ldap.schema()
        guard !schema.attributeNames.isEmpty else { return [] }
        var problems: [ConfigProblem] = []
        for (name, path) in attributeReferences(source, index: configuration.index(of: source)) where !schema.knows(name) {
            let exact = configuration.locations[path + ".from"] != nil ? path + ".from" : path
            problems.append(configuration.problem(at: exact, "the directory's schema has no attribute '\(name)'",
                                                  suggestion: nearest(name, in: schema.canonicalNames)))
        }
        return problems
    }

    /// One entry as the mapping sees it.
    public struct PreviewItem: Codable, Sendable {
        public struct Field: Codable, Sendable {
            public var field: String
            public var value: String?
            /// The source attributes the value came from, with their values as received.
            public var from: [String: [String]]
            public var required: Bool
        }

        public var dn: String
        public var externalId: String?
        public var state: String
        public var fields: [Field]
        /// Why a sync would skip this entry.
        public var skipReason: String?
        /// A username conflict: with another previewed entry, or a user in the store.
        public var conflict: String?
    }

    /// Reads up to `limit` entries (with `filter` instead of the configured one, if given) and maps
    /// them. `store`, when given, is checked for username conflicts.
    public static func preview(_ source: SourceSettings, limit: Int, filter: String?, store: UserStore?) async throws -> [PreviewItem] {
        let mapper = Mapper(source: source)
        let collected = RecordCollector()
        let reader: any RecordSource
        switch source.kind {
        case .ldap(let directory):
            reader = LDAPSource(settings: source, directory: directory, limit: limit, filter: filter)
        case .csv, .scim, .json, .command, .entra, .okta:
            if filter != nil {
                throw SyncConfigurationError(description: "--filter is an LDAP search filter: a \(source.type.rawValue) source has none")
            }
            reader = source.recordSource(limit: limit)
        }
        try await reader.read(attributes: mapper.requestedAttributes) { entries in collected.add(entries) }
        let entries = Array(collected.records.prefix(limit))
        var items: [PreviewItem] = []
        var seen: [String: String] = [:]
        for entry in entries {
            let user = mapper.map(entry)
            var fields: [PreviewItem.Field] = []
            for field in Mapping.fields + source.mapping.attributes.keys.sorted() {
                guard let rule = source.mapping[field] else { continue }
                var from: [String: [String]] = [:]
                for name in rule.attributeNames {
                    from[name] = entry[name].map { $0.string ?? "<\($0.bytes.count) bytes>" }
                }
                fields.append(.init(field: field, value: user[field], from: from,
                                    required: field == "username" || source.options.requiredFields.contains(field)))
            }
            var item = PreviewItem(dn: entry.locator.description, externalId: user.externalId,
                                   state: user.disabled ? "deactivated (disabled in the directory)" : "active",
                                   fields: fields, skipReason: user.skipReason)
            if let name = user.username {
                if let other = seen[name] {
                    item.conflict = "username '\(name)' is also given to \(other)"
                } else {
                    seen[name] = entry.locator.description
                    if let store, let holder = try await store.user(named: name),
                       holder.source != source.name || holder.externalId != user.externalId {
                        item.conflict = holder.source == nil
                            ? "username '\(name)' belongs to user \(holder.id), made by hand (adoptExistingBy: username would take it over)"
                            : holder.source == source.name
                                ? "username '\(name)' belongs to user \(holder.id) of this source with another \(source.stableID) (a re-created account: a sync relinks it if the old one is gone)"
                                : "username '\(name)' belongs to user \(holder.id) of the source '\(holder.source!)'"
                    }
                }
            }
            items.append(item)
        }
        return items
    }
}
