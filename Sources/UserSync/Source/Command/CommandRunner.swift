import Foundation

/// How a `type: command` source runs its program.
public struct CommandSettings: Sendable, Equatable {
    /// The program and its arguments, run without a shell; with `shell`, one command line
    /// given to `/bin/sh -c`.
    public var arguments: [String]
    public var shell = false
    public var workingDirectory: String?
    /// Added to the environment usersync runs in (which the program inherits).
    public var environment: [String: String] = [:]
    /// The longest the program may run; it is then stopped (SIGTERM, and SIGKILL 5 s later).
    public var timeout: Duration = .seconds(600)

    public init(arguments: [String]) { self.arguments = arguments }

    /// The command as messages name it.
    public var display: String { shell ? (arguments.first ?? "") : arguments.joined(separator: " ") }
}

/// A program that failed: it could not start, exited non-zero, was killed by a signal, or ran
/// past its timeout. The message ends with the tail of what it wrote on standard error.
public struct CommandSourceError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case cannotStart, failed, timeout, malformed
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }
}

/// Runs a source's program with its standard output going to a file (never into memory:
/// an export can be large), its standard error's last 4 KiB kept for the message, and its
/// timeout enforced. The waiting happens off Swift's cooperative pool.
enum CommandRunner {
    static let stderrTail = 4096

    /// Runs the program; returns when it exited 0 with its output in `file`; throws a
    /// `CommandSourceError` otherwise.
    static func run(_ settings: CommandSettings, output file: String) async throws {
        let process = Process()
        if settings.shell {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", settings.arguments.first ?? ""]
        } else {
            guard let program = settings.arguments.first, let path = resolve(program, in: settings.environment) else {
                throw CommandSourceError(kind: .cannotStart,
                                         message: "command: '\(settings.arguments.first ?? "")' is not an executable file, nor a program on PATH")
            }
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = Array(settings.arguments.dropFirst())
        }
        if let directory = settings.workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.environment = ProcessInfo.processInfo.environment.merging(settings.environment) { $1 }
        guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: file) else {
            throw CommandSourceError(kind: .cannotStart, message: "command: cannot write its output to \(file)")
        }
        defer { try? output.close() }
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let tail = TailBuffer(limit: stderrTail)
        errors.fileHandleForReading.readabilityHandler = { handle in tail.append(handle.availableData) }

        let exited: Void = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: CommandSourceError(kind: .cannotStart, message: "command: \(settings.display) did not start: \(error.localizedDescription)"))
                return
            }
            let pid = process.processIdentifier
            let deadline = DispatchTime.now() + .milliseconds(Int(settings.timeout.components.seconds * 1000 + settings.timeout.components.attoseconds / 1_000_000_000_000_000))
            DispatchQueue.global().asyncAfter(deadline: deadline) {
                guard process.isRunning else { return }
                tail.timedOut = true
                // The program and what it started (a shell's children hold the pipes too):
                // its process group when it leads one, else the program alone.
                if kill(-pid, SIGTERM) != 0 { kill(pid, SIGTERM) }
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
                    if kill(-pid, SIGKILL) != 0, process.isRunning { kill(pid, SIGKILL) }
                }
            }
        }
        _ = exited
        // What is left on standard error, without waiting for a child that still holds it.
        try? await Task.sleep(for: .milliseconds(50))
        errors.fileHandleForReading.readabilityHandler = nil
        let stderr = tail.text
        let suffix = stderr.isEmpty ? " (it wrote nothing on standard error)" : "; its standard error ends:\n\(stderr)"
        if tail.timedOut {
            throw CommandSourceError(kind: .timeout, message: "command: \(settings.display) ran longer than its timeout (\(settings.timeout)) and was stopped\(suffix)")
        }
        switch process.terminationReason {
        case .uncaughtSignal:
            throw CommandSourceError(kind: .failed, message: "command: \(settings.display) was killed by signal \(process.terminationStatus)\(suffix)")
        case .exit where process.terminationStatus != 0:
            throw CommandSourceError(kind: .failed, message: "command: \(settings.display) exited with status \(process.terminationStatus)\(suffix)")
        default:
            return
        }
    }

    /// A program's path: as given when it names a file, else the first match on PATH.
    static func resolve(_ program: String, in environment: [String: String]) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// The last bytes a stream wrote, under a lock (the pipe's handler runs on its own queue).
final class TailBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var flag = false
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func append(_ more: Data) {
        lock.lock()
        defer { lock.unlock() }
        data.append(more)
        if data.count > limit { data = data.suffix(limit) }
    }

    var timedOut: Bool {
        get { lock.lock(); defer { lock.unlock() }; return flag }
        set { lock.lock(); flag = newValue; lock.unlock() }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
