import Foundation
import Logging

/// One run's bookkeeping: the run lock, the run's row, the report, and the one way a run ends,
/// failed or not (the duration set, the row finished, the outcome logged).
struct RunSession: Sendable {
    let store: any SyncStore
    let settings: SourceSettings
    let dryRun: Bool
    let clock = ContinuousClock.now
    var report: SyncReport
    var log: Logger
    private(set) var runId: Int64 = 0
    /// `begin` found the slot already run: nothing was done.
    private(set) var alreadyRun = false
    /// The run's staging tables, once made: its records are kept with it.
    var staging: (any RunStaging)?

    init(store: any SyncStore, settings: SourceSettings, dryRun: Bool, logger: Logger) {
        self.store = store
        self.settings = settings
        self.dryRun = dryRun
        report = SyncReport(source: settings.name, dryRun: dryRun, status: .failed)
        log = logger
        log[metadataKey: "source"] = "\(settings.name)"
    }

    /// Takes the run lock and records the run as started; nil (the report says why) when either
    /// fails, or when `slot` was already run by another node (`alreadyRun`).
    mutating func begin(lockTimeout: Duration, slot: Date? = nil) async -> (any RunLease)? {
        let lease: any RunLease
        do {
            lease = try await store.lockRuns(source: settings.name, timeout: lockTimeout)
        } catch {
            report.fail(error)
            log.error("\(report.error!)")
            setDuration()
            return nil
        }
        if let slot {
            do {
                if try await store.hasEndedRun(source: settings.name, startedSince: Timestamp.text(slot)) {
                    lease.release()
                    alreadyRun = true
                    log.debug("slot already run (by another node sharing the store)", metadata: ["slot": "\(Timestamp.text(slot))"])
                    return nil
                }
            } catch {
                lease.release()
                report.fail(error)
                log.error("cannot read the runs: \(report.error!)")
                setDuration()
                return nil
            }
        }
        do {
            runId = try await store.beginRun(source: settings.name, dryRun: dryRun, at: Timestamp.now())
        } catch {
            lease.release()
            report.fail(error)
            log.error("cannot record the run: \(report.error!)")
            setDuration()
            return nil
        }
        report.runId = runId
        log[metadataKey: "run"] = "\(runId)"
        log.info("run started", metadata: ["dryRun": "\(dryRun)", "from": "\(settings.origin)"])
        return lease
    }

    /// Ends a run that failed before its plan: nothing was changed. The read phase also writes
    /// (the records go to the staging tables as they arrive), so a failure there may be the
    /// store's (a full disk, an I/O error, a damaged file) and is called so.
    mutating func failBeforePlan(_ error: any Error, entriesRead: Int, staging: (any RunStaging)?) async -> SyncReport {
        report.entriesRead = entriesRead
        report.fail(error)
        let what = SyncFailure.isStoreFailure(error)
            ? "the store failed while the source was read (after \(entriesRead) entries)"
            : "reading the source failed after \(entriesRead) entries"
        report.error = "\(what); nothing was changed: \(report.error!)"
        log.error("\(report.error!)")
        setDuration()
        do {
            if let staging {
                if let dropped = try await store.recordFailedRun(runId, report: report, at: Timestamp.now(),
                                                                 keepRecords: settings.options.keepRecords, staging: staging) {
                    log.warning("the failed run's records were not kept: \(SyncFailure(dropped).message)")
                }
            } else {
                try await store.finishRun(runId, report: report, at: Timestamp.now(), keepRecords: settings.options.keepRecords,
                                          staging: nil)
            }
        } catch {
            log.error("cannot record the end of the run (it stays 'running' until the next run): \(SyncFailure(error).message)")
        }
        return report
    }

    /// Ends a run that reached its plan: records it unless the plan's transaction already did
    /// (an applied run), and logs its outcome.
    mutating func finish() async -> SyncReport {
        setDuration()
        if report.status != .applied {
            do {
                try await store.finishRun(runId, report: report, at: Timestamp.now(), keepRecords: settings.options.keepRecords,
                                          staging: staging)
            } catch {
                log.error("cannot record the end of the run: \(error)")
            }
        }
        let u = report.users
        log.info("run \(report.status.rawValue)", metadata: [
            "created": "\(u.created)", "updated": "\(u.updated)", "deactivated": "\(u.deactivated)",
            "reactivated": "\(u.reactivated)", "unchanged": "\(u.unchanged)", "skipped": "\(u.skipped)", "identicalRecords": "\(report.identicalRecords)",
            "seconds": "\(String(format: "%.3f", report.durationSeconds))",
        ])
        return report
    }

    private mutating func setDuration() {
        report.durationSeconds = (ContinuousClock.now - clock).secondsValue
    }
}
