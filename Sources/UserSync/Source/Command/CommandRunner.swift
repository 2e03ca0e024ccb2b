import CGlibc
import Foundation

/// A program that failed: it could not start, exited non-zero, was killed by a signal, or ran
/// past its timeout. The message ends with the tail of what it wrote on standard error.
public struct CommandSourceError: Error, Sendable, CustomStringConvertible {
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public enum Kind: String, Sendable {
        case cannotStart, failed, timeout, malformed
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }
}

/// Runs a source's program with its standard output going to a file (never into memory:
/// an export can be large), its standard error's last 4 KiB kept for the message, and its
/// timeout enforced.
///
/// posix_spawn, not Foundation's Process: the child must lead a process group of its own (so
/// that a timeout stops what it started too), start with no signal blocked (Swift's threads
/// block most signals, and a child inherits the spawning thread's mask: a shell would then
/// ignore SIGTERM), and be waited for by its pid alone. The waiting and the reading of its
/// standard error happen on threads of their own, never on Swift's cooperative pool.
enum CommandRunner {
    static let stderrTail = 4096
    /// Between SIGTERM and SIGKILL.
    static let killGrace: Double = 5

    /// Runs the program; returns the tail of its standard error when it exited 0 with its
    /// output in `file`; throws a `CommandSourceError` otherwise.
    @discardableResult
    static func run(_ settings: CommandSettings, output file: String) async throws -> String {
        let program: String
        let arguments: [String]
        if settings.shell {
            program = "/bin/sh"
            arguments = ["/bin/sh", "-c", settings.arguments.first ?? ""]
        } else {
            guard let first = settings.arguments.first, let path = resolve(first, in: settings.environment) else {
                throw CommandSourceError(kind: .cannotStart,
                                         message: "command: '\(settings.arguments.first ?? "")' is not an executable file, nor a program on PATH")
            }
            program = path
            arguments = settings.arguments
        }
        let output = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw CommandSourceError(kind: .cannotStart, message: "command: cannot write its output to \(file): \(String(cString: strerror(errno)))")
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard cspawn_pipe_cloexec(&pipeEnds) == 0 else {
            close(output)
            throw CommandSourceError(kind: .cannotStart, message: "command: cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            let errorsIn = pipeEnds[1]
            pid = try await offPool { try spawn(program, arguments, settings, stdout: output, stderr: errorsIn) }
        } catch {
            close(output)
            close(pipeEnds[0])
            close(pipeEnds[1])
            throw error
        }
        // The child has its copies; ours would keep the pipe open after it exits.
        close(output)
        close(pipeEnds[1])

        let tail = TailBuffer(limit: stderrTail)
        let errors = pipeEnds[0]
        let reader = Thread { tail.drain(errors) }
        reader.start()
        let timer = DispatchWorkItem {
            tail.timedOut = true
            // The program and what it started: it leads its process group.
            kill(-pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + killGrace) { kill(-pid, SIGKILL) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + settings.timeout.secondsValue, execute: timer)
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: status)
            }.start()
        }
        timer.cancel()
        if tail.timedOut {
            // What it started may outlive it: the group goes too.
            kill(-pid, SIGKILL)
        }
        // What is left on standard error, without waiting for a child that still holds it.
        try await offPool { tail.finish(within: 0.2) }
        let stderr = tail.text
        let suffix = stderr.isEmpty ? " (it wrote nothing on standard error)" : "; its standard error ends:\n\(stderr)"
        if tail.timedOut {
            throw CommandSourceError(kind: .timeout, message: "command: \(settings.display) ran longer than its timeout (\(settings.timeout)) and was stopped\(suffix)")
        }
        let signal = status & 0x7f
        if signal != 0 {
            throw CommandSourceError(kind: .failed, message: "command: \(settings.display) was killed by signal \(signal)\(suffix)")
        }
        let code = (status >> 8) & 0xff
        if code == 127 && !settings.shell {
            throw CommandSourceError(kind: .cannotStart, message: "command: \(settings.display) did not start (exit 127)\(suffix)")
        }
        if code != 0 {
            throw CommandSourceError(kind: .failed, message: "command: \(settings.display) exited with status \(code)\(suffix)")
        }
        return stderr
    }

    private static func spawn(_ program: String, _ arguments: [String], _ settings: CommandSettings,
                              stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let directory = settings.workingDirectory { cspawn_file_actions_addchdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let environment = ProcessInfo.processInfo.environment.merging(settings.environment) { $1 }.map { "\($0)=\($1)" }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        var rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        // ETXTBSY: the file is open for writing somewhere, as when a deployment is rewriting
        // the script, or a child forked by another thread holds a descriptor of it until its
        // own exec. Nothing ran; it passes in moments.
        var tries = 1
        while rc == ETXTBSY && tries < 20 {
            // Rare, and before anything ran; this runs off the cooperative pool.
            usleep(25_000)
            tries += 1
            rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(rc))
            let place = settings.workingDirectory.map { " (in \($0))" } ?? ""
            throw CommandSourceError(kind: .cannotStart, message: "command: \(settings.display) did not start\(place): \(reason)")
        }
        return pid
    }

    /// Runs blocking work (posix_spawn and its ETXTBSY retries, a bounded wait) on a Dispatch
    /// thread, never on Swift's cooperative pool.
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
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
    private let finished = DispatchSemaphore(value: 0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Reads `fd` to its end (on a thread of its own), keeping the tail; closes it.
    func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            append(Data(buffer[0..<count]))
        }
        close(fd)
        finished.signal()
    }

    /// Waits at most `seconds` for the end of the stream: a process the program started may
    /// hold it open long after the program exited.
    func finish(within seconds: Double) {
        _ = finished.wait(timeout: .now() + seconds)
    }

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
