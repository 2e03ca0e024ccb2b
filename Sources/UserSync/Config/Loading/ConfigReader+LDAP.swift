import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// A `type: ldap` source: the directory's address, TLS, the bind, the user and group searches.
    mutating func ldapSource(_ f: [String: Node], _ path: String) -> SourceKindParts? {
        let problemsBefore = problems.count
        let uris = strings(f["uri"], "\(path).uri", splitSpaces: true) ?? []
        for (i, uri) in uris.enumerated() {
            let lower = uri.lowercased()
            if !(lower.hasPrefix("ldap://") || lower.hasPrefix("ldaps://") || lower.hasPrefix("ldapi://")) {
                problem(f["uri"], "\(path).uri" + (uris.count > 1 ? "[\(i)]" : ""),
                        "'\(uri)' is not an LDAP URI (ldap://, ldaps:// or ldapi://)")
            }
        }
        var connection = LDAPConnectionOptions(uris: uris)
        if let startTLS = bool(f["startTLS"], "\(path).startTLS") { connection.startTLS = startTLS }
        if let value = seconds(f["connectTimeout"], "\(path).connectTimeout") { connection.connectTimeout = value }
        if let value = seconds(f["timeout"], "\(path).timeout") { connection.operationTimeout = value }
        if let node = f["tls"], let t = fields(node, "\(path).tls", allowed: ConfigLoader.Keys.tls) {
            connection.tls = TLSOptions(verify: choice(t["verify"], "\(path).tls.verify", TLSOptions.Verify.self),
                                        caFile: string(t["caFile"], "\(path).tls.caFile"),
                                        caDirectory: string(t["caDirectory"], "\(path).tls.caDirectory"),
                                        certificateFile: string(t["certFile"], "\(path).tls.certFile"),
                                        keyFile: string(t["keyFile"], "\(path).tls.keyFile"))
            if (connection.tls.certificateFile == nil) != (connection.tls.keyFile == nil) {
                problem(node, "\(path).tls", "certFile and keyFile go together")
            }
        }
        let bindDN = string(f["bindDN"], "\(path).bindDN")
        let passwordFile = string(f["passwordFile"], "\(path).passwordFile")
        let passwordEnv = string(f["passwordEnv"], "\(path).passwordEnv")
        if passwordFile != nil && passwordEnv != nil {
            problem(f["passwordEnv"], "\(path).passwordEnv", "give passwordFile or passwordEnv, not both")
        }
        if bindDN != nil && passwordFile == nil && passwordEnv == nil {
            problem(f["bindDN"], "\(path).bindDN", "a bind DN needs a password: add passwordFile or passwordEnv")
        }
        // allowInsecure, as on HTTP sources (allowInsecureBind: its older name, still read).
        if f["allowInsecure"] != nil && f["allowInsecureBind"] != nil {
            problem(f["allowInsecureBind"], "\(path).allowInsecureBind", "give allowInsecure only (allowInsecureBind is its older name)")
        }
        let allowInsecure = bool(f["allowInsecure"], "\(path).allowInsecure") ?? bool(f["allowInsecureBind"], "\(path).allowInsecureBind") ?? false
        // As on HTTP sources: whoever answers would get the bind password and could hand over any users.
        if let verify = connection.tls.verify, verify == .never || verify == .allow, !allowInsecure {
            problem((f["tls"]?.mapping?["verify"]) ?? f["tls"], "\(path).tls.verify",
                    "\(verify.rawValue) accepts any server's certificate, so the bind password would go to whoever answers and any users could come back: give tls.caFile instead, or set allowInsecure: true (test servers only)")
        }
        let users = f["users"].flatMap { self.userSearch($0, "\(path).users") }
        let groups = f["groups"].flatMap { self.groupSearch($0, "\(path).groups") }
        if let (users, _) = users, !users.memberOf.isEmpty, users.memberOfStrategy == .tree, f["groups"] == nil {
            problem(f["users"], "\(path).users.memberOfStrategy", "tree needs a 'groups' section to read the group tree from")
        }
        var incremental = IncrementalSettings()
        if let node = f["incremental"], let i = fields(node, "\(path).incremental", allowed: ConfigLoader.Keys.incremental) {
            if let method = choice(i["method"], "\(path).incremental.method", IncrementalSettings.Method.self) { incremental.method = method }
            if let node = i["fullEvery"] {
                if let text = node.string, let duration = Schedule.parseDuration(text), duration >= .seconds(60) {
                    incremental.fullEvery = duration
                } else {
                    problem(node, "\(path).incremental.fullEvery", "expected a duration of at least 1m (6h, 24h, 7d), found \(describe(node))")
                }
            }
        }
        guard problems.count == problemsBefore, let (users, idAttribute) = users else { return nil }
        var directory = LDAPSourceSettings(connection: connection, bindDN: bindDN, passwordFile: passwordFile,
                                           passwordEnv: passwordEnv, allowInsecure: allowInsecure, users: users,
                                           groups: groups?.search)
        directory.incremental = incremental
        return SourceKindParts(kind: .ldap(directory), stableID: idAttribute ?? "entryUUID", groups: groups?.mapping)
    }

    /// `users:`, and the stable id's attribute (`idAttribute`) given there.
    mutating func userSearch(_ node: Node, _ path: String) -> (UserSearch, idAttribute: String?)? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.users, required: ["base"]) else { return nil }
        guard let base = distinguishedName(f["base"], "\(path).base") else { return nil }
        var search = UserSearch(base: base)
        if let filter = filter(f["filter"], "\(path).filter") { search.filter = filter }
        if let scope = choice(f["scope"], "\(path).scope", SearchRequest.Scope.self) { search.scope = scope }
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { search.pageSize = size }
        if let groups = strings(f["memberOf"], "\(path).memberOf") {
            for (i, dn) in groups.enumerated() { checkDN(dn, f["memberOf"], "\(path).memberOf[\(i)]") }
            search.memberOf = groups
        }
        if let strategy = choice(f["memberOfStrategy"], "\(path).memberOfStrategy", UserSearch.MemberOfStrategy.self) {
            search.memberOfStrategy = strategy
        }
        return (search, string(f["idAttribute"], "\(path).idAttribute"))
    }

    /// `groups:`: the search, and how its entries become groups.
    mutating func groupSearch(_ node: Node, _ path: String) -> (search: GroupSearch, mapping: GroupMapping)? {
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.groups, required: ["base"]) else { return nil }
        guard let base = distinguishedName(f["base"], "\(path).base") else { return nil }
        var search = GroupSearch(base: base)
        if let filter = filter(f["filter"], "\(path).filter") { search.filter = filter }
        if let scope = choice(f["scope"], "\(path).scope", SearchRequest.Scope.self) { search.scope = scope }
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { search.pageSize = size }
        var mapping = GroupMapping()
        mapping.idAttribute = string(f["idAttribute"], "\(path).idAttribute")
        if let name = string(f["nameAttribute"], "\(path).nameAttribute") { mapping.nameAttribute = name }
        if let lowercase = bool(f["lowercase"], "\(path).lowercase") { mapping.lowercase = lowercase }
        for key in ["include", "exclude"] {
            guard let pattern = string(f[key], "\(path).\(key)") else { continue }
            do {
                _ = try NSRegularExpression(pattern: pattern)
                if key == "include" { mapping.include = pattern } else { mapping.exclude = pattern }
            } catch {
                problem(f[key], "\(path).\(key)", "not a valid regular expression: \(pattern)")
            }
        }
        if let tree = bool(f["tree"], "\(path).tree") { mapping.tree = tree }
        if let membership = choice(f["membership"], "\(path).membership", GroupMapping.Membership.self) { mapping.membership = membership }
        return (search, mapping)
    }
}
