import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

@Suite("Push to a SCIM target (scim2-server)")
struct SCIMPushTests {
    @Test("1,000 users and nested groups pushed, then a changed mail and name, a deletion, a rename and a re-created user: after each push the server equals the store", arguments: StoreKind.allCases)
    func pushFollowsTheDirectory(store: StoreKind) async throws {
        let h = try await PushHarness.start(users: 1000, store: store, extraLDIF: Slapd.sampleGroupTree)
        let configuration = try h.configuration(target: "    groups: true", options: "      maxDeactivations: 100%\n" + SyncHarness.pushGroupsSection)
        #expect(await h.syncAll(configuration).status == .applied)
        let first = await h.push(configuration)
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.users.created == 1000 && first.failed == 0)
        #expect(first.groups?.created == 10)
        try await h.expectServerMatchesStore()
        let groups = try await h.serverGroups()
        let stored = try await h.storeGroups(nested: true)
        #expect(groups == stored)

        let again = await h.push(configuration)
        #expect(again.status == .applied && again.users == PushReport.Counts(), "nothing changed, nothing sent: \(again.users)")
        #expect(again.requests == 4, "the ServiceProviderConfig, the Group schema, the count of users and of groups only: \(again.requests)")

        try await h.sync.modify("""
            dn: \(Slapd.userDN(1))
            changetype: modify
            replace: mail
            mail: first.changed@example.com

            dn: \(Slapd.userDN(2))
            changetype: modify
            replace: givenName
            givenName: Renamed

            dn: \(Slapd.userDN(3))
            changetype: delete

            dn: \(Slapd.userDN(4))
            changetype: modrdn
            newrdn: uid=renamed4
            deleteoldrdn: 1

            dn: \(Slapd.userDN(5))
            changetype: delete

            dn: \(Slapd.userDN(5))
            changetype: add
            objectClass: inetOrgPerson
            uid: user00005
            cn: Given5 Family5
            givenName: Given5
            sn: Family5
            mail: user00005@example.com
            employeeNumber: 5

            """)
        #expect(await h.syncAll(configuration).status == .applied)
        let changed = await h.push(configuration)
        #expect(changed.status == .applied, "\(changed.error ?? "")")
        #expect(changed.users.updated == 4 && changed.users.deactivated == 1 && changed.users.created == 0, "\(changed.users)")
        try await h.expectServerMatchesStore()
        let (remote, count) = try await h.serverUsers()
        #expect(count == 1000 && remote["renamed4"] != nil && remote["user00004"] == nil)
        #expect(remote["user00003"]?["active"] as? Bool == false)
        let after = try await h.serverGroups()
        let storedAfter = try await h.storeGroups(nested: true)
        #expect(after == storedAfter)
        // The deleted user's entry no longer resolves as a member: it left its group there too.
        #expect(after["l3"] == ["group:l4"])
        #expect(after["l5"] == ["user00005"], "the re-created user is still a member, by its same id on the server")
    }

    @Test("the target killed in the middle of a push and restarted empty: the next push completes it, nothing twice")
    func targetRestartedEmpty() async throws {
        let h = try await PushHarness.start(users: 400)
        let configuration = try h.configuration()
        #expect(await h.syncAll(configuration).status == .applied)
        let pushing = Task { await h.push(configuration) }
        while try await h.serverUsers().count < 100 { try await Task.sleep(for: .milliseconds(20)) }
        try await h.server.restartEmpty()
        let interrupted = await pushing.value
        #expect(interrupted.status != .planned)
        let next = await h.push(configuration)
        #expect(next.status == .applied, "\(next.error ?? "")")
        #expect(next.users.created >= 100, "the users the server lost are created again: \(next.users)")
        try await h.expectServerMatchesStore()
        #expect(try await h.serverUsers().count == 400)
        let last = await h.push(configuration)
        #expect(last.users == PushReport.Counts() && last.requests == 2)
    }

    @Test("a create whose answer is lost: the next push finds the user and adopts it, never twice; one deactivated meanwhile is found and disabled")
    func answerLost() async throws {
        let h = try await PushHarness.start(users: 10, proxy: { try await SCIMFaultProxy.start(upstream: $0, loseAnswers: ["user00004", "user00005"]) })
        let configuration = try h.configuration()
        #expect(await h.syncAll(configuration).status == .applied)
        let first = await h.push(configuration)
        #expect(first.status == .partial && first.users.created == 8 && first.failed == 2, "\(first.users) \(first.error ?? "")")
        #expect(try await h.serverUsers().count == 10, "the server made both users; usersync never heard")
        let pending = try await h.store.read { db in try db.value(Int.self, "SELECT count(*) FROM target_objects WHERE state = 'pending' AND remote_id IS NULL") }
        #expect(pending == 2)

        try await h.sync.modify("dn: \(Slapd.userDN(5))\nchangetype: delete\n\n")
        #expect(await h.syncAll(configuration).users.deactivated == 1)
        let second = await h.push(configuration)
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(second.users.adopted == 1 && second.users.deactivated == 1 && second.users.created == 0, "\(second.users)")
        try await h.expectServerMatchesStore()
        let (remote, count) = try await h.serverUsers()
        #expect(count == 10 && remote["user00005"]?["active"] as? Bool == false)
    }

    @Test("a user the server already has (made there by hand) is adopted and brought in step, never duplicated; by a listing, and by a filter")
    func adoptsWhatTheServerHas() async throws {
        let h = try await PushHarness.start(users: 30, proxy: { try await SCIMFaultProxy.start(upstream: $0) })
        try await h.server.send([["method": "POST", "path": "/Users", "body": [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "USER00003", "name": ["givenName": "Hand", "familyName": "Made"],
            "emails": [["type": "work", "value": "old@example.com"]], "title": "kept by the application",
        ]]])
        let configuration = try h.configuration()
        #expect(await h.syncAll(configuration).status == .applied)
        let first = await h.push(configuration)
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.users.created == 29 && first.users.adopted == 1, "\(first.users)")
        try await h.expectServerMatchesStore()
        let adopted = try #require(try await h.serverUsers().byName["user00003"])
        #expect(adopted["title"] as? String == "kept by the application", "attributes usersync does not map are left alone")
        #expect((adopted["emails"] as? [[String: Any]])?.count == 1, "the work email replaced, not added beside the old one")

        // One new user, also made by hand: few to create, so a filter finds it.
        try await h.sync.modify("""
            dn: uid=newcomer,\(Slapd.peopleBase)
            changetype: add
            objectClass: inetOrgPerson
            uid: newcomer
            cn: New Comer
            givenName: New
            sn: Comer
            mail: newcomer@example.com

            """)
        try await h.server.send([["method": "POST", "path": "/Users", "body": [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "newcomer"]]])
        #expect(await h.syncAll(configuration).status == .applied)
        let second = await h.push(configuration)
        #expect(second.users.adopted == 1 && second.users.created == 0, "\(second.users)")
        #expect(try await h.proxy!.requests().contains { $0.path.contains("filter=") && $0.path.contains("newcomer") })
        try await h.expectServerMatchesStore()
    }

    @Test("429 with Retry-After is waited out; a user the server always fails is reported, tried again, then quarantined; the others go through")
    func throttlingAndQuarantine() async throws {
        let h = try await PushHarness.start(users: 12, proxy: {
            try await SCIMFaultProxy.start(upstream: $0, throttleEvery: 5, retryAfter: "1", failUsers: ["user00002"])
        })
        let configuration = try h.configuration(target: "    quarantineAfter: 2")
        #expect(await h.syncAll(configuration).status == .applied)
        let started = ContinuousClock.now
        let first = await h.push(configuration)
        #expect(ContinuousClock.now - started >= .seconds(1), "Retry-After: 1 was honoured")
        #expect(first.status == .partial && first.users.created == 11 && first.failed == 1, "\(first.users) \(first.error ?? "")")
        #expect(first.failures.first?.name == "user00002" && first.failures.first?.quarantined == false)
        let log = try await h.proxy!.requests()
        #expect(log.contains { $0.status == 429 }, "the proxy throttled")
        #expect(try await h.serverUsers().count == 11)

        let second = await h.push(configuration)
        #expect(second.status == .partial && second.failed == 1 && second.quarantined == 1, "\(second.users)")
        #expect(second.failures.first?.quarantined == true)
        let quarantined = try await h.store.read { db in
            try db.value(Int.self, "SELECT count(*) FROM target_objects WHERE quarantined_at IS NOT NULL AND failures = 2")
        }
        #expect(quarantined == 1)

        let before = try await h.proxy!.requests().count
        let third = await h.push(configuration)
        #expect(third.status == .applied && third.skippedQuarantined == 1 && third.failed == 0)
        let after = try await h.proxy!.requests().dropFirst(before)
        #expect(!after.contains { $0.status == 500 }, "a quarantined user is left alone")
        let retried = await h.push(configuration, .init(retryQuarantined: true))
        #expect(retried.status == .partial && retried.failed == 1)
    }

    @Test("the push guard stops a mass disable before anything is sent; a dry run lists the requests and sends none; --force applies")
    func guardAndDryRun() async throws {
        let h = try await PushHarness.start(users: 20, proxy: { try await SCIMFaultProxy.start(upstream: $0) })
        let configuration = try h.configuration(target: "    maxDeletions: 2")
        #expect(await h.syncAll(configuration).status == .applied)
        #expect(await h.push(configuration).users.created == 20)
        try await h.sync.modify((11...15).map { "dn: \(Slapd.userDN($0))\nchangetype: delete\n" }.joined(separator: "\n") + "\n")
        #expect(await h.syncAll(configuration).users.deactivated == 5)
        let writesBefore = try await h.writes().count

        let stopped = await h.push(configuration)
        #expect(stopped.status == .stopped && stopped.errorKind == .guardStop, "\(stopped.status)")
        #expect(stopped.error?.contains("disable 5 of the 20") == true, "\(stopped.error ?? "")")
        let dry = await h.push(configuration, .init(dryRun: true, force: true))
        #expect(dry.status == .planned && dry.users.deactivated == 5)
        #expect(dry.planned.count == 5 && dry.planned.allSatisfy { $0.method == "PATCH" && $0.body?.contains("\"active\"") == true })
        #expect(try await h.writes().count == writesBefore, "neither sent a write")
        #expect(try await h.serverUsers().byName.values.allSatisfy { $0["active"] as? Bool == true })

        let forced = await h.push(configuration, .init(force: true))
        #expect(forced.status == .applied && forced.users.deactivated == 5)
        try await h.expectServerMatchesStore()
    }

    @Test("a server without PATCH (ServiceProviderConfig) gets a GET and a PUT that keeps what the application added")
    func putWithoutPatch() async throws {
        let config: [String: Any] = [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": ["supported": false], "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
            "filter": ["supported": true, "maxResults": 200], "changePassword": ["supported": false],
            "sort": ["supported": false], "etag": ["supported": true],
        ]
        let h = try await PushHarness.start(users: 10, serviceProviderConfig: config, proxy: { try await SCIMFaultProxy.start(upstream: $0) })
        let configuration = try h.configuration()
        #expect(await h.syncAll(configuration).status == .applied)
        #expect(await h.push(configuration).users.created == 10)
        let one = try #require(try await h.serverUsers().byName["user00001"])
        try await h.server.send([["method": "PUT", "path": "/Users/\(one["id"] as! String)", "body": one.merging(["title": "Boss"]) { $1 }]])
        try await h.sync.modify("dn: \(Slapd.userDN(1))\nchangetype: modify\nreplace: mail\nmail: moved@example.com\n\n")
        #expect(await h.syncAll(configuration).users.updated == 1)
        let updated = await h.push(configuration)
        #expect(updated.status == .applied && updated.users.updated == 1, "\(updated.error ?? "")")
        let writes = try await h.writes()
        #expect(writes.contains { $0.hasPrefix("PUT /v2/Users/") && $0.hasSuffix(" 200") } && !writes.contains { $0.hasPrefix("PATCH") }, "\(writes.suffix(3))")
        try await h.expectServerMatchesStore()
        #expect(try await h.serverUsers().byName["user00001"]?["title"] as? String == "Boss")
    }
}

