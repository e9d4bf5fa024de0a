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

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::canonical::{
    EMPTY_SHA256, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER,
};
use crate::date::AmzDate;
use crate::error::ErrorCode;
use crate::signing_key::{Signature, SigningKey, hex_bytes, hex_val};
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
            false => EMPTY_DIGEST,
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
    /// `x-amz-checksum-*` algorithm), in order. Ignored in [`StreamingMode::Signed`].
    pub fn finish_with_trailers(mut self, trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = self.header_line(0, &EMPTY_DIGEST).into_bytes();
        if self.mode.has_trailer() {
            let mut canonical = Vec::new();
            for (name, value) in trailers {
                canonical.extend_from_slice(format!("{name}:{value}\n").as_bytes());
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

/// The decoder's limits; every one bounds memory or work per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest chunk size accepted (default 16 MiB). Chunk data is passed through, not
    /// buffered, so this bounds only how long one signature stays unchecked.
    pub max_chunk_size: u64,
    /// Longest chunk-header or trailer line, CRLF included (default 256 bytes).
    pub max_line_len: usize,
    /// Most trailer lines, the signature line included (default 8).
    pub max_trailer_lines: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_chunk_size: 16 * 1024 * 1024,
            max_line_len: 256,
            max_trailer_lines: 8,
        }
    }
}

/// Why a streaming body was refused. [`ChunkedError::code`] gives the wire code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkedError {
    /// A chunk header line is not `hex(size)[;chunk-signature=<64 hex>]` CRLF.
    #[error("chunk {chunk}: malformed chunk header: {reason}")]
    MalformedChunkHeader {
        /// Index of the chunk (0 = first).
        chunk: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A chunk header or trailer line is longer than the limit.
    #[error("chunk {chunk}: header line longer than {limit} bytes")]
    LineTooLong {
        /// Index of the chunk.
        chunk: u64,
        /// The limit.
        limit: usize,
    },
    /// A chunk's data is not followed by CRLF.
    #[error("chunk {chunk}: data is not followed by CRLF; the size in the header is wrong")]
    MissingChunkEnd {
        /// Index of the chunk.
        chunk: u64,
    },
    /// A chunk is larger than the configured limit.
    #[error("chunk {chunk}: size {size} is larger than the {limit}-byte limit")]
    ChunkTooLarge {
        /// Index of the chunk.
        chunk: u64,
        /// Size declared.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A chunk's signature is not the one computed from the previous one and its data.
    #[error(
        "chunk {chunk}: the chunk signature does not match the one computed from the previous signature and the chunk data"
    )]
    ChunkSignatureMismatch {
        /// Index of the chunk.
        chunk: u64,
    },
    /// The chunks carry more or fewer bytes than `x-amz-decoded-content-length`.
    #[error(
        "x-amz-decoded-content-length is {declared} but the chunks carry {}{received} bytes",
        if *.at_least { "at least " } else { "" }
    )]
    DecodedLengthMismatch {
        /// The header's value.
        declared: u64,
        /// Bytes the chunks declared or carried.
        received: u64,
        /// Whether `received` is a lower bound (the stream was stopped early).
        at_least: bool,
    },
    /// The input ended before the final zero-length chunk (or its trailer) was complete.
    #[error(
        "the body ended after {decoded} decoded bytes, before the final zero-length chunk was complete"
    )]
    Truncated {
        /// Data bytes decoded before the end.
        decoded: u64,
    },
    /// Bytes follow the end of the encoded body.
    #[error("data follows the final chunk")]
    DataAfterFinalChunk,
    /// The trailer section is malformed or lacks a required line.
    #[error("malformed trailer: {reason}")]
    MalformedTrailer {
        /// What is wrong.
        reason: String,
    },
    /// The trailer signature is not the one computed.
    #[error("the trailer signature does not match the one computed from the trailer headers")]
    TrailerSignatureMismatch,
    /// The `x-amz-checksum-sha256` trailer is not the body's checksum.
    #[error("x-amz-checksum-sha256 `{declared}` does not match the body's checksum `{computed}`")]
    ChecksumMismatch {
        /// Trailer value received.
        declared: String,
        /// base64 of the SHA-256 of the decoded body.
        computed: String,
    },
    /// A signed mode without the seed signature and signing key (a bug in the caller).
    #[error("a signed streaming body needs the seed signature and the signing key")]
    MissingSeed,
}

