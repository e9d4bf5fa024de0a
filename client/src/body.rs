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

/// Whether the body is covered by the signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PayloadSigning {
    /// The body's SHA-256 is signed (a file is read twice: once to hash, once to send). Default.
    #[default]
    Signed,
    /// `UNSIGNED-PAYLOAD`, sent in `x-amz-content-sha256`: the file is read once, and the
    /// server does not check the body.
    Unsigned,
}

/// A response body: streamed from the connection, or already read (error bodies the client
/// inspected).
pub type ResponseBody = Either<Incoming, Full<Bytes>>;

impl Body {
    /// SHA-256 of the body; a file is read in [`CHUNK`]-sized pieces on a blocking thread.
    pub(crate) async fn sha256(&self) -> Result<[u8; 32], ClientError> {
        match self {
            Self::Empty => Ok(Sha256::digest(b"").into()),
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(full) => full.is_end_stream(),
            Self::File(file) => file.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(full) => full.size_hint(),
            Self::File(file) => SizeHint::with_exact(file.remaining),
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
