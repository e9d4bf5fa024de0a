//! One module per subcommand, each with `run`.

pub mod admin;
pub mod configure;
pub mod login;
pub mod logout;
pub mod presign;
pub mod request;
pub mod sign;
pub mod whoami;

use countersign::Request;

use crate::config::Resolved;

/// The SDK's view of the resolved request.
pub(crate) fn request_view(r: &Resolved) -> Request<'_> {
    Request::new(&r.method, &r.url.target).headers(
        r.headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str())),
    )
}

/// `x-amz-date` → `X-Amz-Date`, as HTTP tools print header names.
pub(crate) fn display_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}
