//! Request bodies (bytes, or a file streamed in chunks) and the response body type.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body_util::{Either, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use countersign::chunked::{ChunkSigner, StreamingMode, encoded_length};

use crate::error::ClientError;

/// Size of the chunks a file body is hashed and sent in: memory use per upload is a few of
/// these, whatever the file size.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A request body.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file, streamed from disk (never loaded whole); sent with its `Content-Length`.
    File(PathBuf),
}

/// Whether the body is covered by the signature, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadSigning {
    /// The body's SHA-256 is signed (a file is read twice: once to hash, once to send). Default.
    #[default]
    Signed,
    /// `UNSIGNED-PAYLOAD`, sent in `x-amz-content-sha256`: the file is read once, and the
    /// server does not check the body.
    Unsigned,
    /// `aws-chunked`: the body is read once and sent in `chunk_size`-byte chunks (the last
    /// one shorter), each signed in chain from the request's signature in the signed modes,
    /// with an `x-amz-checksum-sha256` trailer in the trailer modes. Memory use is about one
    /// chunk, whatever the body size.
    Chunked {
        /// The `STREAMING-*` variant.
        mode: StreamingMode,
        /// Bytes of data per chunk (at least 1).
        chunk_size: usize,
    },
}

/// A response body: streamed from the connection, or already read (error bodies the client
/// inspected).
pub type ResponseBody = Either<Incoming, Full<Bytes>>;

impl Body {
    /// SHA-256 of the body; a file is read in [`CHUNK`]-sized pieces on a blocking thread.
    pub(crate) async fn sha256(&self) -> Result<[u8; 32], ClientError> {
        match self {
            Self::Empty => Ok(countersign::EMPTY_SHA256_DIGEST),
            Self::Bytes(bytes) => Ok(Sha256::digest(bytes).into()),
            Self::File(path) => {
                let owned = path.clone();
                tokio::task::spawn_blocking(move || hash_file(&owned))
                    .await
                    .map_err(|err| ClientError::BodyFile {
                        path: path.clone(),
                        source: std::io::Error::other(err.to_string()),
                    })?
            }
        }
    }

    /// Length in bytes (a file's from its metadata).
    pub(crate) async fn len(&self) -> Result<u64, ClientError> {
        match self {
            Self::Empty => Ok(0),
            Self::Bytes(bytes) => Ok(bytes.len() as u64),
            Self::File(path) => {
                tokio::fs::metadata(path)
                    .await
                    .map(|m| m.len())
                    .map_err(|source| ClientError::BodyFile {
                        path: path.clone(),
                        source,
                    })
            }
        }
    }

    /// The body ready to send, counting sent bytes into `progress`.
    pub(crate) async fn open(
        &self,
        progress: Option<Arc<AtomicU64>>,
    ) -> Result<OutBody, ClientError> {
        if let Some(counter) = &progress {
            counter.store(0, Ordering::Relaxed);
        }
        match self {
            Self::Empty => Ok(OutBody::Full(Full::new(Bytes::new()))),
            Self::Bytes(bytes) => {
                if let Some(counter) = &progress {
                    counter.store(bytes.len() as u64, Ordering::Relaxed);
                }
                Ok(OutBody::Full(Full::new(bytes.clone())))
            }
            Self::File(path) => FileBody::open(path, progress).await.map(OutBody::File),
        }
    }
}

fn hash_file(path: &Path) -> Result<[u8; 32], ClientError> {
    let fail = |source| ClientError::BodyFile {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(fail(err)),
        }
    }
}

/// The body hyper sends.
#[derive(Debug)]
pub(crate) enum OutBody {
    Full(Full<Bytes>),
    File(FileBody),
    Chunked(Box<ChunkedBody>),
}

/// A body framed as `aws-chunked` on the way out: the inner body's data is cut into
/// `chunk_size` pieces, each framed (and signed) by the [`ChunkSigner`]; at most one chunk is
/// buffered.
pub(crate) struct ChunkedBody {
    inner: OutBody,
    signer: Option<ChunkSigner>,
    chunk_size: usize,
    pending: BytesMut,
    encoded_len: u64,
    sent: u64,
}

