import Foundation

/// Runs programs for the fixtures and finds free ports.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let command: String
        public let status: Int32
        public let output: String
        public var description: String { "`\(command)` exited with \(status):\n\(output)" }
    }

    /// Runs a program to completion and returns its combined output; throws if it fails.
    /// (posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit can miss
    /// the exit of a program that daemonises, as slapd does.)
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
                           input: String? = nil, allowFailure: Bool = false) throws -> (status: Int32, output: String) {
        let outputPath = "/tmp/usersync-shell-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var inputPath: String?
        if let input {
            let path = "/tmp/usersync-shell-in-\(UUID().uuidString)"
            try input.write(toFile: path, atomically: true, encoding: .utf8)
            inputPath = path
        }
        defer { if let inputPath { unlink(inputPath) } }
        let pid = try spawn(program, arguments, environment: environment, stdin: inputPath ?? "/dev/null",
                            output: outputPath)
        let status = wait(pid)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        if status != 0 && !allowFailure {
            throw Failure(command: ([program] + arguments).joined(separator: " "), status: status, output: output)
        }
        return (status, output)
    }

    /// The same, from async code: the program runs while a thread of its own waits, never one of
    /// the cooperative pool's (two threads on these machines). A test that waited there held
    /// every other test still, which once made a connect that is over in a millisecond measure
    /// 36 s (CI run of d23e17c). In an async context the compiler picks this overload.
    @discardableResult
    public static func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
                           input: String? = nil, allowFailure: Bool = false) async throws -> (status: Int32, output: String) {
        try await offThePool { try run(program, arguments, environment: environment, input: input, allowFailure: allowFailure) }
    }

    /// Writes an executable script through a close-on-exec descriptor.
    ///
    /// Foundation's `write(toFile:atomically:)` opens its file without O_CLOEXEC, so a server
    /// that another test starts at that moment inherits the write descriptor and keeps it for
    /// its whole life; every exec of the script then fails with ETXTBSY ("Text file busy"), as a
    /// fresh-clone CI run showed. With O_CLOEXEC a child holds it only until its own exec.
    public static func writeExecutable(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            written += n
        }
        fchmod(fd, 0o755)
    }

    /// Starts a program with stdin from a file and stdout/stderr appended to `output` (stderr to
    /// `errorOutput` instead, when given).
    public static func spawn(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
                             stdin: String = "/dev/null", output: String, errorOutput: String? = nil) throws -> pid_t {
        let path = try which(program)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorOutput {
            posix_spawn_file_actions_addopen(&actions, 2, errorOutput, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        let env = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }.map { "\($0)=\($1)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child inherits the spawning thread's signal mask, and Swift's threads block
        // most signals: without this, slapd and samba would ignore SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw FixtureError("cannot start \(path): error \(rc)") }
        return pid
    }

    /// Waits for a child to exit and returns its exit status (128+signal if killed).
    @discardableResult
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// The same, from async code, off the cooperative pool (see `run`).
    @discardableResult
    public static func wait(_ pid: pid_t) async -> Int32 {
        (try? await offThePool { wait(pid) }) ?? -1
    }

    /// Whether a process is still running: not gone, and not a zombie. A daemon that detached
    /// (slapd, samba) is reparented to PID 1, and on these machines PID 1 reaps its zombies
    /// seconds later, while `kill(pid, 0)` still succeeds on them: waiting on that alone cost
    /// each stopped slapd two seconds, minutes at the end of the suite.
    public static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        // "pid (comm) state …": the state follows the command's closing parenthesis.
        return !stat[close...].hasPrefix(") Z")
    }

    /// The full path of a program, searching PATH and the sbin directories.
    public static func which(_ program: String) throws -> String {
        if program.hasPrefix("/") { return program }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw FixtureError("'\(program)' is not installed: run scripts/install-deps.sh --tests")
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    /// A TCP port on 127.0.0.1 that is free now and was not handed out before in this process.
    /// It is taken below the kernel's ephemeral range: a port from that range (bind to port 0)
    /// can be taken by any outgoing connection of the parallel tests before the server binds it,
    /// which made a server fail to start now and then.
    public static func freePort() -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) } ?? []
        let below = max(12_000, min(range.first ?? 32_768, 32_768))
        for _ in 0..<1000 {
            let port = Int.random(in: 10_000..<below)
            let taken = portsLock.withLock { !handedOut.insert(port).inserted }
            if taken { continue }
            if canBind(port) { return port }
        }
        return 0
    }

    private static let portsLock = NSLock()
    nonisolated(unsafe) private static var handedOut: Set<Int> = []

    private static func canBind(_ port: Int) -> Bool {
        onLoopback(port) { fd, address, length in bind(fd, address, length) } == 0
    }

    /// Runs `body` (bind or connect) on a new TCP socket with 127.0.0.1:port, then closes it.
    private static func onLoopback(_ port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, length) }
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:port.
    public static func isListening(port: Int) -> Bool {
        onLoopback(port) { fd, address, length in connect(fd, address, length) } == 0
    }

    /// Waits until the port accepts connections, or throws after `timeout` seconds. Given the
    /// server's `process`, it throws as soon as that process has exited (with its status and the
    /// end of its log) instead of waiting out the timeout for a server that is gone.
    public static func waitForPort(_ port: Int, timeout: Double, what: String, log: String? = nil,
                                   process: pid_t? = nil) throws {
        func logTail() -> String {
            log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { String($0.suffix(3000)) } ?? ""
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isListening(port: port) { return }
            if let process {
                var status: Int32 = 0
                if waitpid(process, &status, WNOHANG) == process {
                    let code = status & 0x7f == 0 ? "status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
                    throw FixtureError("\(what) exited (\(code)) before it listened on port \(port)\n\(logTail())")
                }
            }
            usleep(100_000)
        }
        throw FixtureError("\(what) did not listen on port \(port) within \(Int(timeout)) s\n\(logTail())")
    }

    /// A new empty directory under /tmp.
    public static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = URL(fileURLWithPath: "/tmp").appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A fixture that could not be set up. In CI this fails the test; it never skips it.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Processes the fixtures started, stopped when the test process exits.
public enum Cleanup {
    nonisolated(unsafe) private static var actions: [() -> Void] = []
    private static let lock = NSLock()
    nonisolated(unsafe) private static var registered = false

    public static func atExit(_ action: @escaping () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        actions.append(action)
        if !registered {
            registered = true
            atexit { Cleanup.runAll() }
        }
    }

    static func runAll() {
        lock.lock()
        let all = actions
        actions = []
        lock.unlock()
        for action in all.reversed() { action() }
    }
}

/// Runs blocking work (starting servers, running programs) on a thread of its own, so that it
/// does not hold one of the cooperative pool's threads (two on these machines) while tests that
/// measure time wait for one.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
