//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

pub mod proxy;
pub mod server;

/// Path of a workspace binary (`countersign`, `countersign-server`) next to this test
/// executable: `target/<profile>/<name>`.
///
/// The tests never build it themselves. Cargo builds a package's binaries (not only their
/// unit-test harnesses) only when one of that package's integration tests is selected, so
/// `cargo test --workspace` rebuilds `countersign` because `cli/tests/help.rs` exists; a package
/// without an integration test leaves a stale binary in place. `cargo test -p countersign-e2e`
/// alone builds neither: run `cargo build --workspace` first.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build --workspace` \
         first) so the binaries are built",
        path.display()
    );
    path
}

/// Peak resident memory (`VmHWM`, KiB) of a running process; `None` once it has exited.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
