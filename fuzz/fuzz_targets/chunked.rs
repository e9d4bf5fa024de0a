//! cargo-fuzz target: see `fuzz/bodies.rs` (`bodies::chunked`), which
//! `signer-sdk/tests/fuzz_bodies.rs` also runs on stable.

#![no_main]

#[path = "../bodies.rs"]
#[allow(dead_code, reason = "each target runs one of the bodies")]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bodies::chunked(data);
});
