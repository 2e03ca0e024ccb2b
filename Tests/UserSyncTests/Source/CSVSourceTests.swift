import DirectoryFixtures
import Foundation
import GRDB
import Logging
import Testing
@testable import UserSync

/// A CSV file written by the test, a real SQLite store, and the source configured through the
/// real loader, as an administrator would write it.
struct CSVHarness {
    let directory: URL
    let store: UserStore

    init() throws {
        directory = try Shell.temporaryDirectory("usersync-csv")
        let directory = self.directory
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        store = try UserStore(path: directory.appendingPathComponent("users.db").path)
    }

    var csvPath: String { directory.appendingPathComponent("people.csv").path }

    func write(_ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: csvPath))
    }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// The source; `extra` are YAML lines at the source's level (4 spaces).
    func source(_ extra: String = "", mapping: String? = nil, options: String = "") throws -> SourceSettings {
        let text = """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: contractors
                type: csv
                path: \(csvPath)
                idColumn: employee_id
            \(extra)
                mapping:
            \(mapping ?? "      username: { from: login, lowercase: true }\n      email: mail\n      firstName: first\n      lastName: last")
                options:
                  keepRecords: 3
            \(options)
            """
        return try ConfigLoader.parse(text, file: "test.yaml").sources[0]
    }

    /// Any source, from its YAML lines at the source's level (4 spaces), without a mapping default.
    func parse(_ sourceYAML: String) throws -> SourceSettings {
        let text = """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
            \(sourceYAML)
            """
        return try ConfigLoader.parse(text, file: "test.yaml").sources[0]
    }

    func sync(_ source: SourceSettings, force: Bool = false) async -> SyncReport {
        await SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                         lockTimeout: .seconds(5)).run(source, force: force)
    }

    func users() async throws -> [String: UserRecord] {
        Dictionary(uniqueKeysWithValues: try await store.users().map { ($0.username, $0) })
    }

    /// Every table a run writes, as text rows, to show that a failed run changed nothing.
    func snapshot() async throws -> [String] {
        try await store.read { db in
            var rows: [String] = []
            for table in ["users", "groups", "group_members", "group_parents", "effective_group_members"] {
                rows += try db.rows("SELECT * FROM \(table) ORDER BY 1, 2").map { "\(table) \($0.values)" }
            }
            return rows
        }
    }
}

@Suite("CSV source")
struct CSVSourceTests {
    @Test("a spreadsheet's export: UTF-8 BOM, semicolons, CRLF, quoted delimiters, quotes and line breaks")
    func spreadsheetExport() async throws {
        let h = try CSVHarness()
        let rows = [
            "employee_id;login;first;last;mail",
            "E1;Alice;Alice;\"Smith; Jr.\";alice@example.com",
            "E2;bob;Bob;\"O\"\"Brien\";bob@example.com",
            "E3;carol;\"Carol\r\nAnne\";Jones;carol@example.com",
            "E4;dave;Dave;Müller;dave@example.com",
        ]
        try h.write([0xEF, 0xBB, 0xBF] + Array((rows.joined(separator: "\r\n") + "\r\n").utf8))
        let source = try h.source("    delimiter: \";\"")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 4)
        let users = try await h.users()
        #expect(users["alice"]?[.lastName] == "Smith; Jr.")
        #expect(users["alice"]?.externalId == "E1")  // the BOM is not part of the first column's name
        #expect(users["bob"]?[.lastName] == "O\"Brien")
        #expect(users["carol"]?[.firstName] == "Carol\r\nAnne")
        #expect(users["dave"]?[.lastName] == "Müller")
        #expect(users["alice"]?.dn == nil)  // a line number is not a DN

        // The change records name the line each row starts on (carol's row spans lines 4-5).
        let changes = try await h.store.changes(run: report.runId!)
        #expect(changes.first { $0.username == "dave" }?.record == "\(h.csvPath):6")
        #expect(changes.first { $0.username == "carol" }?.record == "\(h.csvPath):4")

