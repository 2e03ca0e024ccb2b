import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// A `type: command` source running real scripts (written by the test, run without a shell),
/// synced into a real SQLite store through the real loader: one that prints CSV, one that
/// prints JSON lines, one that fails, one that hangs past its timeout and one that prints half
/// a line and exits.
@Suite("Command source")
struct CommandSourceTests {
    /// An executable script in the harness's directory.
    static func script(_ h: CSVHarness, _ name: String, _ body: String) throws -> String {
        let path = h.directory.appendingPathComponent(name).path
        try Shell.writeExecutable("#!/bin/sh\n" + body + "\n", to: path)
        return path
    }

    /// A command source running `program` with `extra` YAML lines at the source's level.
    static func source(_ h: CSVHarness, _ program: String, _ extra: String = "", format: String = "csv",
                       mapping: String = "      username: { from: login, lowercase: true }\n      email: mail\n      firstName: first\n      lastName: last") throws -> SourceSettings {
        try h.parse("""
              - name: hr
                type: command
                command: [\(program), --since, "last run"]
                format: \(format)
            \(extra)
                mapping:
            \(mapping)
            """)
    }

    static let csvScript = """
        # The arguments arrive as given (one of them holds a space), the environment and the
        # working directory are the source's.
        [ "$1" = "--since" ] && [ "$2" = "last run" ] || { echo "bad arguments: $*" >&2; exit 64; }
        echo 'employee_id,login,first,last,mail,groups'
        echo "E1,Alice,Alice,Smith,alice@example.com,$HR_DIVISION/EMEA|Staff"
        echo "E2,bob,Bob,Brown,bob@example.com,$HR_DIVISION"
        cat extra.csv
        echo "exported 3 rows" >&2
        """

    @Test("a script printing CSV: its rows become users and its groups column a group tree; args, environment and working directory as configured")
    func printsCSV() async throws {
        let h = try CSVHarness()
        try "E3,carol,Carol,Cole,carol@example.com,\n".write(to: h.directory.appendingPathComponent("extra.csv"), atomically: true, encoding: .utf8)
        let program = try Self.script(h, "export-csv.sh", Self.csvScript)
        let source = try Self.source(h, program, """
                idColumn: employee_id
                groupsColumn: { column: groups, separator: "|", pathSeparator: "/" }
                workingDirectory: \(h.directory.path)
                environment: { HR_DIVISION: Sales }
                timeout: 30s
            """)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        let users = try await h.users()
        #expect(users.keys.sorted() == ["alice", "bob", "carol"])
        #expect(users["alice"]?.fields[.email] == "alice@example.com")
        #expect(users["carol"]?.externalId == "E3")
        let sales = try #require(try await h.store.groups(named: "Sales").first)
        #expect(try await h.store.members(ofGroup: sales.id, effective: true) == ["alice", "bob"])
        #expect(try await h.store.groups(ofUser: users["alice"]!.id).direct == ["EMEA", "Staff"])

        // A row gone from the output is deactivated, as a file's would be.
        try "".write(to: h.directory.appendingPathComponent("extra.csv"), atomically: true, encoding: .utf8)
        var lenient = source
        lenient.options.maxDeactivations = .absolute(1)
        let second = await h.sync(lenient)
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(try await h.users()["carol"]?.state == "deactivated")
    }

