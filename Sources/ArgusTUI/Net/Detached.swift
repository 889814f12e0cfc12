import Glibc

/// Runs `body` on a new detached thread: for a blocking call (libcurl's `curl_easy_perform`) off the UI thread.
/// What Foundation's `Thread { … }.start()` did; the TUI builds on FoundationEssentials, which has no `Thread`.
func detached(_ body: @escaping @Sendable () -> Void) {
    final class Work {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let work = Unmanaged.passRetained(Work(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, &attributes,
        { p in
            Unmanaged<Work>.fromOpaque(p!).takeRetainedValue().body()
            return nil
        }, work)
    // Only when the process is out of threads or memory; there is nothing sensible to go on with.
    precondition(rc == 0, "argus-tui: cannot start a thread (error \(rc))")
}
