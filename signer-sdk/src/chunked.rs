//! Streaming (`aws-chunked`) bodies: the signer's chunk framing and the verifier's incremental
//! decoder.
//!
//! A streaming request is signed once with a `STREAMING-*` payload line (the *seed* signature);
//! the body is then sent as chunks, each `hex(size);chunk-signature=<sig>\r\n<data>\r\n`, where
//! every signature chains from the previous one:
//!
//! ```text
//! AWS4-HMAC-SHA256-PAYLOAD \n <timestamp> \n <scope> \n <previous signature> \n
//! sha256("") \n sha256(chunk data)
//! ```
//!
//! A zero-length chunk ends the body, optionally followed by trailer headers (an
//! `x-amz-checksum-*` value) and, in the signed variant, `x-amz-trailer-signature`, chained from
//! the final chunk's signature with the `AWS4-HMAC-SHA256-TRAILER` string to sign.
//!
//! ## Sign and decode a streaming body
//!
//! ```
//! use countersign::chunked::{self, ChunkSigner, ChunkedDecoder, Seed, StreamingMode};
//! use countersign::{AmzDate, Credentials, Payload, Request, Scope, SecretKey, Signer, SigningKey};
//!
//! let mode = StreamingMode::Signed;
//! let date = AmzDate::parse("20130524T000000Z")?;
//! let signer = Signer::new(Credentials::new("AKIDEXAMPLE", "secret"), "us-east-1", "s3")?;
//! // The request is signed once, with the STREAMING-* payload line: that is the seed.
//! let length = chunked::encoded_length(mode, 11, 6).unwrap();
//! let content_length = length.to_string();
//! let req = Request::new("PUT", "/bucket/object")
//!     .header("Host", "s3.example.com")
//!     .header("Content-Encoding", "aws-chunked")
//!     .header("Content-Length", &content_length)
//!     .header("x-amz-decoded-content-length", "11");
//! let signed = signer.sign(&req, Payload::Streaming(mode), date)?;
//! let scope = Scope { date: date.date_stamp(), region: "us-east-1", service: "s3" };
//! let key = SigningKey::derive(&SecretKey::new("secret"), date.date_stamp(), "us-east-1", "s3");
//! let seed = Seed::new(key, date, scope, signed.signature());
//!
//! let mut chunks = ChunkSigner::new(mode, seed.clone());
//! let mut body = chunks.chunk(b"hello ");
//! body.extend(chunks.chunk(b"world"));
//! body.extend(chunks.finish());
//! assert_eq!(body.len() as u64, length);
//!
//! // The verifier (after verifying the request itself) feeds the body as it arrives, in
//! // pieces of any size.
//! let mut decoder = ChunkedDecoder::new(mode, Some(seed), 11);
//! let mut decoded = Vec::new();
//! for piece in body.chunks(7) {
//!     let mut input = piece;
//!     while !input.is_empty() {
//!         let step = decoder.decode(input)?;
//!         decoded.extend_from_slice(step.data);
//!         input = &input[step.consumed..];
//!     }
//! }
//! let done = decoder.finish()?;
//! assert_eq!(decoded, b"hello world");
//! assert_eq!((done.decoded_length, done.chunks), (11, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decoder;

pub use decoder::{ChunkedDecoder, ChunkedError, DecoderLimits, Finished, Step};

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::canonical::{
    EMPTY_SHA256, EMPTY_SHA256_DIGEST, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
};
use crate::date::AmzDate;
use crate::signing_key::{Signature, SigningKey, hex_bytes};
use crate::string_to_sign::Scope;

/// First line of a chunk's string to sign.
pub const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// First line of the trailer's string to sign.
pub const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
/// The trailer header this module computes and checks: base64 of the body's SHA-256.
pub const CHECKSUM_SHA256: &str = "x-amz-checksum-sha256";
/// The trailer line carrying the trailer signature.
pub const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
/// The chunk extension carrying a chunk's signature.
const CHUNK_SIGNATURE_EXT: &str = ";chunk-signature=";

/// Which `aws-chunked` variant a body uses (the request's `x-amz-content-sha256`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamingMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedWithTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and an unsigned checksum trailer.
    UnsignedWithTrailer,
}

impl StreamingMode {
    /// The mode named by an `x-amz-content-sha256` value, if it is a streaming one.
    pub fn from_content_sha256(value: &str) -> Option<Self> {
        match value {
            STREAMING_PAYLOAD => Some(Self::Signed),
            STREAMING_PAYLOAD_TRAILER => Some(Self::SignedWithTrailer),
            STREAMING_UNSIGNED_PAYLOAD_TRAILER => Some(Self::UnsignedWithTrailer),
            _ => None,
        }
    }

