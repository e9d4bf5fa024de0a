//! Smoke test of the built binary.
//!
//! Its other job: a package with an integration test gets its binaries built by `cargo test`, so
//! `cargo test --workspace` rebuilds `target/<profile>/countersign` before the end-to-end tests in
//! `tests/` run it. Without this file the e2e tests would run a stale (or missing) binary.

use std::process::Command;

#[test]
fn help_shows_an_example_for_each_command() {
    for cmd in [
        "sign",
        "presign",
        "request",
        "whoami",
        "configure",
        "login",
        "logout",
        "admin",
        "admin principal create",
        "admin principal list",
        "admin principal disable",
        "admin principal enable",
        "admin key create",
        "admin key list",
        "admin key disable",
        "admin key enable",
        "admin key delete",
        "admin key rotate",
        "completions",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
            .args(cmd.split(' '))
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(&format!("countersign {cmd} ")),
            "{cmd}: {help}"
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef countersign"),
        ("fish", "complete -c countersign"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("whoami"), "{shell}");
    }
}
