import Foundation
import LDAP
import Yams

extension ConfigReader {
    mutating func mapping(_ node: Node, _ path: String) -> Mapping? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.mapping) else { return nil }
        var mapping = Mapping()
        for field in UserField.allCases {
            mapping[field] = f[field.rawValue].flatMap { rule($0, "\(path).\(field.rawValue)") }
        }
        if let node = f["attributes"] {
            if let extra = node.mapping {
                for (key, value) in extra {
                    guard let name = key.string, !name.isEmpty else {
                        problem(key, "\(path).attributes", "attribute names must be plain words")
                        continue
                    }
                    if let mark = key.mark { locations["\(path).attributes.\(name)"] = ConfigLocation(line: mark.line, column: mark.column) }
                    if let rule = rule(value, "\(path).attributes.\(name)") { mapping.attributes[name] = rule }
                }
            } else {
                problem(node, "\(path).attributes", "expected a mapping of name: attribute")
            }
        }
        return mapping
    }

    /// A field rule: `givenName` (the attribute), or `{ from: …, lowercase: true, … }`.
    mutating func rule(_ node: Node, _ path: String) -> FieldRule? {
        if case .scalar = node {
            guard let attribute = string(node, path) else { return nil }
            return FieldRule(from: attribute)
        }
        let problemsBefore = problems.count
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.rule) else { return nil }
        let keysMisspelt = problems.count > problemsBefore
        var rule = FieldRule(from: string(f["from"], "\(path).from"), template: string(f["template"], "\(path).template"))
        if rule.from == nil && rule.template == nil && f["default"] == nil && !keysMisspelt {
            problem(node, path, "give 'from' (an attribute) or 'template' (\"{givenName} {sn}\")")
        }
        if rule.from != nil && rule.template != nil {
            problem(f["template"], "\(path).template", "give 'from' or 'template', not both")
        }
        if let template = rule.template, TemplateParts(template) == nil {
            problem(f["template"], "\(path).template", "unbalanced braces in the template")
        }
        rule.lowercase = bool(f["lowercase"], "\(path).lowercase") ?? false
        rule.trim = bool(f["trim"], "\(path).trim") ?? true
        rule.defaultValue = string(f["default"], "\(path).default", allowEmpty: true)
        rule.join = string(f["join"], "\(path).join", allowEmpty: true)
        rule.rdnValue = bool(f["rdnValue"], "\(path).rdnValue") ?? false
        if let format = choice(f["format"], "\(path).format", FieldRule.Format.self) { rule.format = format }
        return rule
    }

    mutating func options(_ node: Node, _ path: String, defaults: SyncOptions = SyncOptions()) -> SyncOptions? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.options) else { return nil }
        var o = defaults
        if let v = bool(f["createUsers"], "\(path).createUsers") { o.createUsers = v }
        if let v = bool(f["updateUsers"], "\(path).updateUsers") { o.updateUsers = v }
        if let v = bool(f["deactivateMissing"], "\(path).deactivateMissing") { o.deactivateMissing = v }
        if let v = bool(f["reactivateReturning"], "\(path).reactivateReturning") { o.reactivateReturning = v }
        if let v = bool(f["lowercaseUsernames"], "\(path).lowercaseUsernames") { o.lowercaseUsernames = v }
        if let v = bool(f["lowercaseEmails"], "\(path).lowercaseEmails") { o.lowercaseEmails = v }
        if let fields = strings(f["requiredFields"], "\(path).requiredFields") {
            for field in fields where !Mapping.fields.contains(field) {
                problem(f["requiredFields"], "\(path).requiredFields", "'\(field)' is not a user field (\(Mapping.fields.joined(separator: ", ")))",
                        suggestion: nearest(field, in: Mapping.fields))
            }
            o.requiredFields = fields
        }
        if let v = choice(f["adoptExistingBy"], "\(path).adoptExistingBy", SyncOptions.AdoptBy.self) { o.adoptExistingBy = v }
        if let v = int(f["maxUsers"], "\(path).maxUsers", min: 1) { o.maxUsers = v }
        if let limit = limit(f["maxDeactivations"], "\(path).maxDeactivations", of: "users") { o.maxDeactivations = limit }
        if let limit = limit(f["maxSkipped"], "\(path).maxSkipped", of: "records") { o.maxSkipped = limit }
        if let node = f["disabledWhen"], let d = fields(node, "\(path).disabledWhen", allowed: ConfigLoader.Keys.disabledWhen) {
            if let bit = int(d["userAccountControlBit"], "\(path).disabledWhen.userAccountControlBit", min: 0) {
                if bit != 0 && bit & (bit - 1) != 0 {
                    problem(d["userAccountControlBit"], "\(path).disabledWhen.userAccountControlBit", "expected one bit's value (2 for ACCOUNTDISABLE)")
                }
                o.disabledUserAccountControlBit = bit
            }
            let attribute = string(d["attribute"], "\(path).disabledWhen.attribute")
            let values = strings(d["values"], "\(path).disabledWhen.values")
            if let attribute, let values, !values.isEmpty {
                o.disabledWhenValue = SyncOptions.DisabledValue(attribute: attribute, values: values)
            } else if (attribute == nil) != (values == nil) || values?.isEmpty == true {
                problem(node, "\(path).disabledWhen", "attribute and values go together: { attribute: status, values: [inactive] }")
            }
        }
        if let v = int(f["keepRecords"], "\(path).keepRecords") { o.keepRecords = v }
        return o
    }
}
