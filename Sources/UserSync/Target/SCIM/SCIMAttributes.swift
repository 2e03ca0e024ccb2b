import Foundation

/// The attributes usersync sends for one resource, by path: what the mapping makes of a store
/// row, and what was last sent (kept in `target_objects.sent`, the base of the next PATCH).
/// Only mapped attributes are here; whatever else the application keeps on the resource is
/// never sent, so never overwritten.
public struct SCIMAttributes: Sendable, Equatable {
    public private(set) var values: [SCIMPath: SCIMValue] = [:]

    public init() {}

    public subscript(path: SCIMPath) -> SCIMValue? {
        get { values[path] }
        set { values[path] = newValue }
    }

    public var isEmpty: Bool { values.isEmpty }

    /// Paths in a stable order (for bodies and tests).
    var sortedPaths: [SCIMPath] { values.keys.sorted { $0.description < $1.description } }

    // MARK: Kept in the store

    /// As kept in `target_objects.sent`: a JSON object of path → value.
    var stored: String {
        let object = Dictionary(uniqueKeysWithValues: values.map { ($0.key.description, $0.value) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(object)) ?? Data("{}".utf8), as: UTF8.self)
    }

    init(stored: String?) {
        guard let stored, let object = try? JSONDecoder().decode([String: SCIMValue].self, from: Data(stored.utf8)) else { return }
        for (text, value) in object {
            if case .success(let path) = SCIMPath.parse(text) { values[path] = value }
        }
    }

    // MARK: Requests

    /// The resource as a POST sends it (RFC 7644 section 3.3): `schemas` with the core schema
    /// and each extension used, then the values, multi-valued ones as `[{type, value}]`.
    func resource(coreSchema: String) -> [String: Any] {
        var root: [String: Any] = [:]
        var extensions: [String] = []
        var byExtension: [String: [String: Any]] = [:]
        for path in sortedPaths {
            guard let value = values[path] else { continue }
            if let schema = path.schema {
                if byExtension[schema] == nil { extensions.append(schema) }
                var object = byExtension[schema] ?? [:]
                SCIMAttributes.set(value.json, at: path, in: &object)
                byExtension[schema] = object
            } else {
                SCIMAttributes.set(value.json, at: path, in: &root)
            }
        }
        for (schema, object) in byExtension { root[schema] = object }
        root["schemas"] = [coreSchema] + extensions
        return root
    }

    /// Writes `value` where `path` says in a JSON object (the path's schema already chosen).
    static func set(_ value: Any, at path: SCIMPath, in object: inout [String: Any]) {
        let key = existingKey(path.attribute, in: object)
        if let type = path.typeFilter, let sub = path.subAttribute {
            var list = object[key] as? [[String: Any]] ?? []
            if let i = list.firstIndex(where: { ($0["type"] as? String)?.lowercased() == type.lowercased() }) {
                list[i][existingKey(sub, in: list[i])] = value
            } else {
                list.append(["type": type, sub: value])
            }
            object[key] = list
        } else if let sub = path.subAttribute {
            var inner = object[key] as? [String: Any] ?? [:]
            inner[existingKey(sub, in: inner)] = value
            object[key] = inner
        } else {
            object[key] = value
        }
    }

    /// Removes what `path` names from a JSON object.
    static func remove(_ path: SCIMPath, from object: inout [String: Any]) {
        let key = existingKey(path.attribute, in: object)
        if let type = path.typeFilter, let sub = path.subAttribute {
            guard var list = object[key] as? [[String: Any]],
                  let i = list.firstIndex(where: { ($0["type"] as? String)?.lowercased() == type.lowercased() }) else { return }
            list[i].removeValue(forKey: existingKey(sub, in: list[i]))
            if list[i].keys.allSatisfy({ $0 == "type" || $0 == "primary" }) { list.remove(at: i) }
            object[key] = list.isEmpty ? nil : list
        } else if let sub = path.subAttribute {
            guard var inner = object[key] as? [String: Any] else { return }
            inner.removeValue(forKey: existingKey(sub, in: inner))
            object[key] = inner.isEmpty ? nil : inner
        } else {
            object.removeValue(forKey: key)
        }
    }

    /// Attribute names are case-insensitive (RFC 7643 section 2.1): the key the object already
    /// uses for `name`, else `name`.
    private static func existingKey(_ name: String, in object: [String: Any]) -> String {
        object.keys.first { $0.caseInsensitiveCompare(name) == .orderedSame } ?? name
    }

    /// The PATCH operations (RFC 7644 section 3.5.2) that take a resource from `old` (what was
    /// last sent) to these values: `replace` for a changed or new value, `remove` for one that
    /// is gone. A value of a multi-valued attribute that was never sent is `add`ed as a new
    /// element (`{"type": "work", "value": …}`): a `replace` through a filter that matches no
    /// value is an error (section 3.5.2.3, "noTarget"). Empty when nothing changed.
    func patchOperations(from old: SCIMAttributes) -> [[String: Any]] {
        var operations: [[String: Any]] = []
        var addedElements: [String: (path: SCIMPath, element: [String: Any])] = [:]
        var order: [String] = []
        let oldSelectors = Set(old.values.keys.compactMap(\.valueSelector))
        for path in sortedPaths {
            guard let value = values[path], old[path] != value else { continue }
            if let selector = path.valueSelector, !oldSelectors.contains(selector), let type = path.typeFilter, let sub = path.subAttribute {
                if addedElements[selector] == nil {
                    addedElements[selector] = (path, ["type": type])
                    order.append(selector)
                }
                addedElements[selector]!.element[sub] = value.json
            } else {
                operations.append(["op": "replace", "path": path.description, "value": value.json])
            }
        }
        for selector in order {
            let added = addedElements[selector]!
            operations.append(["op": "add", "path": added.path.attributePath, "value": [added.element]])
        }
        let newSelectors = Set(values.keys.compactMap(\.valueSelector))
        var removedSelectors: Set<String> = []
        for path in old.sortedPaths where values[path] == nil {
            if let selector = path.valueSelector, !newSelectors.contains(selector) {
                if removedSelectors.insert(selector).inserted { operations.append(["op": "remove", "path": selector]) }
            } else {
                operations.append(["op": "remove", "path": path.description])
            }
        }
        return operations
    }

    /// The resource as a PUT replaces it (RFC 7644 section 3.5.1), for a server without PATCH:
    /// the server's current resource, with these values written over it and the values sent
    /// last time and no longer mapped removed; everything else the application keeps stays.
    func overlay(on remote: [String: Any], removing old: SCIMAttributes, coreSchema: String) -> [String: Any] {
        var resource = remote
        resource.removeValue(forKey: "meta")
        for path in old.sortedPaths where values[path] == nil {
            if let schema = path.schema {
                var object = resource[schema] as? [String: Any] ?? [:]
                SCIMAttributes.remove(path, from: &object)
                resource[schema] = object.isEmpty ? nil : object
            } else {
                SCIMAttributes.remove(path, from: &resource)
            }
        }
        var schemas = resource["schemas"] as? [String] ?? [coreSchema]
        for path in sortedPaths {
            guard let value = values[path] else { continue }
            if let schema = path.schema {
                var object = resource[schema] as? [String: Any] ?? [:]
                SCIMAttributes.set(value.json, at: path, in: &object)
                resource[schema] = object
                if !schemas.contains(schema) { schemas.append(schema) }
            } else {
                SCIMAttributes.set(value.json, at: path, in: &resource)
            }
        }
        resource["schemas"] = schemas
        return resource
    }
}
