//! `countersign request`: send a signed request, stream the response.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use countersign::{ContentSha256Header, SigningSettings, UriEncoding};
use countersign_client::{Body, Call, PayloadSigning, Reply, StreamingMode};
use http_body_util::BodyExt;

use crate::api;
use crate::cli::{ChunkedMode, SendArgs};
use crate::config::{Sources, check_method};
use crate::diff;
use crate::error::CliError;
use crate::progress::Progress;
use crate::url::WireUrl;

/// Sends the request and writes the response to stdout or `-o`.
///
/// # Errors
/// [`CliError`] for usage problems (exit 2) and transport failures (exit 1); HTTP error
/// statuses are not errors but exit codes 4 and 5.
pub fn run(args: &SendArgs, sources: &Sources<'_>) -> Result<ExitCode, CliError> {
    let net = &args.endpoint.net;
    let identity = sources.identity(&net.credentials)?;
    check_method(&args.method)?;
    let url = if args.url.starts_with('/') {
        sources.endpoint(args.endpoint.endpoint.as_ref())? + &args.url
    } else {
        args.url.clone()
    };
    url.parse::<WireUrl>().map_err(CliError::Url)?;
    let body = body(args)?;
    let runtime = api::runtime()?;
    runtime.block_on(async {
        let mut config = api::client_config(&identity, net, args.quiet);
        config.follow_redirects = args.location;
        if args.s3 {
            config.settings = SigningSettings::default()
                .uri_encoding(UriEncoding::S3)
                .content_sha256(ContentSha256Header::Send);
        }
        let client = api::build(config, &identity)?;
        let mut call = Call::new(&args.method, &url)?.body(body.clone());
        for h in &args.headers {
            call = call.header(&h.name, &h.value);
        }
        if args.unsigned_payload {
            call = call.payload(PayloadSigning::Unsigned);
        }
        if let Some(mode) = args.chunked {
            call = call.payload(PayloadSigning::Chunked {
                mode: match mode {
                    ChunkedMode::Signed => StreamingMode::Signed,
                    ChunkedMode::SignedTrailer => StreamingMode::SignedWithTrailer,
                    ChunkedMode::UnsignedTrailer => StreamingMode::UnsignedWithTrailer,
                },
                chunk_size: args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
            });
        }
        let progress = progress_bar(args, &body, &mut call)?;
        let sent = client.send(call).await;
        if let Some(progress) = progress {
            progress.finish();
        }
        let reply = sent?;
        report(&reply, args.quiet);
        let status = reply.response.status();
        write_response(reply, args).await?;
        Ok(api::exit_for(status))
    })
}

/// `--chunk-size` default: 64 KiB, as the AWS SDKs use.
const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

/// The body from `--data`, `--data-file` or `--data-stdin`.
fn body(args: &SendArgs) -> Result<Body, CliError> {
    if let Some(data) = &args.data {
        return Ok(Body::Bytes(Bytes::from(data.clone())));
    }
    if let Some(path) = &args.data_file {
        std::fs::File::open(path).map_err(|source| CliError::DataFile {
            path: path.clone(),
            source,
        })?;
        return Ok(Body::File(path.clone()));
    }
    if args.data_stdin {
        let mut data = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut data)
            .map_err(CliError::Stdin)?;
        return Ok(Body::Bytes(Bytes::from(data)));
    }
    Ok(Body::Empty)
}

/// A progress bar for file uploads when stdout and stderr are terminals and not `--quiet`.
fn progress_bar(
    args: &SendArgs,
    body: &Body,
    call: &mut Call,
) -> Result<Option<Progress>, CliError> {
    let Body::File(path) = body else {
        return Ok(None);
    };
    if args.quiet || !std::io::stderr().is_terminal() || !std::io::stdout().is_terminal() {
        return Ok(None);
    }
    let total = std::fs::metadata(path)
        .map_err(|source| CliError::DataFile {
            path: path.clone(),
            source,
        })?
        .len();
    let counter = Arc::new(AtomicU64::new(0));
    *call = call.clone().progress(counter.clone());
    Ok(Some(Progress::start(counter, total)))
}

/// Warnings and diagnosis on stderr: the clock correction, and the canonical-request diff of a
/// `SignatureDoesNotMatch`.
fn report(reply: &Reply, quiet: bool) {
    if let (Some(seconds), false) = (reply.clock_correction, quiet) {
        let direction = if seconds >= 0 { "behind" } else { "ahead of" };
        eprintln!(
            "countersign: warning: the local clock is {} s {direction} the server's; \
             signed again with the server's time",
            seconds.unsigned_abs()
        );
    }
    let Some(error) = reply
        .error
        .as_ref()
        .filter(|e| e.code == "SignatureDoesNotMatch")
    else {
        return;
    };
    match &error.canonical_request {
        Some(server) => eprint!(
            "countersign: signature mismatch: {}",
            diff::render(&reply.canonical_request, server)
        ),
        None => eprintln!(
            "countersign: signature mismatch; the server does not return its canonical request \
             (started with --no-debug-errors), so no diff. Signed:\n{}",
            reply.canonical_request
        ),
    }
}

/// `-i` head, then the body, streamed to stdout or `-o`.
async fn write_response(reply: Reply, args: &SendArgs) -> Result<(), CliError> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|source| CliError::OutputFile {
                path: path.clone(),
                source,
            })?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let (parts, mut body) = reply.response.into_parts();
    if args.include {
        writeln!(out, "{:?} {}", parts.version, parts.status)?;
        for (name, value) in &parts.headers {
            writeln!(
                out,
                "{}: {}",
                name,
                String::from_utf8_lossy(value.as_bytes())
            )?;
        }
        writeln!(out)?;
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| CliError::Output(std::io::Error::other(err)))?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)?;
        }
    }
    out.flush()?;
    Ok(())
}
