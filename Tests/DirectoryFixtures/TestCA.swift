import Foundation

/// A throw-away certificate authority with a server certificate for `localhost`/`127.0.0.1`
/// and a client certificate, made with openssl for the test servers.
public struct TestCA: Sendable {
    public let directory: URL
    public var caFile: String { directory.appendingPathComponent("ca.pem").path }
    public var serverCertificate: String { directory.appendingPathComponent("server.pem").path }
    public var serverKey: String { directory.appendingPathComponent("server.key").path }
    public var clientCertificate: String { directory.appendingPathComponent("client.pem").path }
    public var clientKey: String { directory.appendingPathComponent("client.key").path }
    /// Subject of the client certificate.
    public static let clientSubject = "cn=usersync-client,o=usersync tests"

    /// `make`, off the cooperative pool (openssl runs several times).
    public static func made(in directory: URL) async throws -> TestCA {
        try await offThePool { try make(in: directory) }
    }

    public static func make(in directory: URL) throws -> TestCA {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ca = TestCA(directory: directory)
        let d = directory.path
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Shell.run("openssl", ["req", "-x509"] + key + ["-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
                                  "-days", "3", "-subj", "/O=usersync tests/CN=usersync test CA"])
        try issue(name: "server", subject: "/O=usersync tests/CN=localhost",
                  extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", in: d, key: key)
        try issue(name: "client", subject: "/O=usersync tests/CN=usersync-client",
                  extensions: "extendedKeyUsage=clientAuth\n", in: d, key: key)
        // Samba insists that its key is readable by its owner only.
        chmod("\(d)/server.key", 0o600)
        return ca
    }

    private static func issue(name: String, subject: String, extensions: String, in d: String, key: [String]) throws {
        try extensions.write(toFile: "\(d)/\(name).ext", atomically: true, encoding: .utf8)
        try Shell.run("openssl", ["req"] + key + ["-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).csr", "-subj", subject])
        try Shell.run("openssl", ["x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
                                  "-CAcreateserial", "-out", "\(d)/\(name).pem", "-days", "3", "-extfile", "\(d)/\(name).ext"])
    }
}
