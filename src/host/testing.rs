//! What the host's own tests need to find their prerequisites the way the
//! integration tests do (tests/common's `require`).

/// Whether a prerequisite is there. Under CI (or ELYSIACTL_TEST_REQUIRE_ALL)
/// a missing one fails the test; elsewhere the test is skipped, loudly.
pub fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("ELYSIACTL_TEST_REQUIRE_ALL").is_some()
    {
        panic!("{what} is missing; run .ci/prepare");
    }
    eprintln!("SKIPPED: {what} is missing (run .ci/prepare to install it)");
    false
}
