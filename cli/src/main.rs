//! `countersign` binary.
fn main() {}
