import Foundation

/// An HTTP endpoint: a CSV file's `url`, or a REST source's.
public struct HTTPSettings: Sendable, Equatable {
    public enum Auth: Sendable, Equatable {
        /// `Authorization: Bearer …`, the token from a file or an environment variable.
        case bearer(tokenFile: String?, tokenEnv: String?)
        case basic(username: String, passwordFile: String?, passwordEnv: String?)
        /// OAuth 2.0 client credentials.
        case oauth2(OAuth2)
        /// Okta's API token: `Authorization: SSWS …`.
        case ssws(tokenFile: String?, tokenEnv: String?)
    }

    public struct OAuth2: Sendable, Equatable {
        public enum ClientAuthentication: String, Sendable, CaseIterable {
            /// client_id and client_secret in the form (client_secret_post: Entra ID, Okta, Keycloak).
            case post
            /// HTTP basic authentication with the client id and secret (client_secret_basic).
            case basic
        }

        public var tokenURL: String
        public var clientID: String
        public var clientSecretFile: String?
        public var clientSecretEnv: String?
        public var scope: String?
        public var clientAuthentication: ClientAuthentication = .post
        /// Instead of the secret: a JWT signed with the client's key (Entra ID certificate
        /// credentials, Okta private_key_jwt).
        public var assertion: ClientAssertion?
    }

    public var url: String
    public var auth: Auth?
    /// PEM file of the CA(s) that signed the server's certificate (default: the system's).
    public var caFile: String?
    /// Check the server's certificate (`tls.verify: never` turns it off; needs allowInsecure).
    public var verify = true
    /// Allow plain http:// and unchecked TLS (test servers on loopback).
    public var allowInsecure = false
    /// Origins (`https://host[:port]`) besides the url's own that links in pages may point to
    /// and so receive the source's credentials.
    public var allowedOrigins: [String] = []
    public var connectTimeout: Duration = .seconds(10)
    /// Seconds to wait for an answer (and between bytes of one).
    public var timeout: Duration = .seconds(60)
    /// Tries of one request in all, retries after 429, 5xx and dropped connections included.
    public var maxAttempts = 5
    /// The longest wait a `Retry-After` may ask for, in seconds.
    public var maxRetryDelay: Double = 120
    /// Pace requests by the `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` headers (Okta):
    /// when the answers say that at most `rateLimitReserve` requests are left in the window,
    /// wait for the window to end before the next one, so that no 429 happens.
    public var paceByRateLimitHeaders = false
    public var rateLimitReserve = 2

    public init(url: String) { self.url = url }
}

/// What a `scim` or `json` source reads beyond its HTTP endpoint.
public struct RESTSettings: Sendable, Equatable {
    /// Records per page (SCIM `count`; a json source's page or limit size).
    public var pageSize = 100
    /// scim: a SCIM filter on /Users (`userType eq "Employee"`).
    public var filter: String?
    /// scim: also read /Groups (members and nesting from `members`).
    public var groups = false
    /// json: where the records are in a page (RFC 6901 JSON pointer; "" for the page itself).
    public var records = ""
    /// json: how to find the next page.
    public var paging: Paging = .none

    public enum Paging: Sendable, Equatable {
        /// One page.
        case none
        /// A field of the page holds the next page's URL (`@odata.nextLink`).
        case nextLink(field: String)
        /// The `Link: <…>; rel="next"` header (RFC 8288).
        case linkHeader
        /// `?page=1`, `?page=2`, … until a page has fewer than `pageSize` records.
        case page(parameter: String, start: Int, sizeParameter: String?)
        /// `?offset=0&limit=100`, … until a page has fewer than `pageSize` records.
        case offset(parameter: String, limitParameter: String?)
    }

    public init() {}
}
