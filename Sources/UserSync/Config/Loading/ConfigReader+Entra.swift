import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// A `type: entra` source.
    mutating func entraSource(_ f: [String: Node], _ path: String) -> SourceKindParts? {
        let problemsBefore = problems.count
        let tenant = string(f["tenantId"], "\(path).tenantId")
        let client = string(f["clientId"], "\(path).clientId")
        if let tenant, tenant.contains("/") || tenant.contains(" ") {
            problem(f["tenantId"], "\(path).tenantId", "expected the directory (tenant) id, a GUID, or a domain such as contoso.onmicrosoft.com")
        }
        var endpoint: [String: Node] = [:]
        for key in ["tls", "allowInsecure", "connectTimeout", "timeout", "retries"] { endpoint[key] = f[key] }
        let graph = trimmedURL(f["graphURL"], "\(path).graphURL") ?? "https://graph.microsoft.com"
        let authority = trimmedURL(f["authorityURL"], "\(path).authorityURL") ?? "https://login.microsoftonline.com"
        endpoint["url"] = Node(graph + "/v1.0")
        guard var http = httpSettings(endpoint, path) else { return nil }
        let credentials = ["clientSecretFile", "clientSecretEnv", "certificate"].filter { f[$0] != nil }
        var assertion: ClientAssertion?
        if credentials.count != 1 {
            problem(f["type"], "\(path).clientSecretFile",
                    credentials.isEmpty ? "missing (required): give clientSecretFile or clientSecretEnv (a client secret of the app registration), or certificate: { certFile, keyFile }"
                                        : "give one credential, not \(credentials.joined(separator: " and "))")
        } else if let node = f["certificate"],
                  let c = fields(node, "\(path).certificate", allowed: ConfigLoader.Keys.certificate, required: ["certFile", "keyFile"]),
                  let certFile = string(c["certFile"], "\(path).certificate.certFile"),
                  let keyFile = string(c["keyFile"], "\(path).certificate.keyFile") {
            assertion = ClientAssertion(keyFile: keyFile, certificateFile: certFile)
        }
        if let tenant, let client {
            var oauth = HTTPSettings.OAuth2(tokenURL: "\(authority)/\(tenant)/oauth2/v2.0/token", clientID: client,
                                            clientSecretFile: string(f["clientSecretFile"], "\(path).clientSecretFile"),
                                            clientSecretEnv: string(f["clientSecretEnv"], "\(path).clientSecretEnv"),
                                            scope: "\(graph)/.default")
            oauth.assertion = assertion
            http.auth = .oauth2(oauth)
            if authority.lowercased().hasPrefix("http://") && !http.allowInsecure {
                problem(f["authorityURL"], "\(path).authorityURL", "plain http:// would send the client's credentials unencrypted: use https://")
            }
            // The token endpoint is the credential's only destination; Graph's next links stay on graphURL.
        }
        var settings = EntraSettings(tenantID: tenant ?? "", clientID: client ?? "", http: http)
        if let node = f["users"], let u = fields(node, "\(path).users", allowed: ConfigLoader.Keys.entraUsers) {
            settings.userFilter = string(u["filter"], "\(path).users.filter")
            if let size = int(u["pageSize"], "\(path).users.pageSize", min: 1) {
                if size > 999 { problem(u["pageSize"], "\(path).users.pageSize", "Graph's $top is at most 999") }
                settings.pageSize = min(size, 999)
            }
            if let groups = strings(u["memberOf"], "\(path).users.memberOf") {
                for id in groups where UUID(uuidString: id) == nil {
                    problem(u["memberOf"], "\(path).users.memberOf",
                            "'\(id)' is not a group's object id: give each group's Object ID (a GUID, on the group's overview page in the Entra admin center)")
                }
                settings.memberOf = groups.map { $0.lowercased() }
            }
        }
        var groupMapping: GroupMapping?
        if let node = f["groups"] {
            var mapping = GroupMapping()
            mapping.idAttribute = "id"
            mapping.nameAttribute = "displayName"
            mapping.membership = .member
            if case .scalar = node {
                if bool(node, "\(path).groups") == true { groupMapping = mapping }
            } else if let g = fields(node, "\(path).groups", allowed: ConfigLoader.Keys.entraGroups) {
                settings.groupFilter = string(g["filter"], "\(path).groups.filter")
                mapping.include = regex(g["include"], "\(path).groups.include")
                mapping.exclude = regex(g["exclude"], "\(path).groups.exclude")
                groupMapping = mapping
            }
        }
        settings.groups = groupMapping != nil
        if !settings.memberOf.isEmpty && groupMapping == nil {
            problem(f["users"], "\(path).users.memberOf", "users.memberOf needs groups: true (the members of the groups, nested ones included, come from the group tree)")
        }
        let stableID = string(f["idAttribute"], "\(path).idAttribute") ?? "id"
        if case .failure(let error) = JSONPath.parse(stableID) { problem(f["idAttribute"], "\(path).idAttribute", error.description) }
        guard problems.count == problemsBefore, tenant != nil, client != nil else { return nil }
        return SourceKindParts(kind: .entra(settings), stableID: stableID, groups: groupMapping)
    }

    /// An https:// address without a trailing slash.
    mutating func trimmedURL(_ node: Node?, _ path: String) -> String? {
        guard var text = string(node, path) else { return nil }
        while text.hasSuffix("/") { text.removeLast() }
        if URL(string: text)?.host == nil { problem(node, path, "'\(text)' is not an https:// address") }
        return text
    }

    /// A regular expression, checked.
    mutating func regex(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        if (try? NSRegularExpression(pattern: text)) == nil { problem(node, path, "'\(text)' is not a valid regular expression") }
        return text
    }
}
