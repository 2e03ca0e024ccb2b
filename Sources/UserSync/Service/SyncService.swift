import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// `usersync serve`: every source with a `schedule` runs on it, each in its own loop; the store
/// lock keeps runs of one store apart (also from other processes). SIGTERM or SIGINT (through
/// swift-service-lifecycle's graceful shutdown) stops the loops between runs: a run that has
/// started finishes, so the store is consistent when the process exits 0. SIGHUP reloads the
/// configuration file; an invalid one is reported and the old one kept.
public final class SyncService: Service, Sendable {
    public let configurationFile: String
    public let status: ServiceStatus
    let clock: any SchedulerClock
    let logger: Logger
    let lockTimeout: Duration
    private let current: NIOLockedValueBox<Configuration>

    public init(configuration: Configuration, file: String, clock: any SchedulerClock = WallClock(), logger: Logger,
                lockTimeout: Duration = .seconds(30)) {
        configurationFile = file
        self.clock = clock
        self.logger = logger
        self.lockTimeout = lockTimeout
        current = NIOLockedValueBox(configuration)
        status = ServiceStatus(sources: SyncService.scheduled(configuration).map { ($0.name, $0.schedule!.description) })
    }

    /// The configuration in use (the file's latest valid version, after SIGHUP reloads).
    public var configuration: Configuration { current.withLockedValue { $0 } }

    /// The sources the service runs: those with a schedule.
    public static func scheduled(_ configuration: Configuration) -> [SourceSettings] {
        configuration.sources.filter { $0.schedule != nil }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.watchReloads() }
                var configuration = self.current.withLockedValue { $0 }
                var reloaded = self.reloads.stream.makeAsyncIterator()
                while !Task.isCancelled {
                    let running = configuration
                    let loops = Task { await self.runLoops(running) }
                    // Until a reload (a new configuration) or the end.
                    let next = await reloaded.next()
                    loops.cancel()
                    await loops.value
                    guard let next else { break }
                    configuration = next
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.notice("stopping: no new runs; a run in progress finishes first")
            self.reloads.continuation.finish()
        }
    }

    // MARK: Reloads

    /// New configurations from SIGHUP, to the main loop (which alone reads them); finished at
    /// shutdown.
    private let reloads = AsyncStream.makeStream(of: Configuration.self)

    private func watchReloads() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            do {
                let configuration = try ConfigLoader.load(configurationFile)
                if configuration.store != current.withLockedValue({ $0.store }) {
                    logger.error("reload refused: the store changed; restart the service to use another store",
                                 metadata: ["file": "\(configurationFile)"])
                    continue
                }
                current.withLockedValue { $0 = configuration }
                await status.reset(sources: SyncService.scheduled(configuration).map { ($0.name, $0.schedule!.description) })
                logger.notice("configuration reloaded", metadata: ["file": "\(configurationFile)",
                                                                   "sources": "\(SyncService.scheduled(configuration).map(\.name).joined(separator: ", "))"])
                reloads.continuation.yield(configuration)
            } catch {
                logger.error("reload refused; the configuration in use is kept",
                             metadata: ["file": "\(configurationFile)", "problems": "\(error)"])
            }
        }
    }

    // MARK: Loops

    private func runLoops(_ configuration: Configuration) async {
        let sources = SyncService.scheduled(configuration)
        if sources.isEmpty {
            logger.warning("no source has a schedule: add `schedule: { every: 15m }` to a source; the status address still answers")
        }
        guard let store = await openStore(configuration.store) else { return }
        await status.use(store)
        await ServiceStatus.recordStoreCounts(store)
        await withTaskGroup(of: Void.self) { group in
            for source in sources {
                let engine = SyncEngine(store: store, logger: logger, lockTimeout: lockTimeout)
                let logger = self.logger, lockTimeout = self.lockTimeout
                let loop = SourceLoop(source: source.name, schedule: source.schedule!, clock: clock, status: status, logger: logger) { slot in
                    // Not a child of the loop: cancelling the loop (shutdown, reload) lets a run
                    // that has started finish.
                    await Task {
                        let report = await engine.run(source, slot: slot)
                        await ServiceStatus.recordStoreCounts(store)
                        if let report {
                            _ = await TargetFollowers.push(after: report, configuration: configuration, store: store, logger: logger,
                                                           lockTimeout: lockTimeout)
                        }
                        return report
                    }.value
                }
                logger.info("scheduled", metadata: ["source": "\(source.name)", "schedule": "\(source.schedule!)"])
                group.addTask { await loop.runForever() }
            }
        }
    }

    /// Opens the store, trying again every 10 s while it cannot be reached (a database server
    /// restarting, a network out): a node that starts before its database does joins once it
    /// is up. A store that is not there at all (a missing folder) ends the loops. Nil at shutdown.
    private func openStore(_ settings: StoreSettings) async -> UserStore? {
        while !Task.isCancelled {
            do {
                return try await UserStore.open(settings, logger: logger)
            } catch {
                let failure = SyncFailure(error)
                guard failure.kind.isTransient else {
                    logger.critical("cannot open the store \(settings.name): \(failure.message)")
                    return nil
                }
                logger.error("cannot reach the store \(settings.name); trying again in 10 s: \(failure.message)")
                try? await Task.sleep(for: .seconds(10))
            }
        }
        return nil
    }
}
