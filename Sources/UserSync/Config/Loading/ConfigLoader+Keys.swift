extension ConfigLoader {
    /// The keys each section accepts. `schemas/usersync.schema.json` must name the same ones
    /// (a test compares them).
    public enum Keys {
        public static let root = ["store", "log", "serve", "sources", "targets"]
        public static let serve = ["listen", "console", "consoleAccess"]
        public static let consoleAccess = ["user", "passwordFile", "passwordEnv", "tokenFile", "loopbackWithoutLogin"]
        public static let schedule = ["every", "cron", "jitter", "runAtStart"]
        public static let store = ["sqlite", "postgres"]
        public static let postgres = ["url", "passwordFile", "passwordEnv", "schema", "tls", "allowInsecure"]
        public static let log = ["directory", "retentionDays"]
        /// The keys of an HTTP endpoint (a `csv` source's `url`, a `scim` or `json` source).
        static let http = ["url", "auth", "tls", "allowInsecure", "allowedOrigins", "connectTimeout", "timeout", "retries"]

        /// The keys of a program to run (a `command` source).
        static let command = ["command", "shell", "workingDirectory", "environment", "timeout"]

        /// The keys each type of source takes.
        public static func source(_ type: SourceType) -> [String] {
            let kind: [String]
            switch type {
            case .ldap:
                kind = ["uri", "bindDN", "passwordFile", "passwordEnv", "startTLS", "tls", "allowInsecure", "allowInsecureBind",
                        "connectTimeout", "timeout", "users", "groups", "incremental"]
            case .csv: kind = ["path", "delimiter", "encoding", "idColumn", "groupsColumn"] + http
            case .scim: kind = http + ["pageSize", "filter", "idAttribute", "groups"]
            case .json: kind = http + ["pageSize", "idAttribute", "records", "paging"]
            case .command: kind = command + ["format", "idColumn", "idAttribute", "delimiter", "encoding", "groupsColumn"]
            case .entra: kind = ["tenantId", "clientId", "clientSecretFile", "clientSecretEnv", "certificate", "authorityURL", "graphURL",
                                 "tls", "allowInsecure", "connectTimeout", "timeout", "retries", "users", "groups", "idAttribute"]
            case .okta: kind = ["domain", "apiTokenFile", "apiTokenEnv", "oauth", "tls", "allowInsecure", "connectTimeout", "timeout",
                                "retries", "users", "groups", "idAttribute"]
            }
            return ["name", "type"] + kind + ["mapping", "options", "schedule"]
        }

        /// Every key some type of source takes.
        public static let source: [String] = {
            var seen: Set<String> = []
            return SourceType.allCases.flatMap { Keys.source($0) }.filter { seen.insert($0).inserted }
        }()

        /// The keys a type of source cannot do without.
        static func required(_ type: SourceType) -> [String] {
            switch type {
            case .ldap: return ["name", "type", "uri", "users", "mapping"]
            case .csv: return ["name", "type", "idColumn", "mapping"]
            case .scim, .json: return ["name", "type", "url", "mapping"]
            case .command: return ["name", "type", "command", "mapping"]
            case .entra: return ["name", "type", "tenantId", "clientId", "mapping"]
            case .okta: return ["name", "type", "domain", "mapping"]
            }
        }

        /// A target's keys (`type: scim`): its HTTP endpoint, then what it receives.
        public static let target = ["name", "type"] + http + ["sources", "users", "groups", "onDeactivate", "maxDeletions",
                                                              "concurrency", "quarantineAfter"]
        public static let targetUsers = ["mapping"]
        public static let targetGroups = ["include", "nesting", "membersPerRequest"]

        /// An entra source's `users`, `groups` and `certificate`.
        public static let entraUsers = ["filter", "pageSize", "memberOf"]
        public static let entraGroups = ["filter", "include", "exclude"]
        public static let certificate = ["certFile", "keyFile"]
        /// An okta source's `users`, `groups` and `oauth`.
        public static let oktaUsers = ["filter", "search", "pageSize"]
        public static let oktaGroups = ["filter", "search", "include", "exclude"]
        public static let oktaOAuth = ["clientId", "keyFile", "keyId", "scopes"]

        public static let incremental = ["method", "fullEvery"]

        public static let groupsColumn = ["column", "separator", "pathSeparator"]
        public static let auth = ["bearerTokenEnv", "bearerTokenFile", "basic", "oauth2"]
        public static let basic = ["username", "passwordEnv", "passwordFile"]
        public static let oauth2 = ["tokenURL", "clientID", "clientSecretEnv", "clientSecretFile", "scope", "clientAuthentication"]
        public static let paging = ["nextLink", "linkHeader", "page", "firstPage", "offset", "sizeParameter"]
        public static let tls = ["caFile", "caDirectory", "certFile", "keyFile", "verify"]
        public static let users = ["base", "filter", "scope", "pageSize", "idAttribute", "memberOf", "memberOfStrategy"]
        public static let groups = ["base", "filter", "scope", "pageSize", "idAttribute", "nameAttribute", "lowercase",
                                    "include", "exclude", "tree", "membership"]
        public static let mapping = Mapping.fields + ["attributes"]
        public static let rule = ["from", "template", "lowercase", "trim", "default", "join", "rdnValue", "format"]
        public static let options = ["createUsers", "updateUsers", "deactivateMissing", "reactivateReturning",
                                     "lowercaseUsernames", "lowercaseEmails", "requiredFields", "adoptExistingBy",
                                     "maxUsers", "maxDeactivations", "maxSkipped", "disabledWhen", "keepRecords"]
        public static let disabledWhen = ["userAccountControlBit", "attribute", "values"]
    }
}
