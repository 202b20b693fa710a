//! For unit tests that need something installed (a Docker engine, the
//! model): found, or the test is skipped with a `SKIPPED:` line, except under
//! CI (`CI` or `ELYSIACTL_TEST_REQUIRE_ALL` set), where it fails, as the
//! integration tests do with their prerequisites (tests/common's `require`).

/// Whether `what` is there; `install` says how to get it.
pub fn require(what: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("ELYSIACTL_TEST_REQUIRE_ALL").is_some()
    {
        panic!("{what} is missing; run .ci/prepare ({install})");
    }
    eprintln!("SKIPPED: {what} is missing (run `{install}` to test with it)");
    false
}

/// A single-threaded runtime for a unit test that drives a client's futures.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
}