extension SyncHarness {
    /// The groups section of the harness's source (groupOfNames under ou=groups, nested).
    static let pushGroupsSection = """
            groups:
              base: ou=groups,dc=example,dc=com
              filter: "(objectClass=groupOfNames)"
              idAttribute: entryUUID
              tree: true
        """
}

extension PushHarness {
    /// The server's groups by displayName: their members' userNames and child groups' names.
    func serverGroups() async throws -> [String: Set<String>] {
        let users = try await server.all("Users")
        let groups = try await server.all("Groups")
        var names: [String: String] = [:]
        for user in users { names[user["id"] as? String ?? ""] = user["userName"] as? String }
        for group in groups { names[group["id"] as? String ?? ""] = "group:" + (group["displayName"] as? String ?? "") }
        var result: [String: Set<String>] = [:]
        for group in groups {
            let full = try await server.get("/Groups/\(group["id"] as? String ?? "")")
            let members = (full["members"] as? [[String: Any]] ?? []).map { names[$0["value"] as? String ?? ""] ?? "unknown:\($0["value"] ?? "")" }
            result[group["displayName"] as? String ?? ""] = Set(members)
        }
        return result
    }

    /// The store's groups of the source as the target should have them: nested (direct users and
    /// child groups) or flattened (users through nesting).
    func storeGroups(nested: Bool, include: String? = nil) async throws -> [String: Set<String>] {
        try await store.read { db in
            var result: [String: Set<String>] = [:]
            for row in try db.rows("SELECT name FROM groups WHERE state = 'active'") { result[row["name"]] = [] }
            let members = nested ? """
                SELECT g.name AS g, u.username AS m FROM group_members x JOIN groups g ON g.id = x.group_id JOIN users u ON u.id = x.user_id
                WHERE g.state = 'active' AND u.state = 'active'
                UNION ALL
                SELECT g.name, 'group:' || c.name FROM group_parents p JOIN groups g ON g.id = p.parent_id JOIN groups c ON c.id = p.group_id
                WHERE g.state = 'active' AND c.state = 'active'
                """ : """
                SELECT g.name AS g, u.username AS m FROM effective_group_members x JOIN groups g ON g.id = x.group_id JOIN users u ON u.id = x.user_id
                WHERE g.state = 'active' AND u.state = 'active'
                """
            for row in try db.rows(members) { result[row["g"], default: []].insert(row["m"]) }
            if let include {
                let pattern = try NSRegularExpression(pattern: include)
                result = result.filter { pattern.firstMatch(in: $0.key, range: NSRange($0.key.startIndex..., in: $0.key)) != nil }
                    .mapValues { Set($0.filter { !$0.hasPrefix("group:") || pattern.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }) }
            }
            return result
        }
    }
}

