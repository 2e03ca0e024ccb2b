import Foundation
import LDAP
import Yams

extension ConfigReader {
    /// The HTTP endpoint of a source: url, auth, tls, allowInsecure, timeouts, retries.
    mutating func httpSettings(_ f: [String: Node], _ path: String) -> HTTPSettings? {
        guard let url = string(f["url"], "\(path).url") else { return nil }
        var http = HTTPSettings(url: url)
        if let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), parsed.host != nil {
            // checked
        } else {
            problem(f["url"], "\(path).url", "'\(url)' is not an https:// URL")
        }
        http.allowInsecure = bool(f["allowInsecure"], "\(path).allowInsecure") ?? false
        if url.lowercased().hasPrefix("http://") && !http.allowInsecure {
            problem(f["url"], "\(path).url", "plain http:// would send credentials and users unencrypted: use https://, or set allowInsecure: true (test servers on loopback only)")
        }
        if let origins = strings(f["allowedOrigins"], "\(path).allowedOrigins") {
            for origin in origins {
                let parsed = URLComponents(string: origin)
                if Origin(origin) == nil || !(parsed?.path ?? "").isEmpty && parsed?.path != "/" || parsed?.query != nil {
                    problem(f["allowedOrigins"], "\(path).allowedOrigins", "'\(origin)' is not an origin: give the scheme, host and port only (https://api2.example.com:8443)")
                } else if origin.lowercased().hasPrefix("http://") && !http.allowInsecure {
                    problem(f["allowedOrigins"], "\(path).allowedOrigins", "'\(origin)' is plain http://: credentials would travel unencrypted; use https://, or set allowInsecure: true (test servers only)")
                }
            }
            http.allowedOrigins = origins
        }
        if let value = seconds(f["connectTimeout"], "\(path).connectTimeout") { http.connectTimeout = value }
        if let value = seconds(f["timeout"], "\(path).timeout") { http.timeout = value }
        if let retries = int(f["retries"], "\(path).retries", min: 0) { http.maxAttempts = retries + 1 }
        if let node = f["tls"], let t = fields(node, "\(path).tls", allowed: ["caFile", "verify"]) {
            http.caFile = string(t["caFile"], "\(path).tls.caFile")
            if let verify = choice(t["verify"], "\(path).tls.verify", TLSOptions.Verify.self) {
                http.verify = verify == .demand || verify == .try
                if !http.verify && !http.allowInsecure {
                    problem(t["verify"], "\(path).tls.verify", "\(verify.rawValue) accepts any server's certificate: give tls.caFile instead, or set allowInsecure: true (test servers only)")
                }
            }
        }
        if let node = f["auth"], let a = fields(node, "\(path).auth", allowed: ConfigLoader.Keys.auth) {
            let given = ConfigLoader.Keys.auth.filter { a[$0] != nil }
            if given.count > 1 && !(given == ["bearerTokenEnv", "bearerTokenFile"]) {
                problem(node, "\(path).auth", "give one kind of auth: \(given.joined(separator: " or "))")
            }
            if a["bearerTokenEnv"] != nil && a["bearerTokenFile"] != nil {
                problem(node, "\(path).auth", "give bearerTokenEnv or bearerTokenFile, not both")
            }
            if a["bearerTokenEnv"] != nil || a["bearerTokenFile"] != nil {
                http.auth = .bearer(tokenFile: string(a["bearerTokenFile"], "\(path).auth.bearerTokenFile"),
                                    tokenEnv: string(a["bearerTokenEnv"], "\(path).auth.bearerTokenEnv"))
            } else if let node = a["basic"],
                      let b = fields(node, "\(path).auth.basic", allowed: ConfigLoader.Keys.basic, required: ["username"]),
                      let username = string(b["username"], "\(path).auth.basic.username") {
                if (b["passwordEnv"] == nil) == (b["passwordFile"] == nil) {
                    problem(node, "\(path).auth.basic", "give passwordEnv or passwordFile (one of them)")
                }
                http.auth = .basic(username: username, passwordFile: string(b["passwordFile"], "\(path).auth.basic.passwordFile"),
                                   passwordEnv: string(b["passwordEnv"], "\(path).auth.basic.passwordEnv"))
            } else if let node = a["oauth2"],
                      let o = fields(node, "\(path).auth.oauth2", allowed: ConfigLoader.Keys.oauth2, required: ["tokenURL", "clientID"]),
                      let tokenURL = string(o["tokenURL"], "\(path).auth.oauth2.tokenURL"),
                      let clientID = string(o["clientID"], "\(path).auth.oauth2.clientID") {
                if (o["clientSecretEnv"] == nil) == (o["clientSecretFile"] == nil) {
                    problem(node, "\(path).auth.oauth2", "give clientSecretEnv or clientSecretFile (one of them)")
                }
                if tokenURL.lowercased().hasPrefix("http://") && !http.allowInsecure {
                    problem(o["tokenURL"], "\(path).auth.oauth2.tokenURL", "plain http:// would send the client secret unencrypted: use https://, or set allowInsecure: true (test servers only)")
                }
                var oauth = HTTPSettings.OAuth2(tokenURL: tokenURL, clientID: clientID,
                                                clientSecretFile: string(o["clientSecretFile"], "\(path).auth.oauth2.clientSecretFile"),
                                                clientSecretEnv: string(o["clientSecretEnv"], "\(path).auth.oauth2.clientSecretEnv"),
                                                scope: string(o["scope"], "\(path).auth.oauth2.scope"))
                if let method = choice(o["clientAuthentication"], "\(path).auth.oauth2.clientAuthentication",
                                       HTTPSettings.OAuth2.ClientAuthentication.self) {
                    oauth.clientAuthentication = method
                }
                http.auth = .oauth2(oauth)
            }
        }
        return http
    }

    /// A `type: scim` or `type: json` source.
    mutating func restSource(_ f: [String: Node], _ path: String, type: SourceType) -> SourceKindParts? {
        let problemsBefore = problems.count
        let http = httpSettings(f, path)
        var rest = RESTSettings()
        if let size = int(f["pageSize"], "\(path).pageSize", min: 1) { rest.pageSize = size }
        rest.filter = string(f["filter"], "\(path).filter")
        let stableID = string(f["idAttribute"], "\(path).idAttribute") ?? "id"
        if case .failure(let error) = JSONPath.parse(stableID) { problem(f["idAttribute"], "\(path).idAttribute", error.description) }
        var groups: GroupMapping?
        if let node = f["groups"] {
            if let enabled = bool(node, "\(path).groups"), enabled {
                var mapping = GroupMapping()
                mapping.idAttribute = "id"
                mapping.nameAttribute = "displayName"
                mapping.membership = .member
                groups = mapping
                rest.groups = true
            }
        }
        if let node = f["records"], let pointer = string(node, "\(path).records", allowEmpty: true) {
            if !pointer.isEmpty && !pointer.hasPrefix("/") {
                problem(node, "\(path).records", "a JSON pointer starts with '/' (\"/value\", \"/data/users\"); \"\" is the page itself")
            }
            rest.records = pointer
        }
        if let node = f["paging"], let p = fields(node, "\(path).paging", allowed: ConfigLoader.Keys.paging) {
            let kinds = ["nextLink", "linkHeader", "page", "offset"].filter { p[$0] != nil }
            if kinds.count != 1 {
                problem(node, "\(path).paging", "give one of nextLink (a field with the next URL), linkHeader: true, page (a parameter) or offset (a parameter)")
            }
            let size = string(p["sizeParameter"], "\(path).paging.sizeParameter")
            if let field = string(p["nextLink"], "\(path).paging.nextLink") {
                rest.paging = .nextLink(field: field)
            } else if let link = bool(p["linkHeader"], "\(path).paging.linkHeader"), link {
                rest.paging = .linkHeader
            } else if let parameter = string(p["page"], "\(path).paging.page") {
                rest.paging = .page(parameter: parameter, start: int(p["firstPage"], "\(path).paging.firstPage") ?? 1, sizeParameter: size)
            } else if let parameter = string(p["offset"], "\(path).paging.offset") {
                rest.paging = .offset(parameter: parameter, limitParameter: size)
            }
        }
        guard problems.count == problemsBefore, let http else { return nil }
        let endpoint = RESTSourceSettings(http: http, rest: rest)
        return SourceKindParts(kind: type == .scim ? .scim(endpoint) : .json(endpoint), stableID: stableID, groups: groups)
    }

    /// A REST source's mapping reads JSON paths (`name.givenName`, `emails[0].value`).
    mutating func checkJSONPaths(_ mapping: Mapping, _ f: [String: Node], _ path: String) {
        for field in Mapping.fields + mapping.attributes.keys.sorted() {
            guard let rule = mapping[field] else { continue }
            for attribute in rule.attributeNames {
                if case .failure(let error) = JSONPath.parse(attribute) {
                    problem(f["mapping"], "\(path).mapping.\(field)", error.description)
                }
            }
        }
    }
}
