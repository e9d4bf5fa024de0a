//! Where the client's credentials come from.

use std::future::Future;
use std::pin::Pin;

use countersign::Credentials;

use crate::error::ClientError;

/// A source of credentials, asked before each signature (so a provider may refresh them).
pub trait ProvideCredentials: Send + Sync {
    /// The credentials to sign the next request with.
    ///
    /// # Errors
    /// [`ClientError::Credentials`] when none can be obtained.
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + '_>>;

    /// The server answered `ExpiredToken` to a request signed by `rejected` (an access key
    /// id). Returns `true` when newer credentials are now available and the request should be
    /// signed again (once). Default: `false` (fixed credentials cannot be renewed).
    ///
    /// # Errors
    /// [`ClientError`] when renewing failed.
    fn expired<'a>(
        &'a self,
        rejected: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ClientError>> + Send + 'a>> {
        let _ = rejected;
        Box::pin(std::future::ready(Ok(false)))
    }
}

/// Fixed credentials (an access key from a profile, flags or the environment).
#[derive(Debug, Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    /// Wraps `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self(credentials)
    }
}

impl ProvideCredentials for StaticCredentials {
    fn credentials(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Credentials, ClientError>> + Send + '_>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}