        // Same file, rows moved and one added above: nothing changes but the new user.
        let moved = [rows[0], "E5;erin;Erin;Stone;erin@example.com", rows[4], rows[3], rows[2], rows[1]]
        try h.write([0xEF, 0xBB, 0xBF] + Array((moved.joined(separator: "\r\n") + "\r\n").utf8))
        let again = await h.sync(source)
        #expect(again.status == .applied)
        #expect(again.users.created == 1)
        #expect(again.users.updated == 0)
        #expect(again.users.unchanged == 4)
    }

    @Test("tab- and comma-separated files, LF line ends, a last line without a line break, Latin-1")
    func delimitersAndEncodings() async throws {
        let h = try CSVHarness()
        try h.write("employee_id\tlogin\tfirst\tlast\tmail\nT1\ttina\tTina\t\"Tab, Comma\"\ttina@example.com\nT2\ttom\tTom\tTail\ttom@example.com")
        var report = await h.sync(try h.source("    delimiter: tab"))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(try await h.users()["tina"]?[.lastName] == "Tab, Comma")
        #expect(try await h.users()["tom"]?[.lastName] == "Tail")

        // Latin-1: é is one byte, 0xE9.
        try h.write(Array("employee_id,login,first,last,mail\nT1,tina,Tina,".utf8) + [0x44, 0xE9, 0x6A, 0xE0] + Array(",tina@example.com\nT2,tom,Tom,Tail,tom@example.com\n".utf8))
        report = await h.sync(try h.source("    encoding: latin1"))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(try await h.users()["tina"]?[.lastName] == "Déjà")
        #expect(report.users.updated == 1)

        // The same bytes read as UTF-8: refused with the place and the way out.
        let before = try await h.snapshot()
        report = await h.sync(try h.source())
        #expect(report.status == .failed)
        #expect(report.errorKind == .malformed)
        #expect(report.error?.contains("\(h.csvPath):2:15:") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("encoding: latin1") == true)
        #expect(try await h.snapshot() == before)
    }

    @Test("a broken file (unbalanced quote, wrong field count, stray quote) names file, line and column and changes nothing")
    func brokenFiles() async throws {
        let h = try CSVHarness()
        try h.write("employee_id,login,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\nE2,bob,Bob,Brown,bob@example.com\n")
        let source = try h.source()
        #expect(await h.sync(source).status == .applied)
        let before = try await h.snapshot()
        #expect(before.count == 2)

        let cases: [(String, String)] = [
            // A quote opened on line 3, column 12, never closed: the rest of the file would be one field.
            ("employee_id,login,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\nE2,bob,Bob,\"Brown,bob@example.com\n",
             "\(h.csvPath):3:12: the quoted field opened here has no closing quote"),
            ("employee_id,login,first,last,mail\nE1,alice,Alice,Smith\nE2,bob,Bob,Brown,bob@example.com\n",
             "\(h.csvPath):2: 4 fields where the header has 5"),
            ("employee_id,login,first,last,mail\nE1,alice,Alice,\"Smith\"x,alice@example.com\n",
             "\(h.csvPath):2:23: a character after the closing quote of the field opened at line 2 column 16"),
        ]
        for (text, expected) in cases {
            try h.write(text)
            let report = await h.sync(source)
            #expect(report.status == .failed)
            #expect(report.errorKind == .malformed)
            #expect(report.error?.contains(expected) == true, "\(report.error ?? "")")
            #expect(report.error?.contains("nothing was changed") == true)
            #expect(try await h.snapshot() == before)
        }

        // A column the mapping reads is missing: named, with the header and the nearest name.
        try h.write("employee_id,logon,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\n")
        let report = await h.sync(source)
        #expect(report.status == .failed)
        #expect(report.error?.contains("no column 'login'") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("did you mean 'logon'") == true)
        #expect(try await h.snapshot() == before)

        // A missing file: the run fails as unreachable, nothing changes.
        try FileManager.default.removeItem(atPath: h.csvPath)
        let missing = await h.sync(source)
        #expect(missing.errorKind == .unreachable)
        #expect(missing.error?.contains("cannot open the file") == true)
        #expect(try await h.snapshot() == before)
    }

    @Test("rows that fail requiredFields are skipped with their line; more skips than maxSkipped stop the run; an empty file trips the guard")
    func skipsAndGuard() async throws {
        let h = try CSVHarness()
        try h.write("employee_id,login,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\nE2,bob,Bob,Brown,\n\nE3,,Carl,Cole,carl@example.com\n,dan,Dan,Dorn,dan@example.com\n")
        // Three of four rows skipped: past the default maxSkipped (10%, at least one), the run stops.
        let strict = await h.sync(try h.source(options: "      requiredFields: [username, email]"))
        #expect(strict.status == .stopped && strict.errorKind == .guardStop)
        #expect(strict.error?.contains("3 of 4 records would be skipped, more than the 1 allowed (maxSkipped: 10% of 4 records read)") == true,
                "\(strict.error ?? "")")
        #expect(try await h.users().isEmpty, "nothing written")
        let source = try h.source(options: "      requiredFields: [username, email]\n      maxSkipped: 3")
        let report = await h.sync(source)
        #expect(report.status == .applied)
        #expect(report.users.created == 1)
        #expect(report.users.skipped == 3)
        let skips = try await h.store.changes(run: report.runId!).filter { $0.action == .skip }
        #expect(skips.map(\.record) == ["\(h.csvPath):3", "\(h.csvPath):5", "\(h.csvPath):6"])  // line 4 is blank
        #expect(skips[0].newValue?.contains("no email") == true)
        #expect(skips[1].newValue?.contains("no username") == true)
        #expect(skips[2].newValue?.contains("no employee_id") == true)

        // A header and no rows: every user would be deactivated; the guard refuses.
        try h.write("employee_id,login,first,last,mail\n")
        let empty = await h.sync(source)
        #expect(empty.status == .stopped)
        #expect(empty.error?.contains("no rows") == true, "\(empty.error ?? "")")
        #expect(try await h.users()["alice"]?.state == "active")
    }

    @Test("a duplicate stable id (a typo in an export) fails the run with both lines; the user whose id went missing is not deactivated")
    func duplicateStableID() async throws {
        let h = try CSVHarness()
        try h.write("employee_id,login,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\nE2,bob,Bob,Brown,bob@example.com\nE3,carl,Carl,Cole,carl@example.com\n")
        let source = try h.source()
        #expect(await h.sync(source).status == .applied)
        let before = try await h.snapshot()
        // carl's row now carries bob's id.
        try h.write("employee_id,login,first,last,mail\nE1,alice,Alice,Smith,alice@example.com\nE2,bob,Bob,Brown,bob@example.com\nE2,carl,Carl,Cole,carl@example.com\n")
        let report = await h.sync(source)
        #expect(report.status == .failed && report.errorKind == .malformed, "\(report.error ?? "")")
        #expect(report.error?.contains("two records have the same employee_id 'E2': \(h.csvPath):3 and \(h.csvPath):4") == true,
                "\(report.error ?? "")")
        #expect(try await h.snapshot() == before, "nothing changed")
        #expect(try await h.users()["carl"]?.state == "active")
    }

    @Test("a groups column with paths builds the group tree; users leaving a group and disabled rows follow")
    func groupPaths() async throws {
        let h = try CSVHarness()
        try h.write("""
            employee_id,login,first,last,mail,groups,status
            E1,alice,Alice,Smith,alice@example.com,Sales/EMEA/Paris|Staff,active
            E2,bob,Bob,Brown,bob@example.com, Sales / EMEA ,active
            E3,carol,Carol,Cole,carol@example.com,,inactive

            """)
        let source = try h.source("    groupsColumn: { column: groups, separator: \"|\", pathSeparator: \"/\" }",
                                  options: "      disabledWhen: { attribute: status, values: [inactive, left] }")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.groups?.created == 4)
        let users = try await h.users()
        #expect(users["carol"]?.state == "deactivated")
        let paris = try #require(try await h.store.groups(named: "Paris").first)
        #expect(paris.dn == "Sales/EMEA/Paris")
        let emea = try #require(try await h.store.groups(named: "EMEA").first)
        let sales = try #require(try await h.store.groups(named: "Sales").first)
        let tree = try await h.store.groupTree(source: "contractors")
        #expect(tree.parents(of: paris.id) == [emea.id])
        #expect(tree.parents(of: emea.id) == [sales.id])
        #expect(try await h.store.members(ofGroup: sales.id, effective: false) == [])
        #expect(try await h.store.members(ofGroup: sales.id, effective: true) == ["alice", "bob"])
        #expect(try await h.store.members(ofGroup: emea.id, effective: false) == ["bob"])
        #expect(try await h.store.groups(ofUser: users["alice"]!.id).direct == ["Paris", "Staff"])

        // Alice leaves Paris for Staff only, Paris disappears from the file, Carol comes back.
        try h.write("""
            employee_id,login,first,last,mail,groups,status
            E1,alice,Alice,Smith,alice@example.com,Staff,active
            E2,bob,Bob,Brown,bob@example.com,Sales/EMEA,active
            E3,carol,Carol,Cole,carol@example.com,Staff,Active

            """)
        let again = await h.sync(source)
        #expect(again.status == .applied, "\(again.error ?? "")")
        #expect(again.users.reactivated == 1)
        #expect(again.groups?.deactivated == 1)
        #expect(try await h.store.groups(named: "Paris").first?.state == "deactivated")
        #expect(try await h.store.members(ofGroup: sales.id, effective: true) == ["bob"])
        let staff = try #require(try await h.store.groups(named: "Staff").first)
        #expect(try await h.store.members(ofGroup: staff.id, effective: false) == ["alice", "carol"])

        // The run kept its records with their locators: rows by file and line, groups by path;
        // a CSV user (no DN) finds their last record by their stable id, never a group's.
        let runId = try #require(again.runId)
        let kept = try #require(try await h.store.records(run: runId))
        #expect(kept.prefix(3).map(\.locator) == (2...4).map { .row(file: h.csvPath, line: $0) })
        #expect(kept.contains { $0.locator == .groupPath("Sales/EMEA") })
        let carol = try #require(try await h.users()["carol"])
        #expect(carol.dn == nil)
        let last = try #require(try await h.store.lastRecord(of: carol, stableIDAttribute: source.stableID))
        #expect(last.runId == runId && last.record.locator == .row(file: h.csvPath, line: 4))
        #expect(last.record.string("status") == "Active")
    }

    @Test("the checking stream finds each row's first line and rejects what RFC 4180 forbids", arguments: [
        ("a,b\n1,2\n", [1, 2], nil),
        ("a,b\r\n1,\"x\r\ny\"\r\n3,4", [1, 2, 4], nil),
        ("a,b\r1,2\r", [1, 2], nil),
        ("a,b\n\n1,2\n", [1, 2, 3], nil),
        ("a,b\n1,\"2", [1], "2:3"),
        ("a,b\n1,\"2\"\"\"\n", [1, 2], nil),
        ("a,b\n1,\"2\" \n", [1], "2:6"),
    ] as [(String, [Int], String?)])
    func checkedStream(text: String, lines: [Int], failure: String?) throws {
        let h = try CSVHarness()
        try h.write(text)
        let stream = try CSVCheckedStream(path: h.csvPath, encoding: .utf8, delimiter: ",")
        var buffer = [UInt8](repeating: 0, count: 4096)
        var output: [UInt8] = []
        while stream.hasBytesAvailable {
            let count = stream.read(&buffer, maxLength: buffer.count)
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        if let failure {
            #expect(stream.failure?.description.hasPrefix("\(h.csvPath):\(failure):") == true, "\(String(describing: stream.failure))")
        } else {
            #expect(stream.failure == nil)
            #expect(output == Array(text.utf8))
        }
        var seen: [Int] = []
        for _ in lines { seen.append(stream.takeRowLine()) }
        #expect(seen == lines)
    }

    @Test("a fault ends the checked stream (nothing available, reads of 0), never a failed read: CSV.swift leaks its 64 KiB buffer on one (found by the csv fuzz target)")
    func faultEndsTheStream() throws {
        let h = try CSVHarness()
        // The fuzzer's input: a BOM, a short header, and a character after a closing quote, all in the first chunk.
        try h.write(Array("\u{FEFF}id,a\n1,2,3\n\n4,\"x\"\"y\"z\n".utf8))
        let stream = try CSVCheckedStream(path: h.csvPath, encoding: .utf8, delimiter: ",")
        var buffer = [UInt8](repeating: 0, count: 65_536)
        #expect(stream.read(&buffer, maxLength: buffer.count) == 0)
        #expect(!stream.hasBytesAvailable)
        #expect(stream.failure?.description.hasPrefix("\(h.csvPath):4:9:") == true, "\(String(describing: stream.failure))")
        // Through the file reader: the stream's fault is what is reported.
        #expect {
            _ = try CSVFile(CSVSettings(path: h.csvPath, idColumn: "id"))
        } throws: { error in
            "\(error)".hasPrefix("\(h.csvPath):4:9:")
        }
    }
}
