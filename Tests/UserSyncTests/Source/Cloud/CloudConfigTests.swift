import Foundation
import Testing
@testable import UserSync

/// What an administrator gets wrong in an entra or okta source, reported at its line.
@Suite("Entra ID and Okta configuration")
struct CloudConfigTests {
    static func problems(_ source: String) -> [String] {
        do {
            _ = try ConfigLoader.parse("store: { sqlite: /tmp/x.db }\nsources:\n" + source, file: "cloud.yaml")
            return []
        } catch let errors as ConfigErrors {
            return errors.problems.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test("entra: a credential is required (one); memberOf takes object ids and needs groups; $top is at most 999")
    func entra() {
        let base = """
              - name: entra
                type: entra
                tenantId: contoso.onmicrosoft.com
                clientId: 2d4d3d8e-0000-4000-8000-00000000abcd
                mapping: { username: userPrincipalName }

            """
        let none = Self.problems(base)
        #expect(none.count == 1 && none[0].contains("clientSecretFile or clientSecretEnv"), "\(none)")
        let two = Self.problems(base + "    clientSecretEnv: S\n    certificate: { certFile: a.pem, keyFile: a.key }\n")
        #expect(two.count == 1 && two[0].contains("one credential"), "\(two)")
        let scoped = Self.problems(base + "    clientSecretEnv: S\n    users: { memberOf: [Sales], pageSize: 5000 }\n")
        #expect(scoped.contains { $0.contains("cloud.yaml:9") && $0.contains("'Sales' is not a group's object id") }, "\(scoped)")
        #expect(scoped.contains { $0.contains("at most 999") }, "\(scoped)")
        #expect(scoped.contains { $0.contains("needs groups: true") }, "\(scoped)")
        #expect(Self.problems(base + "    clientSecretEnv: S\n    groups: { filter: \"securityEnabled eq true\", include: \"^Sales\" }\n") == [])
        let unknown = Self.problems(base + "    clientSecretEnv: S\n    users: { base: \"dc=example\" }\n")
        #expect(unknown.contains { $0.contains("unknown key") }, "\(unknown)")
    }

    @Test("okta: the domain without a path; one credential; filter or search; entra's and okta's keys stay their own")
    func okta() {
        let base = """
              - name: okta
                type: okta
                mapping: { username: profile.login }

            """
        #expect(Self.problems(base + "    domain: example.okta.com\n    apiTokenEnv: OKTA_TOKEN\n") == [])
        let path = Self.problems(base + "    domain: https://example.okta.com/admin/dashboard\n    apiTokenEnv: T\n")
        #expect(path.contains { $0.contains("without a path") }, "\(path)")
        let both = Self.problems(base + "    domain: example.okta.com\n    apiTokenEnv: T\n    users: { filter: 'status eq \"ACTIVE\"', search: 'profile.department eq \"Sales\"' }\n")
        #expect(both.contains { $0.contains("filter or search") }, "\(both)")
        let foreign = Self.problems(base + "    domain: example.okta.com\n    apiTokenEnv: T\n    tenantId: x\n")
        #expect(foreign.contains { $0.contains("'tenantId' is not a key of okta sources") }, "\(foreign)")
        let oauth = Self.problems(base + "    domain: example.okta.com\n    oauth: { clientId: 0oa1 }\n")
        #expect(oauth.contains { $0.contains("keyFile") }, "\(oauth)")
    }
}
