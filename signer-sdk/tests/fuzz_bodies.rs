//! The cargo-fuzz bodies (`fuzz/bodies.rs`) run on stable with proptest, over random text and
//! over text shaped like the inputs they parse, so CI exercises them without nightly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use proptest::prelude::*;

fn config() -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: base.cases.max(512),
        ..base
    }
}

/// Pieces real inputs are made of, and their near misses.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "AWS4-HMAC-SHA256",
            "Credential=",
            "SignedHeaders=",
            "Signature=",
            "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
            "AKIDEXAMPLE/20150830/us-east-1/service",
            "host;x-amz-date",
            "host",
            "x-amz-date;host",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
            ",",
            ", ",
            " ",
            "\t",
            "=",
            "/",
            ";",
            "%",
            "%2F",
            "%FF",
            "&",
            "?",
            "X-Amz-Algorithm=",
            "X-Amz-Credential=",
            "X-Amz-Date=",
            "20150830T123600Z",
            "X-Amz-Expires=",
            "604800",
            "X-Amz-SignedHeaders=",
            "X-Amz-Signature=",
            "X-Amz-Security-Token=",
            "\nhost: example.amazonaws.com",
            "\nx-amz-date: 20150830T123600Z",
            "\nAuthorization: ",
            "\nx-amz-content-sha256: UNSIGNED-PAYLOAD",
            "\nx-amz-meta-a: 1",
            ".",
            "..",
            "//",
            "+",
            "~",
            "é",
            "ሴ",
        ])
        .prop_map(String::from),
        "[ -~]{0,6}",
        any::<char>().prop_map(String::from),
    ]
}

fn shaped() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..24).prop_map(|v| v.concat())
}

/// A well-formed header with parameter spellings and sizes pushed to the limits.
fn authorization_header() -> impl Strategy<Value = String> {
    let name = "[a-z0-9-]{1,120}";
    (
        prop::collection::btree_set(name, 1..64),
        prop::sample::select(vec![",", ", ", " ,\t"]),
        "[0-9a-fA-F]{64}",
        "[A-Z0-9]{1,128}",
    )
        .prop_map(|(names, sep, sig, id)| {
            let signed: Vec<String> = names.into_iter().collect();
            format!(
                "AWS4-HMAC-SHA256 Credential={id}/20150830/us-east-1/service/aws4_request{sep}SignedHeaders={}{sep}Signature={sig}",
                signed.join(";")
            )
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn authorization_body_holds_on_any_text(text in any::<String>()) {
        bodies::authorization(&text);
    }

    #[test]
    fn authorization_body_holds_on_header_shaped_text(text in shaped()) {
        bodies::authorization(&text);
    }

    #[test]
    fn authorization_body_holds_on_well_formed_headers(text in authorization_header()) {
        bodies::authorization(&text);
    }

    #[test]
    fn presigned_query_body_holds_on_any_text(text in any::<String>()) {
        bodies::presigned_query(&text);
    }

    #[test]
    fn presigned_query_body_holds_on_query_shaped_text(text in shaped()) {
        bodies::presigned_query(&text);
    }

    #[test]
    fn chunked_body_holds_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        bodies::chunked(&bytes);
    }

    #[test]
    fn chunked_body_holds_on_damaged_valid_bodies(input in damaged_chunked_body()) {
        bodies::chunked(&input);
    }

    #[test]
    fn canonical_uri_body_holds_on_any_text(text in any::<String>()) {
        bodies::canonical_uri(&text);
    }

    #[test]
    fn canonical_uri_body_holds_on_path_shaped_text(text in shaped()) {
        bodies::canonical_uri(&text);
    }
}

/// The control byte and a valid `aws-chunked` body that [`bodies::chunked`]'s decoder
/// accepts, then damaged by a few byte changes, insertions or deletions (or none).
fn damaged_chunked_body() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..3,
        prop::collection::vec(any::<u8>(), 0..64),
        1usize..24,
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..3),
    )
        .prop_map(|(mode_index, data, chunk_size, damage)| {
            let mode = bodies::CHUNKED_MODES[usize::from(mode_index)];
            let mut signer = match mode {
                countersign::chunked::StreamingMode::UnsignedWithTrailer => {
                    countersign::chunked::ChunkSigner::unsigned()
                }
                _ => countersign::chunked::ChunkSigner::new(mode, bodies::chunked_seed()),
            };
            let control = u8::try_from(data.len()).unwrap() << 2 | mode_index;
            let mut out = vec![control];
            for piece in data.chunks(chunk_size) {
                out.extend(signer.chunk(piece));
            }
            out.extend(signer.finish());
            for (at, byte, kind) in damage {
                let at = 1 + at % out.len();
                match kind {
                    0 if at < out.len() => out[at] = byte,
                    1 => out.insert(at, byte),
                    _ if at < out.len() => {
                        out.remove(at);
                    }
                    _ => {}
                }
            }
            out
        })
}

