//! sea-orm entities. Only [`crate::store`]'s sea-orm code uses them; routes see the store's types.

pub mod access_key;
pub mod policy;
pub mod principal;
pub mod principal_password;
pub mod refresh_token;
pub mod session_family;
