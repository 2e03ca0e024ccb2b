import Foundation

/// A fixture made once per test process, on first use, off the cooperative pool. A failure to
/// make it is remembered and thrown to every test that asks (they fail; none is skipped).
public final class SharedFixture<Value: Sendable>: @unchecked Sendable {
    private let make: @Sendable () throws -> Value
    private let lock = NSLock()
    private var result: Result<Value, Error>?  // guarded by lock

    public init(_ make: @escaping @Sendable () throws -> Value) {
        self.make = make
    }

    public func get() async throws -> Value {
        try await offThePool { [self] in
            lock.lock()
            defer { lock.unlock() }
            if let result { return try result.get() }
            let made = Result { try make() }
            result = made
            return try made.get()
        }
    }
}

/// A TCP listener on loopback that accepts connections and never says anything: a server that
/// hangs.
public final class SilentListener: @unchecked Sendable {
    let fd: Int32
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw FixtureError("cannot listen on loopback")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
