import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// A `type: okta` source.
    mutating func oktaSource(_ f: [String: Node], _ path: String) -> SourceKindParts? {
        let problemsBefore = problems.count
        guard var domain = string(f["domain"], "\(path).domain") else { return nil }
        // example.okta.com, or the org's URL as copied from the browser.
        if !domain.lowercased().hasPrefix("https://") && !domain.lowercased().hasPrefix("http://") { domain = "https://" + domain }
        while domain.hasSuffix("/") { domain.removeLast() }
        if let url = URL(string: domain), url.host != nil, url.path.isEmpty || url.path == "/" {
            // the org's address
        } else {
            problem(f["domain"], "\(path).domain", "expected the org's domain (example.okta.com, or a custom domain such as login.example.com), without a path")
        }
        var endpoint: [String: Node] = ["url": Node(domain)]
        for key in ["tls", "allowInsecure", "connectTimeout", "timeout", "retries"] { endpoint[key] = f[key] }
        guard var http = httpSettings(endpoint, path) else { return nil }
        http.paceByRateLimitHeaders = true
        let credentials = ["apiTokenFile", "apiTokenEnv", "oauth"].filter { f[$0] != nil }
        if credentials.count != 1 {
            problem(f["type"], "\(path).apiTokenFile",
                    credentials.isEmpty ? "missing (required): give apiTokenFile or apiTokenEnv (an API token: Security → API → Tokens), or oauth: { clientId, keyFile } (an API service app)"
                                        : "give one credential, not \(credentials.joined(separator: " and "))")
        } else if f["oauth"] == nil {
            http.auth = .ssws(tokenFile: string(f["apiTokenFile"], "\(path).apiTokenFile"), tokenEnv: string(f["apiTokenEnv"], "\(path).apiTokenEnv"))
        } else if let node = f["oauth"], let o = fields(node, "\(path).oauth", allowed: ConfigLoader.Keys.oktaOAuth, required: ["clientId", "keyFile"]),
                  let clientID = string(o["clientId"], "\(path).oauth.clientId"), let keyFile = string(o["keyFile"], "\(path).oauth.keyFile") {
            // OAuth 2.0 for Okta: a service app authenticates with private_key_jwt only
            // (Okta's guide "Implement OAuth for Okta with a service app").
            let scopes = strings(o["scopes"], "\(path).oauth.scopes", splitSpaces: true) ?? ["okta.users.read", "okta.groups.read"]
            var oauth = HTTPSettings.OAuth2(tokenURL: "\(domain)/oauth2/v1/token", clientID: clientID, scope: scopes.joined(separator: " "))
            oauth.assertion = ClientAssertion(keyFile: keyFile, keyID: string(o["keyId"], "\(path).oauth.keyId"))
            http.auth = .oauth2(oauth)
        }
        var settings = OktaSettings(http: http)
        if let node = f["users"], let u = fields(node, "\(path).users", allowed: ConfigLoader.Keys.oktaUsers) {
            settings.userFilter = string(u["filter"], "\(path).users.filter")
            settings.userSearch = string(u["search"], "\(path).users.search")
            if settings.userFilter != nil && settings.userSearch != nil {
                problem(node, "\(path).users", "give filter or search, not both (Okta takes one of them)")
            }
            if let size = int(u["pageSize"], "\(path).users.pageSize", min: 1) {
                if size > 200 { problem(u["pageSize"], "\(path).users.pageSize", "Okta lists at most 200 users a page") }
                settings.pageSize = min(size, 200)
            }
        }
        var groupMapping: GroupMapping?
        if let node = f["groups"] {
            var mapping = GroupMapping()
            mapping.idAttribute = "id"
            mapping.nameAttribute = "name"
            mapping.membership = .member
            // Okta's groups do not nest.
            mapping.tree = false
            if case .scalar = node {
                if bool(node, "\(path).groups") == true { groupMapping = mapping }
            } else if let g = fields(node, "\(path).groups", allowed: ConfigLoader.Keys.oktaGroups) {
                settings.groupFilter = string(g["filter"], "\(path).groups.filter")
                settings.groupSearch = string(g["search"], "\(path).groups.search")
                mapping.include = regex(g["include"], "\(path).groups.include")
                mapping.exclude = regex(g["exclude"], "\(path).groups.exclude")
                groupMapping = mapping
            }
        }
        settings.groups = groupMapping != nil
        let stableID = string(f["idAttribute"], "\(path).idAttribute") ?? "id"
        if case .failure(let error) = JSONPath.parse(stableID) { problem(f["idAttribute"], "\(path).idAttribute", error.description) }
        guard problems.count == problemsBefore else { return nil }
        return SourceKindParts(kind: .okta(settings), stableID: stableID, groups: groupMapping)
    }
}
