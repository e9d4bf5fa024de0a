//! End-to-end tests: the real `countersign-server` and `countersign` binaries, started as
//! processes, and real SigV4 clients talking to them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    reason = "test code: a panic is a failure"
)]

mod support;

mod e2e {
    mod chunked;
    mod cli;
    mod clients;
    mod gateway;
    mod login;
    mod policies;
    mod request;
    mod server;
    mod sessions;
}