/// Valid bodies from the generator above decode (so the damaged ones start from a body the
/// decoder accepts, and the law's acceptance branch is exercised).
#[test]
fn undamaged_chunked_bodies_are_accepted() {
    for (mode_index, len) in [(0u8, 0u8), (1, 5), (2, 63)] {
        let mode = bodies::CHUNKED_MODES[usize::from(mode_index)];
        let mut signer = match mode {
            countersign::chunked::StreamingMode::UnsignedWithTrailer => {
                countersign::chunked::ChunkSigner::unsigned()
            }
            _ => countersign::chunked::ChunkSigner::new(mode, bodies::chunked_seed()),
        };
        let data = vec![b'x'; usize::from(len)];
        let mut body = Vec::new();
        for piece in data.chunks(7) {
            body.extend(signer.chunk(piece));
        }
        body.extend(signer.finish());
        let mut decoder = countersign::chunked::ChunkedDecoder::new(
            mode,
            Some(bodies::chunked_seed()),
            u64::from(len),
        );
        let mut rest = &body[..];
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest).unwrap().consumed..];
        }
        assert_eq!(decoder.finish().unwrap().decoded_length, u64::from(len));
        let mut input = vec![len << 2 | mode_index];
        input.extend(body);
        bodies::chunked(&input);
    }
}

/// A header of exactly `MAX_AUTHORIZATION_LEN` bytes with `sep` between parameters.
fn header_at_the_limit(sep: &str) -> String {
    let head = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request{sep}SignedHeaders="
    );
    let tail = format!("{sep}Signature={}", "a".repeat(64));
    let room = countersign::MAX_AUTHORIZATION_LEN - head.len() - tail.len();
    let count = 40;
    let width = (room - (count - 1)) / count;
    let mut names: Vec<String> = (0..count)
        .map(|i| format!("n{i:03}{}", "x".repeat(width - 4)))
        .collect();
    let short = room - (count - 1) - width * count;
    names[count - 1].push_str(&"x".repeat(short));
    let text = format!("{head}{}{tail}", names.join(";"));
    assert_eq!(text.len(), countersign::MAX_AUTHORIZATION_LEN);
    text
}

/// Found by the fixed-point law: a header at the length limit with `,` separators parsed, but
/// its rendering (with `, `) was two bytes over the limit and no longer parsed. The limit now
/// applies to the rendered form too.
#[test]
fn authorization_at_the_length_limit_renders_to_a_parsable_header() {
    let tight = header_at_the_limit(",");
    assert!(matches!(
        countersign::Authorization::parse(&tight),
        Err(countersign::AuthParseError::TooLong {
            len: 8194,
            max: 8192
        })
    ));
    bodies::authorization(&tight);
    let canonical = header_at_the_limit(", ");
    let parsed = countersign::Authorization::parse(&canonical).unwrap();
    assert_eq!(parsed.to_string(), canonical);
    bodies::authorization(&canonical);
}
