//! `aws-chunked` request bodies: the decoder for a verified streaming request.
//!
//! The signature of the request itself (the seed) is checked before the body is read; the
//! decoder then checks each chunk's signature, the decoded length and the trailer while the
//! body streams, into the own API's buffer or to a gateway upstream (`spec/protocol.md`
//! section 18). `Content-Encoding: aws-chunked` is not required: the `STREAMING-*` value of
//! `x-amz-content-sha256`, which is signed, decides the framing.

use countersign::Verified;
use countersign::chunked::{ChunkedDecoder, DecoderLimits, StreamingMode};
use http::request::Parts;

use crate::error::ApiError;

/// The decoder for a verified streaming request, whose decoded body may be at most
/// `max_body` bytes.
///
/// The chunk size limit is `max_body` as well, so a chunk too large is a body too large. In
/// the trailer modes the trailer must carry the headers named by `x-amz-trailer` (default
/// `x-amz-checksum-sha256`).
///
/// # Errors
/// 413 `EntityTooLarge` when `x-amz-decoded-content-length` exceeds `max_body`; 400
/// `InvalidArgument` for an `x-amz-trailer` that is not text.
pub fn decoder(
    parts: &Parts,
    mode: StreamingMode,
    verified: &Verified,
    max_body: u64,
) -> Result<ChunkedDecoder, ApiError> {
    let declared = verified.decoded_content_length.ok_or_else(|| {
        tracing::error!("a verified streaming request without its decoded length");
        ApiError::InternalError
    })?;
    if declared > max_body {
        return Err(ApiError::EntityTooLarge { limit: max_body });
    }
    let limits = DecoderLimits {
        max_chunk_size: max_body.max(1),
        ..DecoderLimits::default()
    };
    let mut decoder =
        ChunkedDecoder::new(mode, verified.seed.as_deref().cloned(), declared).limits(limits);
    if let Some(trailer) = parts.headers.get("x-amz-trailer")
        && mode.has_trailer()
    {
        let names = trailer.to_str().map_err(|_| {
            ApiError::InvalidArgument("x-amz-trailer must be a list of header names".into())
        })?;
        decoder = decoder.expect_trailer(names);
    }
    Ok(decoder)
}