    /// The `x-amz-content-sha256` value (and payload line) of this mode.
    pub fn content_sha256(self) -> &'static str {
        match self {
            Self::Signed => STREAMING_PAYLOAD,
            Self::SignedWithTrailer => STREAMING_PAYLOAD_TRAILER,
            Self::UnsignedWithTrailer => STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        }
    }

    /// Whether each chunk carries a signature.
    pub fn signs_chunks(self) -> bool {
        !matches!(self, Self::UnsignedWithTrailer)
    }

    /// Whether the body ends with trailer headers.
    pub fn has_trailer(self) -> bool {
        !matches!(self, Self::Signed)
    }
}

impl fmt::Display for StreamingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_sha256())
    }
}

/// `Content-Length` of the encoded body for `decoded_len` bytes cut into `chunk_size`-byte
/// chunks (the last one shorter), as [`ChunkSigner`] frames it: with, in the trailer modes,
/// the `x-amz-checksum-sha256` trailer that [`ChunkSigner::finish`] appends. `None` when
/// `chunk_size` is 0 or the length overflows `u64`.
pub fn encoded_length(mode: StreamingMode, decoded_len: u64, chunk_size: u64) -> Option<u64> {
    if chunk_size == 0 {
        return None;
    }
    let full = decoded_len / chunk_size;
    let rest = decoded_len % chunk_size;
    let mut total = full.checked_mul(chunk_frame_len(mode, chunk_size)?)?;
    if rest > 0 {
        total = total.checked_add(chunk_frame_len(mode, rest)?)?;
    }
    total.checked_add(final_frame_len(
        mode,
        &[(CHECKSUM_SHA256, SHA256_BASE64_LEN)],
    ))
}

/// Encoded length of one non-empty chunk of `size` bytes (header, data, CRLF).
pub fn chunk_frame_len(mode: StreamingMode, size: u64) -> Option<u64> {
    let signature = if mode.signs_chunks() {
        (CHUNK_SIGNATURE_EXT.len() + 64) as u64
    } else {
        0
    };
    size.checked_add(hex_digits(size) + signature + 4)
}

/// Encoded length of the final zero-length chunk and what follows it, for trailer headers
/// given as `(name, value length)` (ignored in [`StreamingMode::Signed`]).
pub fn final_frame_len(mode: StreamingMode, trailers: &[(&str, usize)]) -> u64 {
    let header = chunk_frame_len(mode, 0).unwrap_or(0) - 2;
    if !mode.has_trailer() {
        return header + 2;
    }
    let lines: usize = trailers.iter().map(|(n, v)| n.len() + 1 + v + 2).sum();
    let signature = if mode.signs_chunks() {
        TRAILER_SIGNATURE.len() + 1 + 64 + 2
    } else {
        0
    };
    header + (lines + signature + 2) as u64
}

/// Length of base64(SHA-256).
const SHA256_BASE64_LEN: usize = 44;

/// The signer's side: frames chunks and chains their signatures from the seed.
///
/// Call [`chunk`](Self::chunk) (or [`chunk_header`](Self::chunk_header) to frame data you
/// send yourself) for each non-empty piece of the body, then [`finish`](Self::finish).
#[derive(Clone)]
pub struct ChunkSigner {
    mode: StreamingMode,
    chain: Option<Chain>,
    checksum: Sha256,
}

impl ChunkSigner {
    /// A signer for a signed mode ([`StreamingMode::Signed`] or
    /// [`StreamingMode::SignedWithTrailer`]), chaining from `seed`. Given
    /// [`StreamingMode::UnsignedWithTrailer`], the seed is not used.
    pub fn new(mode: StreamingMode, seed: Seed) -> Self {
        Self {
            mode,
            chain: Some(seed),
            checksum: Sha256::new(),
        }
    }

    /// A signer for [`StreamingMode::UnsignedWithTrailer`] bodies (no signatures).
    pub fn unsigned() -> Self {
        Self {
            mode: StreamingMode::UnsignedWithTrailer,
            chain: None,
            checksum: Sha256::new(),
        }
    }

