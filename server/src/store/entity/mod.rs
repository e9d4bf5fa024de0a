//! sea-orm entities. Only [`crate::store::sea`] uses them; routes see the store's types.

pub mod access_key;
pub mod principal;
