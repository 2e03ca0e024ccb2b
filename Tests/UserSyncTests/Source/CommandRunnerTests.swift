import Foundation
import Testing
@testable import UserSync

@Suite("Command source: running the program")
struct CommandRunnerTests {
    static func output() -> String { NSTemporaryDirectory() + "/usersync-command-\(UUID().uuidString).out" }

    @Test("the program's standard output goes to the file; environment and working directory are its own")
    func runs() async throws {
        var settings = CommandSettings(arguments: ["/bin/sh", "-c", "printf 'id,login\\n1,%s\\n' \"$WHO\"; pwd >&2"])
        settings.environment = ["WHO": "ann"]
        settings.workingDirectory = "/tmp"
        let file = Self.output()
        defer { unlink(file) }
        try await CommandRunner.run(settings, output: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "id,login\n1,ann\n")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a non-zero exit, a signal, a timeout and a program that is not there fail with what happened and stderr's tail")
    func failures() async throws {
        let file = Self.output()
        defer { unlink(file) }
        await #expect { try await CommandRunner.run(CommandSettings(arguments: ["/bin/sh", "-c", "echo 'token expired' >&2; exit 3"]), output: file) }
            throws: { error in
                let failure = error as? CommandSourceError
                return failure?.kind == .failed && failure!.message.contains("exited with status 3") && failure!.message.contains("token expired")
            }
        await #expect { try await CommandRunner.run(CommandSettings(arguments: ["/bin/sh", "-c", "kill -9 $$"]), output: file) }
            throws: { ($0 as? CommandSourceError)?.message.contains("killed by signal 9") == true }
        // The bound below only tells "ended by the 1 s timeout" from "ran its 300 s", with room for
        // a CI machine where a test can wait half a minute for a thread of the pool.
        var hang = CommandSettings(arguments: ["/bin/sh", "-c", "echo started >&2; sleep 300"])
        hang.timeout = .seconds(1)
        let started = ContinuousClock.now
        await #expect { try await CommandRunner.run(hang, output: file) }
            throws: { ($0 as? CommandSourceError)?.kind == .timeout && "\($0)".contains("started") }
        #expect(ContinuousClock.now - started < .seconds(100))
        await #expect { try await CommandRunner.run(CommandSettings(arguments: ["no-such-program-here"]), output: file) }
            throws: { ($0 as? CommandSourceError)?.kind == .cannotStart }
        var shell = CommandSettings(arguments: ["echo a | tr a b"])
        shell.shell = true
        try await CommandRunner.run(shell, output: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "b\n")
    }
}
