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
