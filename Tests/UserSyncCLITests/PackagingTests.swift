import DirectoryFixtures
import Foundation
import Testing

/// The container image, the compose demo, the systemd units and `make install`, checked
/// without a container engine: hadolint (PyPI), docker-compose's own validation (Debian),
/// systemd-analyze verify, and an install into a scratch root. Each checker is first shown a
/// broken file, so that a pass means something.
@Suite("Packaging")
struct PackagingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func run(_ program: String, _ arguments: [String], in directory: String? = nil) async throws -> (status: Int32, output: String) {
        try await offThePool {
            if let directory {
                return try Shell.run("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory, program] + arguments, allowFailure: true)
            }
            return try Shell.run(program, arguments, allowFailure: true)
        }
    }

    @Test("the Dockerfiles pass hadolint with no finding")
    func dockerfiles() async throws {
        let hadolint = Self.path(".build-venv/bin/hadolint")
        guard FileManager.default.isExecutableFile(atPath: hadolint) else {
            throw FixtureError("hadolint is not installed: run scripts/install-deps.sh --tests (it installs it into .build-venv)")
        }
        let broken = try Shell.temporaryDirectory("usersync-hadolint").appendingPathComponent("Dockerfile").path
        try "FROM debian:bookworm-slim\nRUNN echo\n".write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try await Self.run(hadolint, [broken]).status != 0)

        let result = try await Self.run(hadolint, [Self.path("docker/Dockerfile"), Self.path("docker/demo-directory/Dockerfile")])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "\(result.output)")
        let dockerfile = try String(contentsOfFile: Self.path("docker/Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("FROM debian:bookworm-slim"))
        #expect(dockerfile.contains("USER 10001:10001"))
        #expect(dockerfile.contains("CMD [\"serve\""))
    }

    @Test("the compose file validates, and its usersync configuration loads")
    func compose() async throws {
        let directory = try Shell.temporaryDirectory("usersync-compose")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let broken = directory.appendingPathComponent("compose.yaml").path
        try "services:\n  a:\n    image: x\n    ports: 5\n".write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try await Self.run("docker-compose", ["-f", broken, "config", "-q"]).status != 0)

        let result = try await Self.run("docker-compose", ["-f", Self.path("docker/compose.yaml"), "config"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("dockerfile: docker/Dockerfile"))
        #expect(result.output.contains("condition: service_healthy"))

        let check = try await UserSyncBinary.run(["mapping", "check", "--offline", "--config", Self.path("docker/demo/usersync.yaml")])
        #expect(check.status == 0, "\(check.output)")
        let schema = try await Self.run("python3", [Self.path("scripts/check-config-schema.py"), Self.path("schemas/usersync.schema.json"),
                                                    Self.path("docker/demo/usersync.yaml")])
        #expect(schema.status == 0, "\(schema.output)")
    }

    @Test("the systemd units pass systemd-analyze verify")
    func systemdUnits() async throws {
        let directory = try Shell.temporaryDirectory("usersync-units")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let broken = directory.appendingPathComponent("broken.service").path
        try "[Service]\nExecStart=relative/path\n".write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try await Self.run("systemd-analyze", ["verify", broken]).status != 0)

        // verify checks that ExecStart exists: the units point at the built binary here.
        var units: [String] = []
        for name in ["usersync.service", "usersync-sync.service", "usersync-sync.timer"] {
            let text = try String(contentsOfFile: Self.path("docker/systemd/\(name)"), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/usersync", with: UserSyncBinary.path)
            let unit = directory.appendingPathComponent(name).path
            try text.write(toFile: unit, atomically: true, encoding: .utf8)
            units.append(unit)
        }
        let result = try await Self.run("systemd-analyze", ["verify"] + units)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "\(result.output)")
        let service = try String(contentsOfFile: units[0], encoding: .utf8)
        #expect(service.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(service.contains("serve"))
    }

    @Test("make install puts the binary and bash, zsh and fish completions under DESTDIR")
    func makeInstall() async throws {
        let destination = try Shell.temporaryDirectory("usersync-install")
        Cleanup.atExit { try? FileManager.default.removeItem(at: destination) }
        let result = try await Self.run("make", ["install", "DESTDIR=\(destination.path)", "PREFIX=/usr", "USERSYNC=\(UserSyncBinary.path)"],
                                        in: Self.root.path)
        #expect(result.status == 0, "\(result.output)")
        let installed = destination.appendingPathComponent("usr/bin/usersync").path
        #expect(FileManager.default.isExecutableFile(atPath: installed))
        let bash = try String(contentsOfFile: destination.appendingPathComponent("usr/share/bash-completion/completions/usersync").path, encoding: .utf8)
        #expect(bash.contains("serve"))
        #expect(bash.contains("test-bind"))
        #expect(FileManager.default.fileExists(atPath: destination.appendingPathComponent("usr/share/zsh/site-functions/_usersync").path))
        #expect(FileManager.default.fileExists(atPath: destination.appendingPathComponent("usr/share/fish/vendor_completions.d/usersync.fish").path))
        let units = try await Self.run("make", ["install-systemd", "DESTDIR=\(destination.path)"], in: Self.root.path)
        #expect(units.status == 0, "\(units.output)")
        #expect(FileManager.default.fileExists(atPath: destination.appendingPathComponent("etc/systemd/system/usersync-sync.timer").path))
    }
}