    /// The whole frame of one chunk: header line, `data`, CRLF. An empty `data` gives an
    /// empty frame (a zero-length chunk would end the body; use [`finish`](Self::finish)).
    pub fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        let Some(header) = self.chunk_header(data) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(header.len() + data.len() + 2);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Only the header line of `data`'s chunk (ending in CRLF); the caller sends `data` and a
    /// CRLF after it. `None` for an empty `data`, which has no chunk (send nothing).
    pub fn chunk_header(&mut self, data: &[u8]) -> Option<String> {
        if data.is_empty() {
            return None;
        }
        if self.mode.has_trailer() {
            self.checksum.update(data);
        }
        let digest = match self.mode.signs_chunks() {
            true => Sha256::digest(data).into(),
            false => EMPTY_SHA256_DIGEST,
        };
        Some(self.header_line(data.len() as u64, &digest))
    }

    /// The final zero-length chunk, and in the trailer modes the `x-amz-checksum-sha256`
    /// trailer (base64 of the SHA-256 of all chunk data), signed in
    /// [`StreamingMode::SignedWithTrailer`].
    pub fn finish(self) -> Vec<u8> {
        let value = BASE64.encode(self.checksum.clone().finalize());
        self.finish_with_trailers(&[(CHECKSUM_SHA256, &value)])
    }

    /// Like [`finish`](Self::finish) with the caller's trailer headers (e.g. another
    /// `x-amz-checksum-*` algorithm), in order, sent as given and signed with lower-cased
    /// names. Ignored in [`StreamingMode::Signed`].
    pub fn finish_with_trailers(mut self, trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = self.header_line(0, &EMPTY_SHA256_DIGEST).into_bytes();
        if self.mode.has_trailer() {
            let mut canonical = Vec::new();
            for (name, value) in trailers {
                let name_lc = name.to_ascii_lowercase();
                canonical.extend_from_slice(format!("{name_lc}:{value}\n").as_bytes());
                out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            }
            if let Some(chain) = self.chain.as_ref().filter(|_| self.mode.signs_chunks()) {
                let sig = chain.trailer(&Sha256::digest(&canonical).into());
                out.extend_from_slice(format!("{TRAILER_SIGNATURE}:{sig}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The signature of the last chunk framed (the seed before any); `None` when unsigned.
    pub fn last_signature(&self) -> Option<Signature> {
        self.chain.as_ref().map(|c| c.previous)
    }

    fn header_line(&mut self, size: u64, digest: &[u8; 32]) -> String {
        match self.chain.as_mut().filter(|_| self.mode.signs_chunks()) {
            Some(chain) => format!("{size:x}{CHUNK_SIGNATURE_EXT}{}\r\n", chain.next(digest)),
            None => format!("{size:x}\r\n"),
        }
    }
}

impl fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The start of a signature chain: the request's signing key, timestamp, scope and its
/// signature (the seed), computed with the streaming payload line.
#[derive(Clone)]
pub struct Seed {
    key: SigningKey,
    /// `<timestamp>\n<scope>\n`.
    date_scope: String,
    previous: Signature,
}

impl Seed {
    /// The chain start for a request signed at `date` in `scope` with `signature`, under
    /// `key` (the signing key of that scope).
    pub fn new(key: SigningKey, date: AmzDate, scope: Scope<'_>, signature: Signature) -> Self {
        Self {
            key,
            date_scope: format!("{date}\n{scope}\n"),
            previous: signature,
        }
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seed")
            .field("signature", &self.previous)
            .finish_non_exhaustive()
    }
}

type Chain = Seed;

impl Chain {
    /// The next chunk's signature (for data hashing to `digest`); it becomes the previous.
    fn next(&mut self, digest: &[u8; 32]) -> Signature {
        let sig = self.sign(CHUNK_ALGORITHM, &[EMPTY_SHA256.as_bytes(), b"\n"], digest);
        self.previous = sig;
        sig
    }

    /// The trailer signature for canonical trailer headers hashing to `digest`.
    fn trailer(&self, digest: &[u8; 32]) -> Signature {
        self.sign(TRAILER_ALGORITHM, &[], digest)
    }

    fn sign(&self, algorithm: &str, middle: &[&[u8]], digest: &[u8; 32]) -> Signature {
        let previous = self.previous.to_hex();
        let digest = hex_bytes(digest);
        let mut parts: Vec<&[u8]> = vec![
            algorithm.as_bytes(),
            b"\n",
            self.date_scope.as_bytes(),
            &previous,
            b"\n",
        ];
        parts.extend_from_slice(middle);
        parts.push(&digest);
        self.key.sign_parts(&parts)
    }
}

fn hex_digits(n: u64) -> u64 {
    u64::from((64 - n.leading_zeros()).div_ceil(4).max(1))
}