impl ChunkedError {
    /// The wire code (one total match).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedChunkHeader { .. }
            | Self::LineTooLong { .. }
            | Self::MissingChunkEnd { .. }
            | Self::DataAfterFinalChunk => ErrorCode::InvalidArgument,
            Self::ChunkTooLarge { .. } => ErrorCode::EntityTooLarge,
            Self::ChunkSignatureMismatch { .. } | Self::TrailerSignatureMismatch => {
                ErrorCode::SignatureDoesNotMatch
            }
            Self::DecodedLengthMismatch { .. } | Self::Truncated { .. } => {
                ErrorCode::IncompleteBody
            }
            Self::MalformedTrailer { .. } => ErrorCode::MalformedTrailerError,
            Self::ChecksumMismatch { .. } => ErrorCode::BadDigest,
            Self::MissingSeed => ErrorCode::InternalError,
        }
    }
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// Input bytes used; feed the rest (`&input[consumed..]`) next.
    pub consumed: usize,
    /// Decoded body bytes, a slice of the input (possibly empty). They are passed through
    /// before their chunk's signature is checked: the body is only authentic once
    /// [`ChunkedDecoder::finish`] succeeds, so do not complete a forwarded request before.
    pub data: &'a [u8],
}

/// The end of a body that decoded and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Bytes of decoded data (equal to `x-amz-decoded-content-length`).
    pub decoded_length: u64,
    /// Number of data chunks (the final empty chunk not counted).
    pub chunks: u64,
    /// Trailer headers as received (names lower-cased), signature line excluded. In
    /// [`StreamingMode::SignedWithTrailer`] they are covered by the verified trailer
    /// signature; `x-amz-checksum-sha256` was checked against the body, other checksums are
    /// for the caller to check.
    pub trailers: Vec<(String, String)>,
}

/// The verifier's side: an incremental, sans-IO `aws-chunked` decoder.
///
/// Feed it the encoded body as it arrives, in pieces of any size; it hands back the decoded
/// data as slices of the input and checks each chunk signature as its chunk completes. It
/// holds at most one header or trailer line ([`DecoderLimits::max_line_len`]) plus the
/// trailer lines: data is hashed as it passes, never buffered. After an error, every call
/// returns the same error.
pub struct ChunkedDecoder {
    mode: StreamingMode,
    chain: Option<Chain>,
    limits: DecoderLimits,
    expected_trailers: Vec<String>,
    declared_len: u64,
    state: State,
    line: Vec<u8>,
    chunk: u64,
    decoded: u64,
    chunk_hash: Sha256,
    expected: Option<Signature>,
    checksum: Sha256,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<Signature>,
    failed: Option<ChunkedError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Data { remaining: u64 },
    DataEnd { seen: u8 },
    FinalEnd,
    Trailer,
    Done,
}

impl ChunkedDecoder {
    /// A decoder for a body of `mode` that must decode to `decoded_len` bytes (the request's
    /// `x-amz-decoded-content-length`), with the default [`DecoderLimits`] and, in the trailer
    /// modes, expecting the `x-amz-checksum-sha256` trailer (see
    /// [`expect_trailer`](Self::expect_trailer)). The signed modes need `seed` (the verified
    /// request's); without it every call fails with [`ChunkedError::MissingSeed`].
    pub fn new(mode: StreamingMode, seed: Option<Seed>, decoded_len: u64) -> Self {
        let failed = (mode.signs_chunks() && seed.is_none()).then_some(ChunkedError::MissingSeed);
        Self {
            mode,
            chain: seed,
            limits: DecoderLimits::default(),
            expected_trailers: vec![CHECKSUM_SHA256.to_owned()],
            declared_len: decoded_len,
            state: State::Header,
            line: Vec::new(),
            chunk: 0,
            decoded: 0,
            chunk_hash: Sha256::new(),
            expected: None,
            checksum: Sha256::new(),
            trailers: Vec::new(),
            trailer_signature: None,
            failed,
        }
    }

