//! `aws-chunked` throughput: framing and signing a body, and decoding and verifying it, against
//! plain SHA-256 of the same bytes (the floor: every byte must be hashed once per chunk).
//!
//! Run: `cargo bench -p countersign --bench chunked`. Compare within one run (shared machines).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use countersign::chunked::{ChunkSigner, ChunkedDecoder, Seed, StreamingMode};
use countersign::{AmzDate, Scope, SecretKey, Signature, SigningKey};
use divan::counter::BytesCount;

fn main() {
    divan::main();
}

const BODY: usize = 4 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// Size of the pieces the decoder is fed (a typical socket read).
const READ: usize = 16 * 1024;

fn seed() -> Seed {
    let date = AmzDate::parse("20130524T000000Z").unwrap();
    let scope = Scope {
        date: date.date_stamp(),
        region: "us-east-1",
        service: "s3",
    };
    let key = SigningKey::derive(&SecretKey::new("secret"), scope.date, "us-east-1", "s3");
    Seed::new(
        key,
        date,
        scope,
        Signature::from_hex(&"5a".repeat(32)).unwrap(),
    )
}

fn encode(mode: StreamingMode, data: &[u8]) -> Vec<u8> {
    let mut signer = match mode {
        StreamingMode::UnsignedWithTrailer => ChunkSigner::unsigned(),
        _ => ChunkSigner::new(mode, seed()),
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 100 + 256);
    for piece in data.chunks(CHUNK) {
        out.extend(signer.chunk(piece));
    }
    out.extend(signer.finish());
    out
}

const MODES: [StreamingMode; 3] = [
    StreamingMode::Signed,
    StreamingMode::SignedWithTrailer,
    StreamingMode::UnsignedWithTrailer,
];

#[divan::bench]
fn sha256_only(bencher: divan::Bencher) {
    let data = vec![b'a'; BODY];
    bencher
        .counter(BytesCount::new(BODY))
        .bench(|| countersign::sha256(divan::black_box(&data)));
}

#[divan::bench(args = MODES)]
fn sign(bencher: divan::Bencher, mode: StreamingMode) {
    let data = vec![b'a'; BODY];
    bencher
        .counter(BytesCount::new(BODY))
        .bench(|| encode(mode, divan::black_box(&data)));
}

#[divan::bench(args = MODES)]
fn decode(bencher: divan::Bencher, mode: StreamingMode) {
    let body = encode(mode, &vec![b'a'; BODY]);
    bencher.counter(BytesCount::new(BODY)).bench(|| {
        let seed = mode.signs_chunks().then(seed);
        let mut decoder = ChunkedDecoder::new(mode, seed, BODY as u64);
        let mut decoded = 0;
        for piece in divan::black_box(&body).chunks(READ) {
            let mut input = piece;
            while !input.is_empty() {
                let step = decoder.decode(input).unwrap();
                decoded += step.data.len();
                input = &input[step.consumed..];
            }
        }
        assert_eq!(decoded, BODY);
        decoder.finish().unwrap()
    });
}
