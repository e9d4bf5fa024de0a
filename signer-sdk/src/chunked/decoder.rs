//! The verifier's side of `aws-chunked`: an incremental, sans-IO decoder that checks each
//! chunk's signature as the chunk completes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::{CHECKSUM_SHA256, CHUNK_SIGNATURE_EXT, Seed, StreamingMode, TRAILER_SIGNATURE};
use crate::error::ErrorCode;
use crate::signing_key::{Signature, hex_val};

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
    chain: Option<Seed>,
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

    /// The decoded length the body must have (`x-amz-decoded-content-length`).
    pub fn declared_length(&self) -> u64 {
        self.declared_len
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
