//! Streaming (`aws-chunked`) bodies: the AWS documentation's examples reproduced byte for byte
//! by the signer and accepted by the decoder, every kind of corruption refused with its own
//! error, and property tests over random bodies, chunk sizes and input splits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failure"
)]

use std::path::Path;

use countersign::chunked::{
    ChunkSigner, ChunkedDecoder, ChunkedError, DecoderLimits, Finished, Seed, StreamingMode,
    encoded_length,
};
use countersign::{AmzDate, ErrorCode, Scope, SecretKey, Signature, SigningKey, StringToSign};
use proptest::prelude::*;
use serde_json::Value;

fn doc() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors/aws-doc-examples/aws-doc-examples.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn date() -> AmzDate {
    AmzDate::parse("20130524T000000Z").unwrap()
}

fn scope() -> Scope<'static> {
    Scope {
        date: date().date_stamp(),
        region: "us-east-1",
        service: "s3",
    }
}

fn doc_key(doc: &Value) -> SigningKey {
    let creds = &doc["credentials_s3"];
    assert_eq!(creds["scope"], "20130524/us-east-1/s3/aws4_request");
    let secret = SecretKey::new(creds["secret_access_key"].as_str().unwrap());
    SigningKey::derive(&secret, date().date_stamp(), "us-east-1", "s3")
}

/// The example's seed signature, recomputed from its published canonical request.
fn seed_of(example: &Value, key: &SigningKey) -> Seed {
    let seed = &example["seed_request"];
    let creq = seed["canonical_request"].as_str().unwrap();
    let sts = StringToSign::new(date(), scope(), &countersign::sha256(creq.as_bytes()));
    assert_eq!(sts.to_string(), seed["string_to_sign"].as_str().unwrap());
    let signature = sts.sign(key);
    assert_eq!(signature.to_string(), seed["signature"].as_str().unwrap());
    assert!(creq.ends_with(&format!(
        "\n{}",
        seed["signed_headers_values"]["x-amz-content-sha256"]
            .as_str()
            .unwrap()
    )));
    Seed::new(key.clone(), date(), scope(), signature)
}

