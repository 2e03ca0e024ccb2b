import Foundation
import Testing
@testable import UserSync

@Suite("Targets: configuration, SCIM paths and PATCH operations")
struct TargetConfigTests {
    static let base = minimal + """

        targets:
          - name: intranet
            type: scim
            url: https://intranet.example.com/scim/v2
            auth: { bearerTokenEnv: INTRANET_SCIM_TOKEN }
            sources: [corp]
        """

    @Test("a target as the issue's example writes it: the defaults, its mapping, groups and guard")
    func readsTarget() throws {
        let configuration = try parse(Self.base + """

                users:
                  mapping:
                    userName: username
                    externalId: externalId
                    name.givenName: firstName
                    emails[type eq "work"].value: email
                    emails[type eq "work"].primary: true
                    urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber: attributes.employeeNumber
                    active: active
                groups: { include: "^Intranet", nesting: flatten }
                onDeactivate: disable
                maxDeletions: 5%
                concurrency: 8
            """)
        let target = try #require(configuration.target(named: "intranet"))
        #expect(target.sources == ["corp"] && target.concurrency == 8 && target.maxDeletions == .percent(5))
        #expect(target.groups?.include == "^Intranet" && target.groups?.nesting == .flatten)
        #expect(target.userMapping.count == 7)
        let employee = try #require(target.userMapping.first { $0.path.schema != nil })
        #expect(employee.path.schema == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" && employee.path.attribute == "employeeNumber")
        #expect(employee.value == .field(.attribute("employeeNumber")))
        #expect(target.userMapping.contains { $0.value == .constant(.bool(true)) && $0.path.subAttribute == "primary" })
        #expect(configuration.targets(of: "corp").map(\.name) == ["intranet"])

        let defaults = try #require(try parse(Self.base).targets.first)
        #expect(defaults.userMapping == TargetSettings.defaultUserMapping && defaults.onDeactivate == .disable && defaults.groups == nil)
    }

    @Test("each mistake in a target is named at its key: unknown source, bad path, unknown field, userName missing, disable without active, http")
    func mistakes() {
        let found = problems(minimal + """

            targets:
              - name: app
                type: scim
                url: http://app.example.com/scim
                sources: [crop]
                users:
                  mapping:
                    name.givenName: firstname
                    emails[value eq "x"].value: email
                    meta.created: username
                groups: { include: "([" }
              - name: app
                type: ldap
                url: https://b.example.com
                sources: [corp]
                users:
                  mapping:
                    userName: username
                onDeactivate: disable
            """)
        let byPath = Dictionary(grouping: found, by: \.path).mapValues { $0.map(\.message).joined(separator: " | ") }
        #expect(byPath["targets[0].sources[0]"]?.contains("no source is named 'crop'") == true, "\(byPath)")
        #expect(found.first { $0.path == "targets[0].sources[0]" }?.suggestion == "corp")
        #expect(byPath["targets[0].url"]?.contains("plain http://") == true)
        #expect(byPath["targets[0].users.mapping.name.givenName"]?.contains("not a store field") == true)
        #expect(byPath["targets[0].users.mapping.emails[value eq \"x\"].value"]?.contains("only a filter on the value's type") == true)
        #expect(byPath["targets[0].users.mapping.meta.created"]?.contains("set by the server") == true)
        #expect(byPath["targets[0].users.mapping"]?.contains("userName is not mapped") == true)
        #expect(byPath["targets[0].groups.include"]?.contains("not a regular expression") == true)
        #expect(byPath["targets[1].name"]?.contains("used by another target") == true)
        #expect(byPath["targets[1].type"]?.contains("the one type is scim") == true)
        #expect(byPath["targets[1].onDeactivate"]?.contains("does not map active") == true)
        #expect(found.allSatisfy { $0.line != nil }, "every problem has its line")
    }

    @Test("SCIM paths: core, sub-attribute, a value chosen by type, an extension's URN; the rest refused")
    func paths() throws {
        let work = try SCIMPath.parse("emails[type eq \"work\"].value").get()
        #expect(work.attribute == "emails" && work.typeFilter == "work" && work.subAttribute == "value" && work.valueSelector == "emails[type eq \"work\"]")
        #expect(try SCIMPath.parse("name.givenName").get().subAttribute == "givenName")
        #expect(try SCIMPath.parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").get() == SCIMPath(attribute: "userName"))
        let manager = try SCIMPath.parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").get()
        #expect(manager.schema == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" && manager.attribute == "manager" && manager.subAttribute == "value")
        #expect(manager.description == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
        for bad in ["", "1abc", "emails[type eq \"work\"]", "emails[type eq work].value", "name..x", "name.givenName.x", "id", "emails[type eq \"a\" or type eq \"b\"].value"] {
            #expect(throws: SCIMPath.ParseError.self, "\(bad)") { try SCIMPath.parse(bad).get() }
        }
        #expect(SCIMPath(attribute: "name").overlaps(try SCIMPath.parse("name.givenName").get()))
        #expect(!work.overlaps(try SCIMPath.parse("emails[type eq \"home\"].value").get()))
    }

