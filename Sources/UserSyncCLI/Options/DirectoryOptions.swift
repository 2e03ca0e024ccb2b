import ArgumentParser
import Foundation
import LDAP
import UserSync

/// How to reach and authenticate to a directory: the flags follow ldapsearch's.
struct DirectoryOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .customLong("uri")],
            help: ArgumentHelp("Server URI(s): ldap://, ldaps:// or ldapi://. Several, space- or comma-separated, are tried in order.",
                               valueName: "uri"))
    var uri: String?

    @Option(name: [.customShort("D"), .customLong("bind-dn")],
            help: ArgumentHelp("Identity for a simple bind: a DN, or for Active Directory user@domain or DOMAIN\\user. Omit for an anonymous bind.",
                               valueName: "binddn"))
    var bindDN: String?

    @Option(name: [.customShort("y"), .customLong("password-file")],
            help: ArgumentHelp("Read the password from this file (one trailing newline is ignored).", valueName: "file"))
    var passwordFile: String?

    @Option(name: .customLong("password-env"),
            help: ArgumentHelp("Read the password from this environment variable.", valueName: "var"))
    var passwordEnv: String?

    @Flag(name: [.customShort("Z"), .customLong("starttls")],
          help: "Upgrade an ldap:// connection with StartTLS before binding.")
    var startTLS = false

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("PEM file of the CA(s) to trust for the server's certificate.", valueName: "file"))
    var caFile: String?

    @Option(name: .customLong("tls-verify"),
            help: ArgumentHelp("Server certificate check: never, allow, try or demand (default: demand, or ldap.conf's TLS_REQCERT).",
                               valueName: "level"))
    var tlsVerify: TLSOptions.Verify?

    @Option(name: .customLong("cert-file"), help: ArgumentHelp("Client certificate (PEM), for servers that ask for one and SASL EXTERNAL.", valueName: "file"))
    var certFile: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp("Private key of the client certificate (PEM).", valueName: "file"))
    var keyFile: String?

    @Option(name: [.customShort("Y"), .customLong("sasl-mech")],
            help: ArgumentHelp("Bind with this SASL mechanism (EXTERNAL, GSSAPI, DIGEST-MD5, …) instead of a simple bind.", valueName: "mech"))
    var saslMech: String?

    @Option(name: [.customShort("U"), .customLong("sasl-authcid")], help: ArgumentHelp("SASL authentication identity.", valueName: "authcid"))
    var saslAuthcid: String?

    @Option(name: [.customShort("R"), .customLong("sasl-realm")], help: ArgumentHelp("SASL realm.", valueName: "realm"))
    var saslRealm: String?

    @Option(name: [.customShort("X"), .customLong("sasl-authzid")], help: ArgumentHelp("SASL authorization identity (act as this user).", valueName: "authzid"))
    var saslAuthzid: String?

    @Flag(name: .customLong("allow-insecure-bind"),
          help: "Allow sending a password over a connection without TLS, or over TLS whose certificate is not verified (refused by default).")
    var allowInsecureBind = false

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("Seconds to wait for each server to answer.", valueName: "seconds"))
    var connectTimeout: Double = 5

    @Option(name: .customLong("timeout"), help: ArgumentHelp("Seconds to wait for the answer to any one request.", valueName: "seconds"))
    var timeout: Double = 30

    func validate() throws {
        if passwordFile != nil && passwordEnv != nil {
            throw ValidationError("Give the password either with -y/--password-file or with --password-env, not both.")
        }
        if connectTimeout <= 0 || timeout <= 0 {
            throw ValidationError("Timeouts must be more than 0 seconds.")
        }
        if bindDN != nil && saslMech != nil {
            throw ValidationError("-D is for a simple bind; with --sasl-mech name the SASL identity with -U (and -X).")
        }
        if (certFile == nil) != (keyFile == nil) {
            throw ValidationError("--cert-file and --key-file go together.")
        }
    }

    /// The connection settings these flags describe.
    var connectionOptions: LDAPConnectionOptions {
        var options = LDAPConnectionOptions(uriList: uri ?? "")
        options.startTLS = startTLS
        options.connectTimeout = .milliseconds(Int(connectTimeout * 1000))
        options.operationTimeout = .milliseconds(Int(timeout * 1000))
        options.tls = TLSOptions(verify: tlsVerify, caFile: caFile, certificateFile: certFile, keyFile: keyFile)
        return options
    }

    /// The credentials these flags describe; reads the password file or variable.
    func credentials() throws -> BindCredentials {
        let password = try readPassword()
        if let mech = saslMech {
            return .sasl(mechanism: mech, authenticationID: saslAuthcid, password: password, realm: saslRealm,
                         authorizationID: saslAuthzid)
        }
        guard let dn = bindDN else {
            if password != nil {
                throw CommandFailure(status: .configuration, message: "a password was given but no bind DN (-D)")
            }
            return .anonymous
        }
        guard let password else {
            throw CommandFailure(status: .configuration,
                                 message: "no password for '\(dn)': give it with -y FILE or --password-env VAR")
        }
        return .simple(dn: dn, password: password)
    }

    private func readPassword() throws -> String? {
        do {
            return try Secrets.password(file: passwordFile, environmentVariable: passwordEnv)
        } catch {
            throw CommandFailure(status: .configuration, message: error.description)
        }
    }
}

extension TLSOptions.Verify: ExpressibleByArgument {}
extension SearchRequest.Scope: ExpressibleByArgument {}

/// `--json`: one JSON object on standard output instead of text.
struct OutputOptions: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print one JSON object instead of text.")
    var json = false
}
