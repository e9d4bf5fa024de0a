//! # countersign-client
//!
//! An async HTTP(S) client that signs every request with [`countersign`] (SigV4) and sends it
//! with hyper on tokio, over rustls. It is what the `countersign request` command uses, and what
//! a Rust program uses to call a countersign-protected API.
//!
//! What it does on top of the sans-IO signer:
//! - **TLS**: rustls with the `ring` provider and the platform's root certificates
//!   ([`Trust::Platform`]), a private CA ([`Trust::CustomCa`]) or no verification
//!   ([`Trust::Insecure`], for tests only).
//! - **Bodies**: bytes, or a file streamed with bounded memory ([`Body::File`]): the file is
//!   hashed in a first pass (unless [`PayloadSigning::Unsigned`]), then streamed in 64 KiB chunks.
//! - **Clock skew**: on `RequestTimeTooSkewed` it reads the error's `server_time`, re-signs with
//!   the corrected clock and retries once; the offset ([`countersign::ClockOffset`]) is kept for
//!   later requests, and a warning says how far off the local clock is.
//! - **Redirects**: not followed unless [`ClientConfig::follow_redirects`] is set; each hop is
//!   signed again.
//!
//! ```no_run
//! use countersign::Credentials;
//! use countersign_client::{Body, Call, Client, ClientConfig, StaticCredentials};
//!
//! # async fn example() -> Result<(), countersign_client::ClientError> {
//! let credentials = StaticCredentials::new(Credentials::new("AKCS...", "secret"));
//! let client = Client::new(ClientConfig::new("local", "countersign"), credentials)?;
//! let call = Call::new("GET", "https://api.example.com/v1/whoami")?;
//! let reply = client.send(call).await?;
//! println!("{}", reply.response.status());
//! # Ok(()) }
//! ```
//!
//! Credentials come from a [`ProvideCredentials`] implementation: fixed ones
//! ([`StaticCredentials`]), or session credentials ([`SessionCredentials`]) that log in with a
//! password, sign with short-lived credentials and refresh them (rotating the refresh token)
//! shortly before they expire or when the server answers `ExpiredToken`, one refresh at a time
//! however many requests run at once.

mod body;
mod call;
mod client;
mod credentials;
mod error;
mod session;
mod tls;

pub use body::{Body, PayloadSigning, ResponseBody};
pub use call::Call;
pub use client::{Client, ClientConfig, MAX_REDIRECTS, Reply, ServerError};
pub use countersign::chunked::StreamingMode;
pub use credentials::{ProvideCredentials, StaticCredentials};
pub use error::ClientError;
pub use session::{
    DEFAULT_REFRESH_MARGIN, OnRefresh, SessionConfig, SessionCredentials, SessionTokens,
};
pub use tls::Trust;