    @Test("a script printing JSON lines: nested paths, a filtered list and disabledWhen map as a json source's; blank lines pass")
    func printsJSONLines() async throws {
        let h = try CSVHarness()
        let program = try Self.script(h, "export.jsonl.sh", #"""
            printf '%s\n' '{"id": 101, "userName": "Dana", "name": {"givenName": "Dana", "familyName": "Diaz"}, "emails": [{"type": "home", "value": "d@home.example"}, {"type": "work", "value": "dana@example.com"}], "active": true}'
            printf '\n'
            printf '%s\n' '{"id": 102, "userName": "eve", "name": {"givenName": "Eve"}, "emails": [], "active": false}'
            printf '%s' '{"id": 103, "userName": "finn", "active": true}'
            """#)
        let source = try Self.source(h, program, """
                idAttribute: id
                options:
                  disabledWhen: { attribute: active, values: ["false"] }
            """, format: "jsonl", mapping: """
                  username: { from: userName, lowercase: true }
                  email: 'emails[type eq "work"].value'
                  firstName: name.givenName
                  lastName: name.familyName
            """)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        let users = try await h.users()
        #expect(users.keys.sorted() == ["dana", "eve", "finn"])
        #expect(users["dana"]?.fields[.email] == "dana@example.com")
        #expect(users["dana"]?.fields[.lastName] == "Diaz")
        #expect(users["dana"]?.externalId == "101")
        #expect(users["eve"]?.state == "deactivated")
        #expect(users["finn"]?.state == "active")
    }

    /// A first good run from `good`, then `bad`: the run fails with `check`ed error, and the
    /// store is as the first run left it.
    static func failsWithNothingChanged(_ h: CSVHarness, good: SourceSettings, bad: SourceSettings,
                                        _ check: (SyncReport) -> Void) async throws {
        let first = await h.sync(good)
        #expect(first.status == .applied, "\(first.error ?? "")")
        let before = try await h.snapshot()
        #expect(!before.isEmpty)
        let report = await h.sync(bad)
        #expect(report.status == .failed)
        check(report)
        #expect(try await h.snapshot() == before)
    }

    @Test("a script that fails: the run fails with its exit status and the tail of its standard error, and nothing changes")
    func fails() async throws {
        let h = try CSVHarness()
        try "".write(to: h.directory.appendingPathComponent("extra.csv"), atomically: true, encoding: .utf8)
        let good = try Self.source(h, try Self.script(h, "export-csv.sh", Self.csvScript),
                                   "    idColumn: employee_id\n    workingDirectory: \(h.directory.path)")
        // Prints a header and a row (a partial export) before it fails.
        let failing = try Self.script(h, "failing.sh", """
            echo 'employee_id,login,first,last,mail,groups'
            echo 'E1,alice,Alice,Smith,alice@example.com,'
            seq 1 500 | sed 's/^/noise line /' >&2
            echo 'HR API answered 401: token expired' >&2
            exit 3
            """)
        try await Self.failsWithNothingChanged(h, good: good, bad: try Self.source(h, failing, "    idColumn: employee_id")) { report in
            let error = report.error ?? ""
            #expect(error.contains("exited with status 3"), "\(error)")
            #expect(error.contains("token expired"), "\(error)")
            #expect(!error.contains("noise line 1\n"), "only the tail of standard error: \(error)")
            #expect(error.utf8.count < 6000)
        }
    }

    @Test("a script that hangs past its timeout is stopped with what it started, and the run fails with nothing changed")
    func hangs() async throws {
        let h = try CSVHarness()
        try "".write(to: h.directory.appendingPathComponent("extra.csv"), atomically: true, encoding: .utf8)
        let good = try Self.source(h, try Self.script(h, "export-csv.sh", Self.csvScript),
                                   "    idColumn: employee_id\n    workingDirectory: \(h.directory.path)")
        // A sleep no other process runs, to look for afterwards.
        let seconds = "300.\(Int.random(in: 1000...9999))"
        let hanging = try Self.script(h, "hang.sh", """
            echo 'employee_id,login,first,last,mail,groups'
            echo 'connecting to hr.example.com' >&2
            sleep \(seconds) &
            wait
            """)
        let started = ContinuousClock.now
        try await Self.failsWithNothingChanged(h, good: good, bad: try Self.source(h, hanging, "    idColumn: employee_id\n    timeout: 2")) { report in
            #expect(report.errorKind == .timeout)
            #expect(report.error?.contains("ran longer than its timeout") == true, "\(report.error ?? "")")
            #expect(report.error?.contains("connecting to hr.example.com") == true, "\(report.error ?? "")")
        }
        // Well short of the 300 s sleep: it was stopped (the margin is for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(90))
        // The script and the sleep it started are gone.
        try await Task.sleep(for: .milliseconds(300))
        let left = try await offThePool { try Shell.run("/bin/sh", ["-c", "pgrep -f '[s]leep \(seconds)' || true"]).output }
        #expect(left.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "still running: \(left)")
    }

    @Test("a script that prints half a line and exits 0: the run fails naming the line, and nothing changes (CSV and JSON lines)")
    func halfALine() async throws {
        let h = try CSVHarness()
        try "".write(to: h.directory.appendingPathComponent("extra.csv"), atomically: true, encoding: .utf8)
        let good = try Self.source(h, try Self.script(h, "export-csv.sh", Self.csvScript),
                                   "    idColumn: employee_id\n    workingDirectory: \(h.directory.path)")
        let half = try Self.script(h, "half.sh", """
            echo 'employee_id,login,first,last,mail,groups'
            echo 'E1,alice,Alice,Smith,alice@example.com,'
            printf 'E2,bob,Bo'
            echo 'write: broken pipe' >&2
            """)
        try await Self.failsWithNothingChanged(h, good: good, bad: try Self.source(h, half, "    idColumn: employee_id")) { report in
            let error = report.error ?? ""
            #expect(report.errorKind == .malformed)
            #expect(error.contains("output of \(half) --since last run:3"), "\(error)")
            #expect(error.contains("does not end with a line break"), "\(error)")
            #expect(error.contains("broken pipe"), "\(error)")
        }

        let halfJSON = try Self.script(h, "half-json.sh", """
            printf '%s\\n' '{"id": "E1", "login": "alice"}'
            printf '%s' '{"id": "E2", "login": "bo'
            """)
        let bad = try Self.source(h, halfJSON, "    idAttribute: id", format: "jsonl",
                                  mapping: "      username: { from: login, lowercase: true }")
        let before = try await h.snapshot()
        let report = await h.sync(bad)
        #expect(report.status == .failed)
        #expect(report.errorKind == .malformed)
        #expect(report.error?.contains(":2: not valid JSON") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("does not end with a line break") == true, "\(report.error ?? "")")
        #expect(try await h.snapshot() == before)
    }

    @Test("config: a command line with spaces needs a list or shell: true; idColumn and idAttribute by format; a program not there says so")
    func configuration() async throws {
        let h = try CSVHarness()
        func problems(_ yaml: String) -> [String] {
            do {
                _ = try h.parse(yaml)
                return []
            } catch let errors as ConfigErrors {
                return errors.problems.map(\.description)
            } catch {
                return ["\(error)"]
            }
        }
        let spaced = problems("""
              - name: hr
                type: command
                command: /usr/bin/hr-export --all
                idColumn: id
                mapping: { username: login }
            """)
        #expect(spaced.count == 1)
        #expect(spaced.first?.contains("test.yaml:6") == true && spaced.first?.contains("shell: true") == true, "\(spaced)")
        let wrongID = problems("""
              - name: hr
                type: command
                command: [/usr/bin/hr-export]
                format: jsonl
                idColumn: id
                mapping: { username: login }
            """)
        #expect(wrongID.first?.contains("idColumn") == true && wrongID.first?.contains("idAttribute") == true, "\(wrongID)")
        let noID = problems("""
              - name: hr
                type: command
                command: [/usr/bin/hr-export]
                mapping: { username: login }
            """)
        #expect(noID.first?.contains("idColumn") == true, "\(noID)")
        #expect(problems("""
              - name: hr
                type: command
                command: "/usr/bin/hr-export --all | tail -n +2"
                shell: true
                idColumn: id
                timeout: 10m
                mapping: { username: login }
            """) == [])

        let missing = try h.parse("""
              - name: hr
                type: command
                command: [/nonexistent/hr-export]
                idColumn: id
                mapping: { username: login }
            """)
        let report = await h.sync(missing)
        #expect(report.status == .failed)
        #expect(report.errorKind == .configuration)
        #expect(report.error?.contains("/nonexistent/hr-export") == true, "\(report.error ?? "")")
    }
}