impl std::fmt::Debug for ChunkedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedBody")
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl ChunkedBody {
    /// `inner` (of `decoded_len` bytes) framed by `signer` in `chunk_size`-byte chunks.
    pub(crate) fn new(
        inner: OutBody,
        signer: ChunkSigner,
        mode: StreamingMode,
        decoded_len: u64,
        chunk_size: usize,
    ) -> Result<Self, ClientError> {
        let chunk_size = chunk_size.max(1);
        let encoded_len =
            encoded_length(mode, decoded_len, chunk_size as u64).ok_or_else(|| {
                ClientError::Header(format!(
                    "an aws-chunked body of {decoded_len} bytes is too large"
                ))
            })?;
        Ok(Self {
            inner,
            signer: Some(signer),
            chunk_size,
            pending: BytesMut::new(),
            encoded_len,
            sent: 0,
        })
    }

    /// The encoded length (the request's `Content-Length`).
    pub(crate) fn encoded_len(&self) -> u64 {
        self.encoded_len
    }

    fn frame(&mut self, data: Bytes) -> Frame<Bytes> {
        let framed = self
            .signer
            .as_mut()
            .map(|s| s.chunk(&data))
            .unwrap_or_default();
        self.sent += framed.len() as u64;
        Frame::data(Bytes::from(framed))
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        loop {
            if self.pending.len() >= self.chunk_size {
                let data = self.pending.split_to(self.chunk_size).freeze();
                return Poll::Ready(Some(Ok(self.frame(data))));
            }
            if self.signer.is_none() {
                return Poll::Ready(None);
            }
            match ready!(hyper::body::Body::poll_frame(Pin::new(&mut self.inner), cx)) {
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                None if !self.pending.is_empty() => {
                    let data = self.pending.split().freeze();
                    return Poll::Ready(Some(Ok(self.frame(data))));
                }
                None => {
                    let end = self
                        .signer
                        .take()
                        .map(ChunkSigner::finish)
                        .unwrap_or_default();
                    self.sent += end.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(end)))));
                }
            }
        }
    }
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Self::File(file) => Pin::new(file).poll_frame(cx),
            Self::Chunked(chunked) => chunked.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(full) => full.is_end_stream(),
            Self::File(file) => file.remaining == 0,
            Self::Chunked(chunked) => chunked.signer.is_none() && chunked.pending.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(full) => full.size_hint(),
            Self::File(file) => SizeHint::with_exact(file.remaining),
            Self::Chunked(chunked) => {
                SizeHint::with_exact(chunked.encoded_len.saturating_sub(chunked.sent))
            }
        }
    }
}

/// A file read chunk by chunk as hyper asks for frames (hyper asks only when it can write, so
/// at most a chunk or two is in memory).
#[derive(Debug)]
pub(crate) struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: BytesMut,
    progress: Option<Arc<AtomicU64>>,
}

impl FileBody {
    async fn open(path: &Path, progress: Option<Arc<AtomicU64>>) -> Result<Self, ClientError> {
        let fail = |source| ClientError::BodyFile {
            path: path.to_owned(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(fail)?;
        let remaining = file.metadata().await.map_err(fail)?.len();
        Ok(Self {
            file,
            remaining,
            buf: BytesMut::new(),
            progress,
        })
    }

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let this = &mut *self;
        this.buf.resize(want, 0);
        let mut read_buf = ReadBuf::new(&mut this.buf);
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut read_buf))?;
        let n = read_buf.filled().len();
        if n == 0 {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was sent ({} bytes missing)",
                    this.remaining
                ),
            ))));
        }
        this.remaining -= n as u64;
        if let Some(counter) = &this.progress {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
        let chunk = this.buf.split_to(n).freeze();
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_file_body_streams_every_byte_in_bounded_chunks_and_hashes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.bin");
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let body = Body::File(path);
        assert_eq!(
            body.sha256().await.unwrap(),
            <[u8; 32]>::from(Sha256::digest(&data))
        );
        let progress = Arc::new(AtomicU64::new(99));
        let mut out = body.open(Some(progress.clone())).await.unwrap();
        assert_eq!(
            hyper::body::Body::size_hint(&out).exact(),
            Some(data.len() as u64)
        );
        let mut sent = Vec::new();
        while let Some(frame) = out.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() <= CHUNK);
            sent.extend_from_slice(&chunk);
        }
        assert_eq!(sent, data);
        assert_eq!(progress.load(Ordering::Relaxed), data.len() as u64);
    }

    #[tokio::test]
    async fn a_missing_file_names_its_path() {
        let err = Body::File("/no/such/file".into())
            .sha256()
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot read /no/such/file");
    }
}
