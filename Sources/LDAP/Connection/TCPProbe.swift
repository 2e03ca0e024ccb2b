import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection attempt, used only to tell "nothing listens there" from "a server
/// listens but the TLS handshake failed" when libldap reports both as LDAP_SERVER_DOWN.
enum TCPProbe {
    /// Host and port of an ldap:// or ldaps:// URI (ldapi:// has none).
    static func hostAndPort(of uri: String) -> (host: String, port: UInt16)? {
        let lower = uri.lowercased()
        let defaultPort: UInt16
        let rest: Substring
        if lower.hasPrefix("ldaps://") {
            defaultPort = 636
            rest = uri.dropFirst("ldaps://".count)
        } else if lower.hasPrefix("ldap://") {
            defaultPort = 389
            rest = uri.dropFirst("ldap://".count)
        } else {
            return nil
        }
        let hostPort = rest.prefix { $0 != "/" && $0 != "?" }
        if hostPort.hasPrefix("[") {  // [IPv6]:port
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            let port = after.hasPrefix(":") ? UInt16(after.dropFirst()) : defaultPort
            return port.map { (host, $0) }
        }
        let parts = hostPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let host = parts.first.map(String.init) ?? ""
        let port = parts.count > 1 ? UInt16(parts[1]) : defaultPort
        return port.map { (host.isEmpty ? "localhost" : host, $0) }
    }

    /// Why a TCP connection to the URI's host and port fails, in words; nil when it succeeds
    /// (or for an `ldapi://` URI, which has neither). For a connect that failed at once: a
    /// refused connection, a host name that does not resolve and an unreachable network are
    /// different faults with different fixes, and none of them is a timeout.
    static func failure(uri: String, timeout: Duration) -> String? {
        guard let (host, port) = hostAndPort(of: uri) else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let list else {
            return "the host name '\(host)' does not resolve (\(String(cString: gai_strerror(resolved))))"
        }
        defer { freeaddrinfo(list) }
        var last: Int32 = 0
        var info: UnsafeMutablePointer<addrinfo>? = list
        while let current = info {
            let error = connectError(current.pointee, timeout: timeout)
            if error == 0 { return nil }
            last = error
            info = current.pointee.ai_next
        }
        switch last {
        case ECONNREFUSED: return "the connection to \(host) port \(port) was refused: no server listens there (is it running, and is this its port?)"
        case ETIMEDOUT: return "no answer from \(host) port \(port) within \(timeout.components.seconds) s (a firewall, or the host is down)"
        case ENETUNREACH, EHOSTUNREACH: return "\(host) cannot be reached from here: \(String(cString: strerror(last)))"
        default: return "connecting to \(host) port \(port) failed: \(String(cString: strerror(last)))"
        }
    }

    static func canConnect(uri: String, timeout: Duration) -> Bool {
        guard let (host, port) = hostAndPort(of: uri) else { return false }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let list else { return false }
        defer { freeaddrinfo(list) }
        var info: UnsafeMutablePointer<addrinfo>? = list
        while let current = info {
            if connect(current.pointee, timeout: timeout) { return true }
            info = current.pointee.ai_next
        }
        return false
    }

    private static func connect(_ info: addrinfo, timeout: Duration) -> Bool {
        connectError(info, timeout: timeout) == 0
    }

    /// 0 when a connection is made, else the errno that stopped it (ETIMEDOUT after `timeout`).
    private static func connectError(_ info: addrinfo, timeout: Duration) -> Int32 {
        let fd = socket(info.ai_family, info.ai_socktype, info.ai_protocol)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) == 0 { return 0 }
        guard errno == EINPROGRESS else { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ms = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, ms) == 1 else { return ETIMEDOUT }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error
    }
}