@Suite("Push groups to a SCIM target (scim2-server)")
struct SCIMGroupPushTests {
    @Test("nested groups pushed with their members and child groups; a member removed, a group renamed, a group deleted in the directory: the server follows", arguments: StoreKind.allCases)
    func nestedGroups(store: StoreKind) async throws {
        let h = try await PushHarness.start(users: 12, store: store, extraLDIF: Slapd.sampleGroupTree, proxy: { try await SCIMFaultProxy.start(upstream: $0) })
        let configuration = try h.configuration(target: "    groups: { membersPerRequest: 2 }",
                                                options: "      maxDeactivations: 100%\n" + SyncHarness.pushGroupsSection)
        let synced = await h.syncAll(configuration)
        #expect(synced.status == .applied && synced.groups?.created == 10, "\(synced.error ?? "")")
        let first = await h.push(configuration)
        #expect(first.status == .applied, "\(first.error ?? "") \(first.notes)")
        #expect(first.groups?.created == 10 && first.membersAdded > 0, "\(String(describing: first.groups))")
        let pushed = try await h.serverGroups()
        let stored = try await h.storeGroups(nested: true)
        #expect(pushed == stored)
        #expect(pushed["l1"] == ["user00001", "group:l2", "group:shared"])
        // Batches of 2: no PATCH carries more than two members.
        let patches = try await h.proxy!.requests().filter { $0.method == "PATCH" && $0.path.hasPrefix("/v2/Groups/") }
        #expect(patches.count >= 8)

        try await h.sync.modify("""
            dn: cn=l1,ou=groups,dc=example,dc=com
            changetype: modify
            delete: member
            member: \(Slapd.userDN(1))
            -
            add: member
            member: \(Slapd.userDN(11))

            dn: cn=l5,ou=groups,dc=example,dc=com
            changetype: modrdn
            newrdn: cn=l5-renamed
            deleteoldrdn: 1

            dn: cn=other,ou=groups,dc=example,dc=com
            changetype: delete

            """)
        #expect(await h.syncAll(configuration).status == .applied)
        let second = await h.push(configuration, .init(force: true))
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(second.groups?.updated == 1 && second.groups?.deactivated == 1 && second.membersAdded == 1, "\(String(describing: second.groups)) +\(second.membersAdded) −\(second.membersRemoved)")
        let server = try await h.serverGroups()
        var expected = try await h.storeGroups(nested: true)
        expected["other"] = []   // disabled: emptied, kept (onDeactivate: disable)
        #expect(server == expected)
        #expect(server["l1"]?.contains("user00011") == true && server["l1"]?.contains("user00001") == false)
        #expect(server["l5-renamed"] != nil && server["l5"] == nil)

        let third = await h.push(configuration)
        #expect(third.requests <= 4 && third.membersAdded == 0 && third.membersRemoved == 0, "nothing to send: \(third.requests) requests")
    }

