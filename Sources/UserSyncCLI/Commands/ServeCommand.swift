import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UserSync
import UserSyncConsole

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run as a service: each source on its schedule, with /healthz, /metrics and a web console.",
        discussion: """
        Every source with a schedule runs on it:
          schedule: { every: 15m, jitter: 1m, runAtStart: true }
          schedule: { cron: "*/15 * * * *" }          # crontab(5), local time
        A run that fails for a reason that may pass (a server down or slow, the store busy, a file being written) is tried again after 30 s, 1 min, 2 min, … until the next slot. Runs missed while another ran long are not made up one by one: one run stands for them. Slots of 'every' sit on the interval's grid from the epoch (every: 15m runs at :00, :15, :30, :45 UTC). Two runs of one store never overlap, also across processes (the store's lock); a run that would waits (--wait) and is then retried.

        Several nodes may serve one PostgreSQL store (store.postgres): each source is run by one node at a time (an advisory lock, released if the node dies), each slot once, by whichever node takes the lock; /healthz and 'usersync status' name the node running a source.

        The status address (serve.listen in the file, default 127.0.0.1:9464; --listen overrides) answers:
          /healthz   200 while every source's last run succeeded or is being retried, else 503
          /metrics   Prometheus text: last run status, time and duration, changes by action,
                     users and groups by state, failures, per source
          /console/  the read-only web console, with serve.console: true (below)

        The web console shows the sources and their health, the runs and their changes, the users (searched; one user's groups, history and the record last received), the group tree and each source's mapping beside a live preview, and tests a source's connection; it changes nothing. Every page needs a credential:
          serve:
            console: true
            consoleAccess: { user: admin, passwordFile: /etc/usersync/console.password }
        (tokenFile for scripts' "Authorization: Bearer"; loopbackWithoutLogin: true lets connections from this machine in without one, with a loopback listen address only). No password or secret attribute is ever shown.

        Signals: SIGTERM or SIGINT stops taking runs, lets a run in progress finish, and exits 0. SIGHUP reloads the configuration file; an invalid one is logged and the one in use kept.

        'usersync status' shows each source's last and next run; systemd units and a container image are in docker/.
        """
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var logging: LogOptions

    @Option(name: .customLong("listen"), help: ArgumentHelp("host:port of /healthz, /metrics and the console (default: serve.listen, else 127.0.0.1:9464).", valueName: "address"))
    var listen: String?

    @Option(name: .customLong("wait"),
            help: ArgumentHelp("Seconds a run waits for another run on the same store before it is retried later.", valueName: "seconds"))
    var wait: Double = 30

    func run() async throws {
        let configuration = try file.load()
        let path = file.located!
        let logger = logging.bootstrap(configuration)
        let store = try await file.openStore(configuration)  // created or migrated now: a store problem stops the start
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var address = configuration.serve
        if let listen {
            guard let parsed = ServeSettings(listen: listen) else {
                throw CommandFailure(status: .usage, message: "--listen: \(ServeSettings.listenForm), found '\(listen)'")
            }
            address.host = parsed.host
            address.port = parsed.port
            if address.console && address.consoleAccess.loopbackWithoutLogin && !address.isLoopback {
                throw CommandFailure(status: .configuration, message: "--listen \(listen): serve.consoleAccess.loopbackWithoutLogin is only for a loopback address; set a credential (serve.consoleAccess.passwordFile) to listen on \(listen)")
            }
        }
        let service = SyncService(configuration: configuration, file: path, logger: logger,
                                  lockTimeout: .milliseconds(Int(wait * 1000)))
        var console: Console?
        if address.console {
            do {
                let access = try ConsoleAccess(address.consoleAccess)
                console = try Console(store: store, status: service.status, access: access, logger: logger) { service.configuration }
            } catch let error as Secrets.Unavailable {
                throw CommandFailure(status: .configuration, message: "serve.consoleAccess: \(error.description)")
            }
        }
        let server = WebServer(host: address.host, port: address.port, status: service.status,
                               metrics: { registry.emitToString() }, console: console, logger: logger)
        // The web server first: the group shuts services down in reverse order, so it answers
        // until the sync loops have stopped. The loops start once it listens: an address in use
        // stops serve before any run.
        let group = ServiceGroup(configuration: .init(services: [.init(service: server),
                                                                 .init(service: AfterListening(gate: server.listening, service: service))],
                                                      gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        let host = address.host, consolePath = address.console ? "/console" : "off"
        let sources = SyncService.scheduled(configuration).map { "\($0.name) (\($0.schedule!))" }.joined(separator: ", ")
        let listening = Task { [server] in
            let port = try await server.listening.wait()
            logger.notice("serving", metadata: ["listen": "\(host):\(port)", "config": "\(path)", "console": "\(consolePath)",
                                                "sources": "\(sources)"])
        }
        do {
            try await group.run()
        } catch {
            if case .failure(let bind) = await listening.result {
                throw CommandFailure(status: .configuration, message: "cannot listen on \(address.listen): \(bind) (serve.listen or --listen)")
            }
            throw CommandFailure(status: .failure, message: "the service stopped: \(error)")
        }
        await store.close()
        logger.notice("stopped")
    }
}

/// The sync service, started once the web server listens (and not at all when it cannot).
struct AfterListening: Service {
    let gate: StartGate
    let service: SyncService

    func run() async throws {
        _ = try await gate.wait()
        try await service.run()
    }
}