    static func attributes(_ pairs: [(String, SCIMValue)]) -> SCIMAttributes {
        var attributes = SCIMAttributes()
        for (path, value) in pairs { attributes[try! SCIMPath.parse(path).get()] = value }
        return attributes
    }

    @Test("PATCH operations carry only what changed: replace, add of a new typed value (never a replace through a filter that matches nothing), remove")
    func patchOperations() throws {
        let old = Self.attributes([("userName", .string("ann")), ("name.givenName", .string("Ann")), ("active", .bool(true)),
                                   ("emails[type eq \"work\"].value", .string("ann@x.org")), ("title", .string("Dr"))])
        let new = Self.attributes([("userName", .string("ann")), ("name.givenName", .string("Anne")), ("active", .bool(false)),
                                   ("emails[type eq \"work\"].value", .string("anne@x.org")), ("phoneNumbers[type eq \"work\"].value", .string("+1"))])
        let operations = new.patchOperations(from: old)
        let text = try String(decoding: JSONSerialization.data(withJSONObject: operations, options: [.sortedKeys]), as: UTF8.self)
        #expect(text == #"[{"op":"replace","path":"active","value":false},{"op":"replace","path":"emails[type eq \"work\"].value","value":"anne@x.org"},{"op":"replace","path":"name.givenName","value":"Anne"},{"op":"add","path":"phoneNumbers","value":[{"type":"work","value":"+1"}]},{"op":"remove","path":"title"}]"#)
        #expect(new.patchOperations(from: new).isEmpty)
        let gone = Self.attributes([("userName", .string("ann"))]).patchOperations(from: old)
        #expect(gone.contains { $0["path"] as? String == "emails[type eq \"work\"]" && $0["op"] as? String == "remove" })
        // Kept in the store and read back the same, booleans included.
        #expect(SCIMAttributes(stored: new.stored) == new)
    }

    @Test("a POST body groups values as SCIM does; a PUT keeps what the application added and removes what is no longer mapped")
    func resourceAndOverlay() throws {
        let values = Self.attributes([("userName", .string("ann")), ("emails[type eq \"work\"].value", .string("ann@x.org")),
                                      ("emails[type eq \"work\"].primary", .bool(true)),
                                      ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", .string("7"))])
        let body = values.resource(coreSchema: SCIMClient.userSchema)
        #expect(body["schemas"] as? [String] == [SCIMClient.userSchema, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"])
        #expect((body["emails"] as? [[String: Any]])?.count == 1)
        #expect((body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] as? [String: Any])?["employeeNumber"] as? String == "7")

        let remote: [String: Any] = ["id": "1", "schemas": [SCIMClient.userSchema], "userName": "ann", "title": "Boss",
                                     "emails": [["type": "work", "value": "old@x.org"], ["type": "home", "value": "h@x.org"]],
                                     "nickName": "annie", "meta": ["version": "W/\"3\""]]
        let old = Self.attributes([("userName", .string("ann")), ("nickName", .string("annie"))])
        let put = values.overlay(on: remote, removing: old, coreSchema: SCIMClient.userSchema)
        #expect(put["title"] as? String == "Boss" && put["nickName"] == nil && put["meta"] == nil)
        let emails = put["emails"] as? [[String: Any]] ?? []
        #expect(emails.count == 2 && emails.first { $0["type"] as? String == "work" }?["value"] as? String == "ann@x.org")
    }

    @Test("a ServiceProviderConfig is read as RFC 7643 section 5 gives it, and one without patch or filter is refused, not guessed")
    func serviceProvider() throws {
        let full: [String: Any] = ["patch": ["supported": true], "filter": ["supported": true, "maxResults": 200],
                                   "bulk": ["supported": true, "maxOperations": 50], "etag": ["supported": false]]
        #expect(try ServiceProvider.parse(full, url: "u") == ServiceProvider(patch: true, filter: true, maxResults: 200, bulkMaxOperations: 50, etag: false))
        var noPatch = full
        noPatch.removeValue(forKey: "patch")
        #expect { try ServiceProvider.parse(noPatch, url: "https://x/scim") } throws: { "\($0)".contains("no 'patch'") }
        #expect { try ServiceProvider.parse(["patch": ["supported": "maybe"], "filter": ["supported": true], "bulk": ["supported": false]], url: "u") }
            throws: { "\($0)".contains("not true or false") }
        #expect(throws: ServiceProvider.Unreadable.self) { try ServiceProvider.parse([1, 2], url: "u") }
    }
}
