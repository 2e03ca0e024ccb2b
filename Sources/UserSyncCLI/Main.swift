import Dispatch

/// The process entry point: runs `UserSyncCommand` (an AsyncParsableCommand) on the concurrency
/// runtime while the main thread waits.
///
/// Not `@main` on the command itself: an async `main` parks the main thread in libdispatch's
/// `dispatch_main`/`sigsuspend`, and valgrind (memcheck, callgrind) crashes on every such
/// program here ("VALGRIND INTERNAL ERROR: … signal 11" once the first task suspends). Waiting on
/// a semaphore instead keeps usersync measurable with valgrind, and changes nothing else.
@main
enum Main {
    static func main() {
        let done = DispatchSemaphore(value: 0)
        // Detached: `main()` is on the main actor, and a plain Task would inherit it and wait
        // for this very thread.
        Task.detached {
            // Parses the arguments, runs the command, and exits the process with its status.
            await UserSyncCommand.main()
            done.signal()
        }
        done.wait()
    }
}
