//! The `countersign-server` binary's command line. (Having an integration test here also makes
//! `cargo test --workspace` build the binary that the end-to-end tests in `tests/` start.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

#[test]
fn help_lists_every_subcommand() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "migrate", "principal", "key", "gc"] {
        assert!(
            text.contains(sub),
            "--help does not mention `{sub}`:\n{text}"
        );
    }
}

#[test]
fn migrate_creates_the_schema_and_a_bad_duration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());

    let out = Command::new(BIN)
        .args(["serve", "--max-skew", "15 parsecs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--max-skew") || err.contains("15 parsecs"),
        "{err}"
    );
}
