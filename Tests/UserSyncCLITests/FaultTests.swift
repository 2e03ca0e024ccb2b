import DirectoryFixtures
import Foundation
import Testing

/// Faults of the machine itself, made for real: a full disk (a small tmpfs, mounted by the
/// test as root) under SQLite's temporary files.
@Suite("usersync under faults")
struct FaultTests {
    @Test("a full disk while the records are staged: the error says the store's disk is full (not that the source failed), nothing changes, the run is marked failed")
    func diskFullWhileStaging() async throws {
        let (directory, config, csv) = try SourceCommandTests.setUp("employee_id;login;mail;groups\nE1;alice;alice@example.com;Staff\n")
        #expect(try await UserSyncBinary.run(["sync", "--config", config, "-q"]).status == 0)
        let store = directory.appendingPathComponent("users.db").path
        let before = try await Shell.run("sqlite3", [store, "SELECT * FROM users ORDER BY id"]).output

        // 20,000 rows: several MiB of staged records, more than SQLite's page cache holds, so
        // the temporary tables spill to their file in SQLITE_TMPDIR: a 512 KiB tmpfs.
        var rows = "employee_id;login;mail;groups\n"
        for i in 1...20_000 { rows += "E\(i);user\(i);user\(i)@example.com;Staff|Group\(i % 50)\n" }
        try rows.write(toFile: csv, atomically: true, encoding: .utf8)
        let full = directory.appendingPathComponent("full").path
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        let mount = try await Shell.run("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", full], allowFailure: true)
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.output)")
        defer { _ = try? Shell.run("umount", [full], allowFailure: true) }

        let result = try await UserSyncBinary.run(["sync", "--config", config, "--json"], environment: ["SQLITE_TMPDIR": full])
        #expect(result.status == 1, "\(result.output)")
        let error = result.json?["error"] as? String ?? ""
        #expect(error.contains("the store failed while the source was read (after "), "\(error)")
        #expect(error.contains("is full: free space and run again"), "\(error)")
        #expect(!error.contains("reading the source failed"))
        #expect(result.json?["errorKind"] as? String == "store")
        await #expect(try Shell.run("sqlite3", [store, "SELECT * FROM users ORDER BY id"]).output == before, "nothing changed")
        let runs = try await Shell.run("sqlite3", [store, "SELECT status FROM runs ORDER BY id"]).output
        #expect(runs == "applied\nfailed\n", "the failed run is recorded as failed, not left running: \(runs)")
    }

    @Test("a damaged store file: the error says the store is damaged and what to do, not that the source failed")
    func damagedStore() async throws {
        var rows = "employee_id;login;mail;groups\n"
        for i in 1...5_000 { rows += "E\(i);user\(i);user\(i)@example.com;Staff\n" }
        let (directory, config, _) = try SourceCommandTests.setUp(rows)
        #expect(try await UserSyncBinary.run(["sync", "--config", config, "-q"]).status == 0)
        let store = directory.appendingPathComponent("users.db").path
        _ = try await Shell.run("sqlite3", [store, "PRAGMA wal_checkpoint(TRUNCATE)"])
        // One byte over the whole root page of the table every run reads first (the fingerprints
        // of the users synced), and of the users table: b-tree pages that no longer parse.
        let pageSize = await UInt64(try Shell.run("sqlite3", [store, "PRAGMA page_size"]).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4096
        let roots = try await Shell.run("sqlite3", [store, "SELECT rootpage FROM sqlite_master WHERE name IN ('sync_fingerprints', 'users')"]).output
            .split(separator: "\n").compactMap { UInt64($0) }
        try #require(roots.count == 2, "\(roots)")
        let handle = try #require(FileHandle(forUpdatingAtPath: store))
        for root in roots {
            try handle.seek(toOffset: (root - 1) * pageSize)
            try handle.write(contentsOf: Data(repeating: 0xAB, count: Int(pageSize)))
        }
        try handle.close()

        let result = try await UserSyncBinary.run(["sync", "--config", config, "--json"])
        #expect(result.status == 1, "\(result.output)")
        let error = result.json?["error"] as? String ?? ""
        #expect(result.json?["errorKind"] as? String == "store", "\(result.output)")
        #expect(error.contains("the store file is damaged: check it with sqlite3 FILE 'PRAGMA integrity_check' and restore it from a backup"), "\(error)")
        #expect(!error.contains("reading the source failed"), "\(error)")
    }
}
