import Foundation

/// A `type: entra` source: Microsoft Entra ID (Azure AD) read through Microsoft Graph with an
/// application's own credentials (client credentials: a secret or a certificate).
public struct EntraSettings: Sendable, Equatable {
    /// The directory (tenant) id, a GUID, or a verified domain (contoso.onmicrosoft.com).
    public var tenantID: String
    /// The application (client) id of the app registration.
    public var clientID: String
    /// Graph's address (`graphURL`, default https://graph.microsoft.com; national clouds have
    /// their own); the requests go to `<graphURL>/v1.0/…`. Its TLS, timeouts and retries, and
    /// the OAuth token request (to `<authorityURL>/<tenant>/oauth2/v2.0/token`, scope
    /// `<graphURL>/.default`), are in `http`.
    public var http: HTTPSettings
    /// `$filter` on /users (`accountEnabled eq true`, `startswith(department,'Sales')`).
    public var userFilter: String?
    /// `$top`: users (and groups, members) per page, 1 to 999.
    public var pageSize = 999
    /// Read /groups and their members.
    public var groups = false
    /// `$filter` on /groups.
    public var groupFilter: String?
    /// Only users that are members (direct or nested) of these groups, by object id.
    public var memberOf: [String] = []

    public init(tenantID: String, clientID: String, http: HTTPSettings) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.http = http
    }

    /// Graph's base, `https://graph.microsoft.com/v1.0`.
    public var graphBase: String { http.url }

    /// Application permissions the source needs (Microsoft Graph, granted with admin consent),
    /// each with those that include it.
    public var neededPermissions: [(permission: String, orAnyOf: [String])] {
        var needed = [("User.Read.All", ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"])]
        if groups {
            needed.append(("GroupMember.Read.All", ["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All",
                                                    "Directory.Read.All", "Directory.ReadWrite.All"]))
        }
        return needed
    }
}