    /// Replaces the limits.
    pub fn limits(mut self, limits: DecoderLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The trailer headers the body must end with: the request's `x-amz-trailer` value, a
    /// comma-separated list of names (case-insensitive). The trailer must carry exactly these.
    pub fn expect_trailer(mut self, x_amz_trailer: &str) -> Self {
        self.expected_trailers = x_amz_trailer
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        self
    }

    /// Decodes from the start of `input`: consumes at least one byte of a non-empty input
    /// and returns at most one run of data.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkedError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.step(input);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// Whether the whole encoded body has been decoded and verified.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.failed.is_none()
    }

    /// Data bytes decoded so far.
    pub fn decoded_length(&self) -> u64 {
        self.decoded
    }

    /// Call at the end of the input: the summary if the body was complete and verified.
    pub fn finish(self) -> Result<Finished, ChunkedError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.state != State::Done {
            return Err(ChunkedError::Truncated {
                decoded: self.decoded,
            });
        }
        Ok(Finished {
            decoded_length: self.decoded,
            chunks: self.chunk,
            trailers: self.trailers,
        })
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkedError> {
        let none = Step {
            consumed: 0,
            data: &[],
        };
        if input.is_empty() {
            return Ok(none);
        }
        match self.state {
            State::Data { remaining } => Ok(self.data(input, remaining)),
            State::DataEnd { seen } => self.data_end(input, seen),
            State::Done => Err(ChunkedError::DataAfterFinalChunk),
            State::Header | State::FinalEnd | State::Trailer => self.line_step(input),
        }
    }

