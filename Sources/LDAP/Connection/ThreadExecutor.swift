import Foundation

/// A serial executor that runs every job on one dedicated thread.
///
/// libldap's synchronous calls (connect, bind, `ldap_result`) block their thread until the
/// server answers. Running them on Swift's cooperative pool would starve it (it has one thread
/// per core), so each `LDAPConnection` actor runs on a thread of its own instead.
final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    // `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread finish the jobs it has and exit.
    func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        // A write to a connection the server has closed raises SIGPIPE in the writing thread,
        // and libldap does not always write with MSG_NOSIGNAL. Blocked here, the write fails
        // with EPIPE and libldap reports LDAP_SERVER_DOWN; the process is not killed, and no
        // process-wide signal setting is changed.
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipe, nil)

        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