/// The example's chunk data: 65536 then 1024 bytes of `a`.
fn doc_chunks(example: &Value) -> Vec<Vec<u8>> {
    example["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| vec![b'a'; usize::try_from(c["chunk_size"].as_u64().unwrap()).unwrap()])
        .filter(|c| !c.is_empty())
        .collect()
}

/// The encoded body built from the published signatures alone (not from our signer).
fn published_body(example: &Value, tail: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for c in example["chunks"].as_array().unwrap() {
        let size = c["chunk_size"].as_u64().unwrap();
        body.extend_from_slice(
            format!(
                "{:x};chunk-signature={}\r\n",
                size,
                c["signature"].as_str().unwrap()
            )
            .as_bytes(),
        );
        if size > 0 {
            body.extend(std::iter::repeat_n(b'a', usize::try_from(size).unwrap()));
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(tail.as_bytes());
    body
}

/// Feeds `body` in pieces of `split` bytes (0 = all at once); returns the data and the end.
fn decode_in(
    mut decoder: ChunkedDecoder,
    body: &[u8],
    split: usize,
) -> (Vec<u8>, Result<Finished, ChunkedError>) {
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if split == 0 {
        vec![body]
    } else {
        body.chunks(split).collect()
    };
    for piece in pieces {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.decode(input) {
                Ok(step) => {
                    assert!(step.consumed > 0, "no progress on a non-empty input");
                    assert!(step.data.len() <= step.consumed);
                    out.extend_from_slice(step.data);
                    input = &input[step.consumed..];
                }
                Err(e) => {
                    assert_eq!(decoder.decode(input), Err(e.clone()), "errors are sticky");
                    return (out, Err(e));
                }
            }
        }
    }
    (out, decoder.finish())
}

fn decode(decoder: ChunkedDecoder, body: &[u8]) -> Result<Finished, ChunkedError> {
    decode_in(decoder, body, 0).1
}

#[test]
fn signer_reproduces_the_published_chunked_upload_byte_for_byte() {
    let doc = doc();
    let ex = &doc["chunked_upload_example"];
    let key = doc_key(&doc);
    let mut signer = ChunkSigner::new(StreamingMode::Signed, seed_of(ex, &key));
    let mut body = Vec::new();
    for (data, published) in doc_chunks(ex).iter().zip(ex["chunks"].as_array().unwrap()) {
        let frame = signer.chunk(data);
        let header = format!(
            "{};chunk-signature={}\r\n",
            published["chunk_size_hex"].as_str().unwrap(),
            published["signature"].as_str().unwrap()
        );
        assert_eq!(&frame[..header.len()], header.as_bytes());
        assert_eq!(
            signer.last_signature().unwrap().to_string(),
            published["signature"].as_str().unwrap()
        );
        body.extend(frame);
    }
    let tail = signer.finish();
    let last = &ex["chunks"][2]["signature"].as_str().unwrap();
    assert_eq!(tail, format!("0;chunk-signature={last}\r\n\r\n").as_bytes());
    body.extend(tail);
    assert_eq!(body, published_body(ex, "\r\n"));
    let content_length = ex["encoded_length_check"]["content_length"]
        .as_u64()
        .unwrap();
    assert_eq!(body.len() as u64, content_length);
    assert_eq!(
        encoded_length(StreamingMode::Signed, 66560, 65536),
        Some(content_length)
    );
}

#[test]
fn decoder_accepts_the_published_chunked_upload_in_any_split() {
    let doc = doc();
    let ex = &doc["chunked_upload_example"];
    let key = doc_key(&doc);
    let body = published_body(ex, "\r\n");
    for split in [0, 1, 2, 3, 7, 64, 85, 4096, 65536, 65627] {
        let decoder = ChunkedDecoder::new(StreamingMode::Signed, Some(seed_of(ex, &key)), 66560);
        let (data, end) = decode_in(decoder, &body, split);
        let end = end.unwrap_or_else(|e| panic!("split {split}: {e}"));
        assert_eq!(data, vec![b'a'; 66560]);
        assert_eq!(end.decoded_length, 66560);
        assert_eq!(end.chunks, 2);
        assert!(end.trailers.is_empty());
    }
}

#[test]
fn decoder_names_the_chunk_whose_published_signature_was_altered() {
    let doc = doc();
    let ex = &doc["chunked_upload_example"];
    let key = doc_key(&doc);
    let body = published_body(ex, "\r\n");
    for chunk in 0..3u64 {
        let published = ex["chunks"][chunk as usize]["signature"].as_str().unwrap();
        let at = find(&body, published.as_bytes());
        let mut bad = body.clone();
        bad[at + 10] = if bad[at + 10] == b'0' { b'1' } else { b'0' };
        let decoder = ChunkedDecoder::new(StreamingMode::Signed, Some(seed_of(ex, &key)), 66560);
        let err = decode(decoder, &bad).unwrap_err();
        assert_eq!(err, ChunkedError::ChunkSignatureMismatch { chunk });
        assert_eq!(err.code(), ErrorCode::SignatureDoesNotMatch);
    }
}

#[test]
fn signer_reproduces_the_published_trailer_example_byte_for_byte() {
    let doc = doc();
    let ex = &doc["trailer_example"];
    let key = doc_key(&doc);
    let mut signer = ChunkSigner::new(StreamingMode::SignedWithTrailer, seed_of(ex, &key));
    let mut body = Vec::new();
    for data in doc_chunks(ex) {
        body.extend(signer.chunk(&data));
    }
    let trailer = &ex["trailer"];
    assert_eq!(
        trailer["canonical_trailer"],
        "x-amz-checksum-crc32c:sOO8/Q==\n"
    );
    let tail = signer.finish_with_trailers(&[("x-amz-checksum-crc32c", "sOO8/Q==")]);
    let wire_tail = ex["wire_tail"].as_str().unwrap();
    assert_eq!(String::from_utf8(tail.clone()).unwrap(), wire_tail);
    assert!(wire_tail.contains(trailer["signature"].as_str().unwrap()));
    body.extend(tail);
    let tail_from_published = wire_tail.split_once("\r\n").unwrap().1;
    assert_eq!(body, published_body(ex, tail_from_published));
}

#[test]
fn decoder_accepts_the_published_trailer_example_and_returns_the_trailer() {
    let doc = doc();
    let ex = &doc["trailer_example"];
    let key = doc_key(&doc);
    let tail = ex["wire_tail"]
        .as_str()
        .unwrap()
        .split_once("\r\n")
        .unwrap()
        .1;
    let body = published_body(ex, tail);
    let new = || {
        ChunkedDecoder::new(
            StreamingMode::SignedWithTrailer,
            Some(seed_of(ex, &key)),
            66560,
        )
        .expect_trailer("x-amz-checksum-crc32c")
    };
    for split in [0, 1, 5, 1000] {
        let (data, end) = decode_in(new(), &body, split);
        assert_eq!(data.len(), 66560);
        let end = end.unwrap();
        assert_eq!(
            end.trailers,
            vec![("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())]
        );
    }
    // The published trailer signature with one digit changed.
    let published = ex["trailer"]["signature"].as_str().unwrap();
    let at = find(&body, published.as_bytes());
    let mut bad = body.clone();
    bad[at] = if bad[at] == b'd' { b'e' } else { b'd' };
    assert_eq!(
        decode(new(), &bad),
        Err(ChunkedError::TrailerSignatureMismatch)
    );
    // The checksum value changed: covered by the trailer signature.
    let mut bad = body.clone();
    let at = find(&body, b"sOO8");
    bad[at] = b'X';
    assert_eq!(
        decode(new(), &bad),
        Err(ChunkedError::TrailerSignatureMismatch)
    );
    // A trailer other than the declared one.
    let err = decode(new().expect_trailer("x-amz-checksum-sha256"), &body).unwrap_err();
    assert!(
        matches!(err, ChunkedError::MalformedTrailer { .. }),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::MalformedTrailerError);
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

// ---- Own round trips and each error, on small bodies ----

fn test_seed() -> Seed {
    let key = SigningKey::derive(
        &SecretKey::new("test-secret"),
        date().date_stamp(),
        "us-east-1",
        "s3",
    );
    let sig = Signature::from_hex(&"5a".repeat(32)).unwrap();
    Seed::new(key, date(), scope(), sig)
}

fn signer(mode: StreamingMode) -> ChunkSigner {
    match mode {
        StreamingMode::UnsignedWithTrailer => ChunkSigner::unsigned(),
        _ => ChunkSigner::new(mode, test_seed()),
    }
}

fn encode(mode: StreamingMode, data: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut s = signer(mode);
    let mut out = Vec::new();
    for piece in data.chunks(chunk_size) {
        out.extend(s.chunk(piece));
    }
    out.extend(s.finish());
    out
}

fn decoder(mode: StreamingMode, len: u64) -> ChunkedDecoder {
    ChunkedDecoder::new(mode, mode.signs_chunks().then(test_seed), len)
}

const MODES: [StreamingMode; 3] = [
    StreamingMode::Signed,
    StreamingMode::SignedWithTrailer,
    StreamingMode::UnsignedWithTrailer,
];

#[test]
fn unsigned_trailer_body_has_the_documented_shape() {
    let body = encode(StreamingMode::UnsignedWithTrailer, b"hello world", 6);
    assert_eq!(
        String::from_utf8(body.clone()).unwrap(),
        "6\r\nhello \r\n5\r\nworld\r\n0\r\n\
         x-amz-checksum-sha256:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=\r\n\r\n"
    );
    assert_eq!(
        encoded_length(StreamingMode::UnsignedWithTrailer, 11, 6),
        Some(body.len() as u64)
    );
    let end = decode(decoder(StreamingMode::UnsignedWithTrailer, 11), &body).unwrap();
    assert_eq!(end.trailers[0].0, "x-amz-checksum-sha256");
}

#[test]
fn mode_names_round_trip() {
    for mode in MODES {
        assert_eq!(
            StreamingMode::from_content_sha256(mode.content_sha256()),
            Some(mode)
        );
        assert_eq!(mode.to_string(), mode.content_sha256());
    }
    assert_eq!(StreamingMode::from_content_sha256("UNSIGNED-PAYLOAD"), None);
    assert_eq!(encoded_length(StreamingMode::Signed, 1, 0), None);
    assert_eq!(encoded_length(StreamingMode::Signed, u64::MAX, 1), None);
}

#[test]
fn empty_body_is_just_the_final_chunk() {
    for mode in MODES {
        let body = encode(mode, b"", 10);
        assert_eq!(encoded_length(mode, 0, 10), Some(body.len() as u64));
        let end = decode(decoder(mode, 0), &body).unwrap();
        assert_eq!((end.decoded_length, end.chunks), (0, 0));
    }
}

fn expect(mode: StreamingMode, len: u64, body: &[u8], code: ErrorCode) -> ChunkedError {
    for split in [0, 1] {
        let (_, end) = decode_in(decoder(mode, len), body, split);
        let err = end.expect_err("corrupt body accepted");
        assert_eq!(err.code(), code, "{err}");
        assert!(!err.to_string().is_empty());
    }
    decode(decoder(mode, len), body).unwrap_err()
}

#[test]
fn malformed_chunk_headers_are_refused() {
    let sig = "a".repeat(64);
    let cases: Vec<(StreamingMode, String)> = vec![
        (StreamingMode::Signed, "zz;chunk-signature=x\r\n".into()),
        (StreamingMode::Signed, ";chunk-signature=x\r\n".into()),
        (
            StreamingMode::Signed,
            format!("5;chunk-signature={}\r\n", &sig[1..]),
        ),
        (
            StreamingMode::Signed,
            format!("5;chunk-signature={}\r\n", sig.to_uppercase()),
        ),
        (StreamingMode::Signed, format!("5;chunk-signatur={sig}\r\n")),
        (StreamingMode::Signed, "5\r\n".into()),
        (StreamingMode::Signed, format!("5;chunk-signature={sig}\n")),
        (
            StreamingMode::Signed,
            format!("11111111111111111;chunk-signature={sig}\r\n"),
        ),
        (
            StreamingMode::UnsignedWithTrailer,
            format!("5;chunk-signature={sig}\r\n"),
        ),
        (StreamingMode::UnsignedWithTrailer, "5 \r\n".into()),
        (StreamingMode::UnsignedWithTrailer, "+5\r\n".into()),
    ];
    for (mode, header) in cases {
        let err = expect(mode, 5, header.as_bytes(), ErrorCode::InvalidArgument);
        assert!(
            matches!(err, ChunkedError::MalformedChunkHeader { chunk: 0, .. }),
            "{header:?}: {err}"
        );
    }
}

#[test]
fn size_in_upper_case_hex_is_accepted() {
    // smithy-rs writes unsigned chunk sizes with `{:X}`.
    let body = b"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-amz-checksum-sha256:ccSA35PWri8e+tFEfGbJUl4xYhjPUfyNntgy8trxi3M=\r\n\r\n";
    let (data, end) = decode_in(decoder(StreamingMode::UnsignedWithTrailer, 26), body, 1);
    end.unwrap();
    assert_eq!(data, b"abcdefghijklmnopqrstuvwxyz");
}

#[test]
fn a_header_line_over_the_limit_is_refused_without_buffering_it() {
    let limits = DecoderLimits {
        max_line_len: 100,
        ..DecoderLimits::default()
    };
    let line = vec![b'0'; 10_000];
    let d = decoder(StreamingMode::Signed, 0).limits(limits);
    let err = decode(d, &line).unwrap_err();
    assert_eq!(
        err,
        ChunkedError::LineTooLong {
            chunk: 0,
            limit: 100
        }
    );
    // Exactly at the limit (CRLF included) is fine.
    let body = encode(StreamingMode::Signed, b"abc", 3);
    let header_len = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    let exact = DecoderLimits {
        max_line_len: header_len,
        ..DecoderLimits::default()
    };
    decode_in(decoder(StreamingMode::Signed, 3).limits(exact), &body, 1)
        .1
        .unwrap();
    let short = DecoderLimits {
        max_line_len: header_len - 1,
        ..DecoderLimits::default()
    };
    assert!(matches!(
        decode(decoder(StreamingMode::Signed, 3).limits(short), &body),
        Err(ChunkedError::LineTooLong { .. })
    ));
}

#[test]
fn a_chunk_over_the_size_limit_is_refused_before_its_data() {
    let limits = DecoderLimits {
        max_chunk_size: 1024,
        ..DecoderLimits::default()
    };
    let body = encode(StreamingMode::Signed, &[7u8; 1025], 1025);
    let header_len = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut d = decoder(StreamingMode::Signed, 1025).limits(limits);
    let err = d.decode(&body[..header_len]).unwrap_err();
    assert_eq!(
        err,
        ChunkedError::ChunkTooLarge {
            chunk: 0,
            size: 1025,
            limit: 1024
        }
    );
    assert_eq!(err.code(), ErrorCode::EntityTooLarge);
    assert_eq!(err.code().http_status(), 413);
    let ok = encode(StreamingMode::Signed, &[7u8; 1025], 1024);
    decode(decoder(StreamingMode::Signed, 1025).limits(limits), &ok).unwrap();
}

#[test]
fn decoded_length_must_match_the_declared_one() {
    for mode in MODES {
        let body = encode(mode, b"0123456789", 4);
        let err = expect(mode, 9, &body, ErrorCode::IncompleteBody);
        assert_eq!(
            err,
            ChunkedError::DecodedLengthMismatch {
                declared: 9,
                received: 10,
                at_least: true
            }
        );
        let err = expect(mode, 11, &body, ErrorCode::IncompleteBody);
        assert_eq!(
            err,
            ChunkedError::DecodedLengthMismatch {
                declared: 11,
                received: 10,
                at_least: false
            }
        );
    }
}

#[test]
fn a_truncated_stream_is_refused_at_the_end_of_input() {
    for mode in MODES {
        let body = encode(mode, b"0123456789", 4);
        for cut in 0..body.len() {
            let (data, end) = decode_in(decoder(mode, 10), &body[..cut], 1);
            assert_eq!(
                end,
                Err(ChunkedError::Truncated {
                    decoded: data.len() as u64
                }),
                "{mode} cut at {cut}"
            );
        }
    }
    assert_eq!(
        ChunkedError::Truncated { decoded: 0 }.code(),
        ErrorCode::IncompleteBody
    );
}

#[test]
fn bytes_after_the_final_chunk_are_refused() {
    for mode in MODES {
        let mut body = encode(mode, b"0123456789", 4);
        body.push(b'x');
        let err = expect(mode, 10, &body, ErrorCode::InvalidArgument);
        assert_eq!(err, ChunkedError::DataAfterFinalChunk);
    }
    // In the signed mode, a trailer where none is expected.
    let body = encode(StreamingMode::Signed, b"abc", 3);
    let mut with_trailer = body[..body.len() - 2].to_vec();
    with_trailer.extend_from_slice(b"x-amz-checksum-sha256:AAAA\r\n\r\n");
    let err = expect(
        StreamingMode::Signed,
        3,
        &with_trailer,
        ErrorCode::InvalidArgument,
    );
    assert_eq!(err, ChunkedError::DataAfterFinalChunk);
    // Garbage longer than a line, and a bare LF, in the same place.
    for junk in [&[b'x'; 1000][..], b"\n"] {
        let mut bad = body[..body.len() - 2].to_vec();
        bad.extend_from_slice(junk);
        let err = expect(StreamingMode::Signed, 3, &bad, ErrorCode::InvalidArgument);
        assert_eq!(err, ChunkedError::DataAfterFinalChunk);
    }
}

#[test]
fn an_empty_piece_makes_no_chunk() {
    let mut s = signer(StreamingMode::Signed);
    let before = s.last_signature().unwrap().to_string();
    assert!(s.chunk(b"").is_empty());
    assert_eq!(s.chunk_header(b""), None);
    assert_eq!(s.last_signature().unwrap().to_string(), before);
    let header = s.chunk_header(b"abc").unwrap();
    assert!(header.starts_with("3;chunk-signature=") && header.ends_with("\r\n"));
    let mut body = header.into_bytes();
    body.extend_from_slice(b"abc\r\n");
    body.extend(s.finish());
    assert_eq!(body, encode(StreamingMode::Signed, b"abc", 3));
}

#[test]
fn data_longer_than_its_chunk_size_is_refused() {
    let body = b"3\r\nabcd\r\n0\r\n\r\n";
    let err = expect(
        StreamingMode::UnsignedWithTrailer,
        3,
        body,
        ErrorCode::InvalidArgument,
    );
    assert_eq!(err, ChunkedError::MissingChunkEnd { chunk: 0 });
}

#[test]
fn checksum_trailers_are_checked() {
    let mode = StreamingMode::UnsignedWithTrailer;
    let body = encode(mode, b"hello world", 5);
    let text = String::from_utf8(body).unwrap();
    let wrong = text.replace("uU0nuZNN", "uU0nuZNM");
    let err = expect(mode, 11, wrong.as_bytes(), ErrorCode::BadDigest);
    assert_eq!(
        err,
        ChunkedError::ChecksumMismatch {
            declared: "uU0nuZNMPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=".into(),
            computed: "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=".into(),
        }
    );
    let malformed = [
        text.replace("x-amz-checksum-sha256:", "x-amz-checksum-sha256 "),
        text.replace("x-amz-checksum-sha256:", ":"),
        text.replace("x-amz-checksum-sha256", "x-amz-checksum-crc32"),
        text.replace(
            "x-amz-checksum-sha256:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=\r\n",
            "",
        ),
        text.replace("\r\n\r\n", "\r\nx-amz-checksum-sha256:x\r\n\r\n"),
        text.replace("zek=\r\n", "zek=\n"),
        text.replace("zek=", "zek=\u{1}"),
    ];
    for bad in malformed {
        let err = expect(mode, 11, bad.as_bytes(), ErrorCode::MalformedTrailerError);
        assert!(
            matches!(err, ChunkedError::MalformedTrailer { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn signed_trailers_need_their_signature_last() {
    let mode = StreamingMode::SignedWithTrailer;
    let text = String::from_utf8(encode(mode, b"hello world", 5)).unwrap();
    let (head, _) = text.split_once("x-amz-trailer-signature:").unwrap();
    let without = format!("{head}\r\n");
    for bad in [
        without,
        text.replace("x-amz-trailer-signature:", "x-amz-trailer-signature:00"),
        // Found by every_single_byte_change_is_refused: an upper-case digit was accepted.
        {
            let (head, sig) = text.split_once("x-amz-trailer-signature:").unwrap();
            format!("{head}x-amz-trailer-signature:{}", sig.to_uppercase())
        },
        text.replace(
            "\r\n\r\n",
            "\r\nx-amz-checksum-sha256:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=\r\n\r\n",
        ),
    ] {
        let err = expect(mode, 11, bad.as_bytes(), ErrorCode::MalformedTrailerError);
        assert!(
            matches!(err, ChunkedError::MalformedTrailer { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn too_many_trailer_lines_are_refused() {
    let mode = StreamingMode::UnsignedWithTrailer;
    let mut body = b"0\r\n".to_vec();
    for i in 0..100 {
        body.extend_from_slice(format!("x-amz-meta-{i}:v\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    let err = expect(mode, 0, &body, ErrorCode::MalformedTrailerError);
    assert!(
        err.to_string().contains("more than 8 trailer lines"),
        "{err}"
    );
}

#[test]
fn a_signed_mode_without_a_seed_is_a_caller_bug() {
    let mut d = ChunkedDecoder::new(StreamingMode::Signed, None, 0);
    assert_eq!(d.decode(b"0"), Err(ChunkedError::MissingSeed));
    assert_eq!(ChunkedError::MissingSeed.code(), ErrorCode::InternalError);
}

#[test]
fn debug_output_shows_no_key_material() {
    let seed = test_seed();
    let shown = format!(
        "{seed:?} {:?} {:?}",
        ChunkSigner::new(StreamingMode::Signed, seed.clone()),
        decoder(StreamingMode::Signed, 0)
    );
    assert!(!shown.contains("test-secret"));
    let key = SigningKey::derive(
        &SecretKey::new("test-secret"),
        date().date_stamp(),
        "us-east-1",
        "s3",
    );
    let key_hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&key_hex));
}

// ---- Properties ----

fn mode() -> impl Strategy<Value = StreamingMode> {
    prop::sample::select(MODES.to_vec())
}

/// Cuts `body` at the given fractions into pieces (possibly empty) and feeds them in order.
fn decode_split(
    mode: StreamingMode,
    len: u64,
    body: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Result<Finished, ChunkedError>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut d = decoder(mode, len);
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([body.len()]) {
        let mut input = &body[start..end];
        start = end;
        while !input.is_empty() {
            match d.decode(input) {
                Ok(step) => {
                    out.extend_from_slice(step.data);
                    input = &input[step.consumed..];
                }
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, d.finish())
}

/// Whether position `i` of a valid `body` is an ASCII letter whose case does not matter:
/// a hex digit of a chunk size, or a trailer name.
fn case_insensitive_at(body: &[u8], chunk_size: usize, len: usize, i: usize) -> bool {
    if !body[i].is_ascii_alphabetic() {
        return false;
    }
    let mut pos = 0;
    let mut remaining = len;
    loop {
        let size = remaining.min(chunk_size);
        let digits = format!("{size:x}").len();
        if (pos..pos + digits).contains(&i) {
            return true;
        }
        pos += body[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        if size == 0 {
            break;
        }
        pos += size + 2;
        remaining -= size;
    }
    // Trailer lines: the name is case-insensitive.
    let line_start = body[..i]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    i >= pos && !body[line_start..i].contains(&b':')
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_round_trips_in_any_split(
        mode in mode(),
        data in prop::collection::vec(any::<u8>(), 0..3000),
        chunk_size in 1usize..700,
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let body = encode(mode, &data, chunk_size);
        prop_assert_eq!(
            encoded_length(mode, data.len() as u64, chunk_size as u64),
            Some(body.len() as u64)
        );
        let (out, end) = decode_split(mode, data.len() as u64, &body, &cuts);
        let end = end.unwrap();
        prop_assert_eq!(&out, &data);
        prop_assert_eq!(end.decoded_length, data.len() as u64);
        prop_assert_eq!(end.chunks, data.len().div_ceil(chunk_size) as u64);
    }


    #[test]
    fn every_single_byte_change_is_refused(
        mode in mode(),
        data in prop::collection::vec(any::<u8>(), 0..40),
        chunk_size in 1usize..20,
        flip in 1u8..=255,
    ) {
        let body = encode(mode, &data, chunk_size);
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= flip;
            if bad[i].eq_ignore_ascii_case(&body[i])
                && case_insensitive_at(&body, chunk_size, data.len(), i)
            {
                continue;
            }
            let (_, end) = decode_split(mode, data.len() as u64, &bad, &[]);
            let Err(err) = end else {
                return Err(TestCaseError::fail(format!(
                    "byte {i} changed from {:?} to {:?} was accepted: {:?}",
                    body[i] as char, bad[i] as char, String::from_utf8_lossy(&bad)
                )));
            };
            if let Some(chunk) = data_chunk_at(&body, chunk_size, data.len(), i) {
                let expected = match mode {
                    StreamingMode::UnsignedWithTrailer => ErrorCode::BadDigest,
                    _ => ErrorCode::SignatureDoesNotMatch,
                };
                prop_assert_eq!(err.code(), expected, "byte {} of chunk {}: {}", i, chunk, err);
                if mode.signs_chunks() {
                    prop_assert_eq!(err, ChunkedError::ChunkSignatureMismatch { chunk });
                }
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_is_refused(
        mode in mode(),
        data in prop::collection::vec(any::<u8>(), 0..300),
        chunk_size in 1usize..100,
        extra in prop::collection::vec(any::<u8>(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let body = encode(mode, &data, chunk_size);
        let len = data.len() as u64;
        for cut in 0..body.len() {
            let (out, end) = decode_split(mode, len, &body[..cut], &cuts);
            prop_assert_eq!(end, Err(ChunkedError::Truncated { decoded: out.len() as u64 }));
        }
        let mut longer = body.clone();
        longer.extend_from_slice(&extra);
        let (_, end) = decode_split(mode, len, &longer, &cuts);
        prop_assert_eq!(end, Err(ChunkedError::DataAfterFinalChunk));
    }
}

/// The index of the data chunk holding byte `i` of the encoded body, if `i` is a data byte.
fn data_chunk_at(body: &[u8], chunk_size: usize, len: usize, i: usize) -> Option<u64> {
    let mut pos = 0;
    let mut remaining = len;
    let mut chunk = 0;
    while remaining > 0 {
        let size = remaining.min(chunk_size);
        let header = body[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let data = pos + header;
        if (data..data + size).contains(&i) {
            return Some(chunk);
        }
        pos = data + size + 2;
        remaining -= size;
        chunk += 1;
    }
    None
}

#[test]
fn every_sdk_code_is_in_the_protocol_table_and_the_openapi_enum() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec");
    let protocol = std::fs::read_to_string(spec.join("protocol.md")).unwrap();
    let openapi = std::fs::read_to_string(spec.join("openapi.yaml")).unwrap();
    for code in ErrorCode::ALL {
        let row = format!("| `{code}` | {} |", code.http_status());
        assert!(protocol.contains(&row), "protocol.md lacks `{row}`");
        assert!(
            openapi.contains(&format!("        - {code}\n")),
            "openapi.yaml's ErrorCode enum lacks {code}"
        );
        assert!(
            openapi.contains(&format!("{code} {}", code.http_status())),
            "openapi.yaml's ErrorCode description lacks {code}'s status"
        );
    }
}

/// The request signer makes the published seed signatures from `Payload::Streaming`, and
/// the chain continues from there to the published chunk signatures.
#[test]
fn signer_makes_the_published_seed_signatures_from_a_streaming_payload() {
    use countersign::{
        ContentSha256Header, Credentials, Payload, Request, Signer, SigningSettings, UriEncoding,
    };
    let doc = doc();
    let creds = &doc["credentials_s3"];
    let signer = Signer::new(
        Credentials::new(
            creds["access_key_id"].as_str().unwrap(),
            creds["secret_access_key"].as_str().unwrap(),
        ),
        "us-east-1",
        "s3",
    )
    .unwrap()
    .with_settings(
        SigningSettings::default()
            .uri_encoding(UriEncoding::S3)
            .content_sha256(ContentSha256Header::Send),
    );
    for (name, mode) in [
        ("chunked_upload_example", StreamingMode::Signed),
        ("trailer_example", StreamingMode::SignedWithTrailer),
    ] {
        let ex = &doc[name];
        let seed = &ex["seed_request"];
        let mut req = Request::new(
            seed["method"].as_str().unwrap(),
            seed["canonical_uri"].as_str().unwrap(),
        );
        for (n, v) in seed["signed_headers_values"].as_object().unwrap() {
            if n != "x-amz-date" && n != "x-amz-content-sha256" {
                req = req.header(n, v.as_str().unwrap());
            }
        }
        let signed = signer.sign(&req, Payload::Streaming(mode), date()).unwrap();
        assert_eq!(
            signed.canonical_request().to_string(),
            seed["canonical_request"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            signed.signature().to_string(),
            seed["signature"].as_str().unwrap(),
            "{name}"
        );
        assert!(
            signed
                .headers()
                .contains(&("x-amz-content-sha256", mode.content_sha256().to_owned()))
        );
        let key = doc_key(&doc);
        let mut chunks =
            ChunkSigner::new(mode, Seed::new(key, date(), scope(), signed.signature()));
        chunks.chunk(&[b'a'; 65536]);
        assert_eq!(
            chunks.last_signature().unwrap().to_string(),
            ex["chunks"][0]["signature"].as_str().unwrap()
        );
    }
}

#[test]
fn trailer_names_are_signed_lower_cased_whatever_case_is_sent() {
    let mode = StreamingMode::SignedWithTrailer;
    let mut s = signer(mode);
    let mut body = s.chunk(b"abc");
    body.extend(s.finish_with_trailers(&[("X-Amz-Checksum-CRC32", "NSRBwg==")]));
    assert!(String::from_utf8_lossy(&body).contains("\r\nX-Amz-Checksum-CRC32:NSRBwg==\r\n"));
    let end = decode(
        decoder(mode, 3).expect_trailer("x-amz-checksum-crc32"),
        &body,
    )
    .unwrap();
    assert_eq!(
        end.trailers,
        vec![("x-amz-checksum-crc32".to_owned(), "NSRBwg==".to_owned())]
    );
}

/// The published seed request, verified by the [`Verifier`], seeds a decoder that accepts the
/// published chunks: the verifier's `Verified::seed` is the documentation's seed.
#[test]
fn verifier_accepts_the_published_seed_request_and_seeds_the_decoder() {
    use countersign::{
        PayloadClaim, Request, SigningKeys, UriEncoding, Verifier, VerifyError, VerifyPolicy,
    };
    let doc = doc();
    let ex = &doc["chunked_upload_example"];
    let seed_req = &ex["seed_request"];
    let headers = seed_req["signed_headers_values"].as_object().unwrap();
    let mut req = Request::new("PUT", seed_req["canonical_uri"].as_str().unwrap());
    for (name, value) in headers {
        req = req.header(name, value.as_str().unwrap());
    }
    req = req.header("Authorization", seed_req["authorization"].as_str().unwrap());
    let secret = doc["credentials_s3"]["secret_access_key"].as_str().unwrap();
    let keys = SigningKeys::new(SecretKey::new(secret));
    let verifier =
        Verifier::new(VerifyPolicy::new("us-east-1", "s3").uri_encoding(UriEncoding::S3));
    let now = date().to_system_time();
    let pending = verifier.begin(&req, now).unwrap();
    assert_eq!(
        pending.payload_claim(),
        PayloadClaim::Streaming(StreamingMode::Signed)
    );
    assert_eq!(pending.decoded_content_length(), Some(66560));
    let verified = pending.finish(&keys, None).unwrap();
    assert_eq!(verified.decoded_content_length, Some(66560));
    assert!(verified.payload_signed);
    let seed = verified
        .seed
        .expect("a signed streaming request has a seed");
    let body = published_body(ex, "\r\n");
    let (data, end) = decode_in(
        ChunkedDecoder::new(StreamingMode::Signed, Some(*seed), 66560),
        &body,
        4096,
    );
    assert_eq!(data, vec![b'a'; 66560]);
    assert_eq!(end.unwrap().chunks, 2);

    // Without x-amz-decoded-content-length the request is refused before any key lookup.
    let mut bare = Request::new("PUT", seed_req["canonical_uri"].as_str().unwrap());
    for (name, value) in headers {
        if name != "x-amz-decoded-content-length" {
            bare = bare.header(name, value.as_str().unwrap());
        }
    }
    bare = bare.header("Authorization", seed_req["authorization"].as_str().unwrap());
    assert!(matches!(
        verifier.begin(&bare, now).err(),
        Some(VerifyError::MissingDecodedContentLength)
    ));
}

/// The unsigned-trailer mode verifies without a seed: its chunks carry no signatures.
#[test]
fn unsigned_trailer_request_verifies_without_a_seed() {
    use countersign::{Credentials, Payload, Request, Signer, SigningKeys, Verifier, VerifyPolicy};
    let mode = StreamingMode::UnsignedWithTrailer;
    let signer = Signer::new(Credentials::new("AKID", "secret"), "us-east-1", "s3").unwrap();
    let req = Request::new("PUT", "/o")
        .header("Host", "h")
        .header("x-amz-decoded-content-length", "3");
    let signed = signer.sign(&req, Payload::Streaming(mode), date()).unwrap();
    let added: Vec<(&str, String)> = signed.headers().to_vec();
    let mut req = req.clone();
    for (name, value) in &added {
        req = req.header(name, value);
    }
    let verifier = Verifier::new(VerifyPolicy::new("us-east-1", "s3"));
    let keys = SigningKeys::new(SecretKey::new("secret"));
    let verified = verifier
        .begin(&req, date().to_system_time())
        .unwrap()
        .finish(&keys, None)
        .unwrap();
    assert!(verified.seed.is_none());
    assert!(!verified.payload_signed);
    assert_eq!(verified.decoded_content_length, Some(3));
}