    fn data<'a>(&mut self, input: &'a [u8], remaining: u64) -> Step<'a> {
        let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        let data = &input[..take];
        if self.mode.signs_chunks() {
            self.chunk_hash.update(data);
        }
        if self.mode.has_trailer() {
            self.checksum.update(data);
        }
        self.decoded += take as u64;
        let remaining = remaining - take as u64;
        self.state = if remaining == 0 {
            State::DataEnd { seen: 0 }
        } else {
            State::Data { remaining }
        };
        Step {
            consumed: take,
            data,
        }
    }

    fn data_end<'a>(&mut self, input: &'a [u8], seen: u8) -> Result<Step<'a>, ChunkedError> {
        let expected = if seen == 0 { b'\r' } else { b'\n' };
        if input[0] != expected {
            return Err(ChunkedError::MissingChunkEnd { chunk: self.chunk });
        }
        if seen == 0 {
            self.state = State::DataEnd { seen: 1 };
        } else {
            self.end_chunk()?;
            self.state = State::Header;
        }
        Ok(Step {
            consumed: 1,
            data: &[],
        })
    }

    /// Accumulates one CRLF-terminated line (bounded), then acts on it.
    fn line_step<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkedError> {
        let room = self.limits.max_line_len.saturating_sub(self.line.len());
        let window = &input[..input.len().min(room)];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            if window.len() == input.len() {
                self.line.extend_from_slice(input);
                return Ok(Step {
                    consumed: input.len(),
                    data: &[],
                });
            }
            return Err(self.too_long());
        };
        self.line.extend_from_slice(&window[..=end]);
        let line = std::mem::take(&mut self.line);
        let Some(text) = line.strip_suffix(b"\r\n") else {
            return Err(self.malformed_line("line ends in a bare LF, not CRLF"));
        };
        match self.state {
            State::Header => self.header(text)?,
            State::FinalEnd => self.final_end(text)?,
            _ => self.trailer_line(text)?,
        }
        self.line = line;
        self.line.clear();
        Ok(Step {
            consumed: end + 1,
            data: &[],
        })
    }

    fn too_long(&self) -> ChunkedError {
        if self.state == State::FinalEnd {
            return ChunkedError::DataAfterFinalChunk;
        }
        if self.state == State::Header {
            return ChunkedError::LineTooLong {
                chunk: self.chunk,
                limit: self.limits.max_line_len,
            };
        }
        ChunkedError::MalformedTrailer {
            reason: format!(
                "a trailer line is longer than {} bytes",
                self.limits.max_line_len
            ),
        }
    }

    fn malformed_line(&self, reason: &'static str) -> ChunkedError {
        if self.state == State::FinalEnd {
            return ChunkedError::DataAfterFinalChunk;
        }
        if self.state == State::Header {
            return ChunkedError::MalformedChunkHeader {
                chunk: self.chunk,
                reason,
            };
        }
        ChunkedError::MalformedTrailer {
            reason: reason.to_owned(),
        }
    }

    fn header(&mut self, text: &[u8]) -> Result<(), ChunkedError> {
        let (size, signature) = parse_header(text, self.mode.signs_chunks()).map_err(|reason| {
            ChunkedError::MalformedChunkHeader {
                chunk: self.chunk,
                reason,
            }
        })?;
        if size > self.limits.max_chunk_size {
            return Err(ChunkedError::ChunkTooLarge {
                chunk: self.chunk,
                size,
                limit: self.limits.max_chunk_size,
            });
        }
        let total = self.decoded.saturating_add(size);
        if total > self.declared_len || (size == 0 && total != self.declared_len) {
            return Err(ChunkedError::DecodedLengthMismatch {
                declared: self.declared_len,
                received: total,
                at_least: size != 0,
            });
        }
        self.expected = signature;
        if size > 0 {
            self.state = State::Data { remaining: size };
            return Ok(());
        }
        self.end_chunk()?;
        self.state = if self.mode.has_trailer() {
            State::Trailer
        } else {
            State::FinalEnd
        };
        Ok(())
    }

    /// Checks the finished chunk's signature and moves the chain on.
    fn end_chunk(&mut self) -> Result<(), ChunkedError> {
        let digest: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
        let index = self.chunk;
        if !matches!(self.state, State::Header) {
            self.chunk += 1;
        }
        let (Some(chain), Some(claimed)) = (self.chain.as_mut(), self.expected.take()) else {
            return Ok(());
        };
        if !chain.next(&digest).ct_eq(&claimed) {
            return Err(ChunkedError::ChunkSignatureMismatch { chunk: index });
        }
        Ok(())
    }

    fn final_end(&mut self, text: &[u8]) -> Result<(), ChunkedError> {
        if !text.is_empty() {
            return Err(ChunkedError::DataAfterFinalChunk);
        }
        self.state = State::Done;
        Ok(())
    }

    fn trailer_line(&mut self, text: &[u8]) -> Result<(), ChunkedError> {
        if text.is_empty() {
            return self.end_trailer();
        }
        if self.trailer_signature.is_some() {
            return Err(trailer_error(format!(
                "{TRAILER_SIGNATURE} must be the last trailer line"
            )));
        }
        if self.trailers.len() >= self.limits.max_trailer_lines {
            return Err(trailer_error(format!(
                "more than {} trailer lines",
                self.limits.max_trailer_lines
            )));
        }
        let (name, value) = parse_trailer_line(text)?;
        if name == TRAILER_SIGNATURE && self.mode.signs_chunks() {
            let sig = Signature::from_hex(&value)
                .filter(|_| !value.bytes().any(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| {
                    trailer_error(format!(
                        "{TRAILER_SIGNATURE} is not 64 lowercase hex digits"
                    ))
                })?;
            self.trailer_signature = Some(sig);
            return Ok(());
        }
        if self.trailers.iter().any(|(n, _)| *n == name) {
            return Err(trailer_error(format!("`{name}` appears more than once")));
        }
        self.trailers.push((name, value));
        Ok(())
    }

    fn end_trailer(&mut self) -> Result<(), ChunkedError> {
        let mut names: Vec<&str> = self.trailers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = self.expected_trailers.iter().map(String::as_str).collect();
        expected.sort_unstable();
        expected.dedup();
        if names != expected {
            return Err(trailer_error(format!(
                "the trailer carries [{}], but x-amz-trailer declares [{}]",
                names.join(", "),
                expected.join(", ")
            )));
        }
        self.check_trailer_signature()?;
        self.check_checksum()?;
        self.state = State::Done;
        Ok(())
    }

    fn check_trailer_signature(&mut self) -> Result<(), ChunkedError> {
        let Some(chain) = self.chain.as_ref().filter(|_| self.mode.signs_chunks()) else {
            return Ok(());
        };
        let Some(claimed) = self.trailer_signature else {
            return Err(trailer_error(format!(
                "the {TRAILER_SIGNATURE} line is missing"
            )));
        };
        let mut canonical = Sha256::new();
        for (name, value) in &self.trailers {
            canonical.update(name.as_bytes());
            canonical.update(b":");
            canonical.update(value.as_bytes());
            canonical.update(b"\n");
        }
        if !chain.trailer(&canonical.finalize().into()).ct_eq(&claimed) {
            return Err(ChunkedError::TrailerSignatureMismatch);
        }
        Ok(())
    }

    fn check_checksum(&mut self) -> Result<(), ChunkedError> {
        let Some((_, declared)) = self.trailers.iter().find(|(n, _)| n == CHECKSUM_SHA256) else {
            return Ok(());
        };
        let computed = BASE64.encode(std::mem::take(&mut self.checksum).finalize());
        if *declared != computed {
            return Err(ChunkedError::ChecksumMismatch {
                declared: declared.clone(),
                computed,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("mode", &self.mode)
            .field("state", &self.state)
            .field("chunk", &self.chunk)
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the empty string, as bytes.
const EMPTY_DIGEST: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

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

/// Parses `hex(size)` and, when `signed`, `;chunk-signature=<64 hex>`.
fn parse_header(text: &[u8], signed: bool) -> Result<(u64, Option<Signature>), &'static str> {
    let digits = text.iter().take_while(|&&b| hex_val(b).is_some()).count();
    if digits == 0 {
        return Err("the line does not start with the chunk size in hexadecimal");
    }
    if digits > 16 {
        return Err("the chunk size has more than 16 hexadecimal digits");
    }
    let size = text[..digits].iter().fold(0u64, |acc, &b| {
        acc << 4 | u64::from(hex_val(b).unwrap_or(0))
    });
    let rest = &text[digits..];
    if !signed {
        return match rest.is_empty() {
            true => Ok((size, None)),
            false => Err("unexpected text after the chunk size (unsigned chunks carry none)"),
        };
    }
    let Some(hex) = rest.strip_prefix(CHUNK_SIGNATURE_EXT.as_bytes()) else {
        return Err("expected `;chunk-signature=` after the chunk size");
    };
    if hex.iter().any(u8::is_ascii_uppercase) {
        return Err("the chunk signature must be lowercase hexadecimal");
    }
    std::str::from_utf8(hex)
        .ok()
        .and_then(Signature::from_hex)
        .map(|s| (size, Some(s)))
        .ok_or("the chunk signature is not 64 hexadecimal digits")
}

/// Parses `name:value` (name lower-cased, value trimmed).
fn parse_trailer_line(text: &[u8]) -> Result<(String, String), ChunkedError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| trailer_error("a trailer line is not UTF-8".to_owned()))?;
    let Some((name, value)) = text.split_once(':') else {
        return Err(trailer_error(format!(
            "trailer line `{}` is not name:value",
            clip(text)
        )));
    };
    if name.is_empty() || !crate::canonical::is_token(name) {
        return Err(trailer_error(format!(
            "trailer name `{}` is not a header name",
            clip(name)
        )));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| b.is_ascii_control()) {
        return Err(trailer_error(format!(
            "trailer `{name}` has a control character in its value"
        )));
    }
    Ok((name.to_ascii_lowercase(), value.to_owned()))
}

fn trailer_error(reason: String) -> ChunkedError {
    ChunkedError::MalformedTrailer { reason }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

fn hex_digits(n: u64) -> u64 {
    u64::from((64 - n.leading_zeros()).div_ceil(4).max(1))
}
