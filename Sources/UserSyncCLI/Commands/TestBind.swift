import ArgumentParser
import Foundation
import LDAP
import UserSync

struct TestBind: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-bind",
        abstract: "Check that usersync can reach, secure and bind to a directory (or read a source's file), and optionally search it.",
        discussion: """
        Connects to the first server of -H that answers, sets up TLS (ldaps:// or -Z), binds, asks the server who it thinks you are (WhoAmI), reads the root DSE, and with -b runs a paged search and counts what it finds. Each failure says what went wrong and what to try, and ends with its own exit code.

        A simple bind with a password over plain ldap://, or over TLS whose certificate is not verified (--tls-verify never|allow, or LDAPTLS_REQCERT=never / TLS_REQCERT never inherited from the environment or ldap.conf), is refused unless --allow-insecure-bind is given. libldap's ldap.conf and LDAPTLS_* environment variables apply as they do for ldapsearch.

        Examples:

        OpenLDAP over StartTLS, with the CA that signed the server's certificate:
          usersync test-bind -H ldap://ldap.example.com -Z \\
            --ca-file /etc/ssl/ldap-ca.pem \\
            -D cn=usersync,ou=services,dc=example,dc=com \\
            -y /etc/usersync/ldap.pw -b ou=people,dc=example,dc=com

        Active Directory over LDAPS, two domain controllers:
          usersync test-bind \\
            -H 'ldaps://dc1.corp.example.com ldaps://dc2.corp.example.com' \\
            -D svc-usersync@corp.example.com --password-env CORP_PW --json

        The local slapd, as root, over its Unix socket:
          usersync test-bind -H ldapi:/// --sasl-mech EXTERNAL

        A source of the configuration file (its connection, bind and user search):
          usersync test-bind --config /etc/usersync/usersync.yaml --source corp

        A CSV, SCIM, JSON, Okta or command source: the file or endpoint is reached (TLS and auth included) or the program run, a CSV header is checked against the mapping, and the first page (up to 1,000 records) is read and mapped; nothing is written:
          usersync test-bind --config /etc/usersync/usersync.yaml --source contractors

        An Entra ID source: also the application permissions its token carries (the roles claim) against those the source needs (User.Read.All; GroupMember.Read.All with groups):
          usersync test-bind --config /etc/usersync/usersync.yaml --source entra

        Exit codes:
        \(ExitStatus.table)
        """
    )

    @OptionGroup(title: "A configured source (instead of -H …)") var configuration: ConfigOptions

    @OptionGroup(title: "Connection and bind") var directory: DirectoryOptions

    @Option(name: [.customShort("b"), .customLong("base")], help: ArgumentHelp("Search below this DN after binding.", valueName: "base"))
    var base: String?

    @Option(name: .customLong("filter"), help: ArgumentHelp("Search filter (RFC 4515).", valueName: "filter"))
    var filter: String = "(objectClass=*)"

    @Option(name: [.customShort("s"), .customLong("scope")], help: ArgumentHelp("Search scope: base, one or sub.", valueName: "scope"))
    var scope: SearchRequest.Scope = .sub

    @Option(name: .customLong("limit"), help: ArgumentHelp("How many of the DNs found to list.", valueName: "n"))
    var limit: Int = 10

    @Option(name: .customLong("page-size"), help: ArgumentHelp("Entries per page of the paged search.", valueName: "n"))
    var pageSize: Int = 500

    @Option(name: [.customShort("z"), .customLong("size-limit")],
            help: ArgumentHelp("Fail if the search finds more entries than this (0: no limit of our own).", valueName: "n"))
    var sizeLimit: Int = 0

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if directory.uri != nil && (configuration.config != nil || configuration.source != nil) {
            throw ValidationError("Test either a server given with -H or a configured source (--config/--source), not both.")
        }
        if directory.uri == nil && configuration.located == nil {
            throw ValidationError("Give the server with -H URI, or a configuration file with --config FILE (and --source NAME).")
        }
        if limit < 0 { throw ValidationError("--limit must be 0 or more.") }
        if pageSize < 1 { throw ValidationError("--page-size must be at least 1.") }
        if sizeLimit < 0 { throw ValidationError("--size-limit must be 0 or more.") }
    }

    func run() async throws {
        let report: BindTestReport
        do {
            if directory.uri == nil {
                let source = try configuration.selectedSource(in: configuration.load())
                if source.type != .ldap {
                    try await check(source)
                    return
                }
            }
            report = try await makeTest().run()
        } catch let failure as CommandFailure {
            if output.json {
                var report = BindTestReport()
                report.triedURIs = directory.connectionOptions.uris
                report.error = BindTestReport.Failure(kind: .configuration, message: failure.message)
                Output.printJSON(report)
            } else {
                Output.write("error: \(failure.message)\n", to: .standardError)
            }
            throw failure.status.exitCode
        }
        print(report, json: output.json)
        if let error = report.error {
            throw ExitStatus(error.kind, operation: error.operation).exitCode
        }
    }

    /// A source that is not a directory: its file is read, its header checked against the
    /// mapping, and its first page mapped.
    private func check(_ source: SourceSettings) async throws {
        let report = await SourceCheck(source: source, pageLimit: max(pageSize, 1000), listLimit: limit).run()
        emit(report, text: TestBindText.render(report), error: report.error.map { ($0.message, $0.hint) })
        if let error = report.error { throw ExitStatus(error.kind).exitCode }
    }

    private func makeTest() throws -> BindTest {
        if directory.uri == nil {
            let source = try configuration.selectedSource(in: configuration.load())
            guard let ldap = source.ldap else {
                throw CommandFailure(status: .configuration, message: "source '\(source.name)' is a \(source.type.rawValue) source, not a directory")
            }
            do {
                return try BindTest(directory: ldap, listLimit: limit)
            } catch {
                throw CommandFailure(status: .configuration, message: "source '\(source.name)': \(error.description)")
            }
        }
        var search: SearchRequest?
        if let base {
            let checked: String
            do {
                checked = try LDAPFilter.check(filter)
            } catch {
                throw CommandFailure(status: .configuration, message: error.description)
            }
            if let problem = Self.checkDN(base) {
                throw CommandFailure(status: .configuration, message: problem)
            }
            search = SearchRequest(base: base, scope: scope, filter: checked, attributes: ["1.1"], sizeLimit: sizeLimit)
        }
        return BindTest(connection: directory.connectionOptions, credentials: try directory.credentials(),
                        allowInsecureBind: directory.allowInsecureBind, search: search, pageSize: pageSize,
                        listLimit: limit)
    }

    private static func checkDN(_ dn: String) -> String? {
        do {
            _ = try DistinguishedName(dn)
            return nil
        } catch {
            return "-b: \(error.description)"
        }
    }

    private func print(_ report: BindTestReport, json: Bool) {
        emit(report, text: TestBindText.render(report), error: report.error.map { ($0.message, $0.hint) })
    }

    /// The report as JSON (--json), or as text with the error and its hint on standard error.
    private func emit<Report: Encodable>(_ report: Report, text: String, error: (message: String, hint: String?)?) {
        if output.json {
            Output.printJSON(report)
            return
        }
        Output.write(text, to: .standardOutput)
        if let error {
            var text = "error: \(error.message)\n"
            if let hint = error.hint { text += "hint: \(hint)\n" }
            Output.write(text, to: .standardError)
        }
    }
}