    @Test("flattened groups list their users through nesting; include picks the groups; onDeactivate: delete deletes a group and a user gone from the directory")
    func flattenedGroups() async throws {
        let h = try await PushHarness.start(users: 12, extraLDIF: Slapd.sampleGroupTree)
        let configuration = try h.configuration(target: """
                groups: { include: "^l[0-9]", nesting: flatten }
                onDeactivate: delete
                maxDeletions: 50%
            """, options: "      maxDeactivations: 100%\n" + SyncHarness.pushGroupsSection)
        #expect(await h.syncAll(configuration).status == .applied)
        let first = await h.push(configuration)
        #expect(first.status == .applied && first.groups?.created == 5, "\(first.error ?? "") \(String(describing: first.groups))")
        let server = try await h.serverGroups()
        let expected = try await h.storeGroups(nested: false, include: "^l[0-9]")
        #expect(server == expected)
        #expect(server["l1"] == ["user00001", "user00002", "user00003", "user00004", "user00005", "user00006"])

        try await h.sync.modify("dn: cn=l5,ou=groups,dc=example,dc=com\nchangetype: delete\n\ndn: \(Slapd.userDN(12))\nchangetype: delete\n\n")
        #expect(await h.syncAll(configuration).status == .applied)
        let second = await h.push(configuration)
        #expect(second.groups?.deleted == 1 && second.users.deleted == 1, "\(second.error ?? "") \(second.users)")
        #expect(try await h.serverUsers().byName["user00012"] == nil, "onDeactivate: delete deletes the user")
        let after = try await h.serverGroups()
        #expect(after["l5"] == nil && after["l4"] == ["user00004"] && after["l1"]?.contains("user00005") == false)
    }
}
