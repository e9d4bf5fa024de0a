//! A forum whose API authenticates users with countersign, embedding the verifier as a
//! library (no proxy in front).
//!
//! - `POST /topics` `{"title": "…", "body": "…"}` needs a valid SigV4 signature (long-term key
//!   or session credentials from login): 401 without one. The topic records the
//!   authenticated principal as its author; the client cannot choose it.
//! - `GET /topics` lists topics (public).
//! - Every other path is countersign-server's own API (`/v1/auth/login`, `/v1/auth/refresh`,
//!   `/v1/auth/logout`, `/v1/whoami`, …), served by the same embedded [`App`].
//!
//! It takes the same flags as `countersign-server serve` (database, master key, region,
//! service, session TTLs…), so it can share a database and master key with real servers:
//!
//! ```sh
//! countersign-server principal create alice
//! printf '%s\n' 'correct horse battery' | countersign-server principal set-password alice
//! cargo run -p countersign-server --example forum -- --listen 127.0.0.1:8081
//! ```
//!
//! Topics live in memory: this is an example of authentication, not of storage.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use clap::Parser;
use countersign_server::app::{App, Origin};
use countersign_server::auth::{self, Caller};
use countersign_server::clock::{SystemClock, unix_seconds};
use countersign_server::config::ServeArgs;
use countersign_server::error::{ApiError, ErrorRendering, Response, json_response};
use countersign_server::open_store;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

/// Command line: the flags of `countersign-server serve`.
#[derive(Debug, Parser)]
#[command(
    name = "forum",
    about = "Example forum API authenticated by countersign"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A forum topic.
#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    /// Position in the list, from 1.
    pub id: usize,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// The principal whose signature created it.
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTopic {
    title: String,
    body: String,
}

/// The forum: countersign's app plus the topics.
pub struct Forum {
    app: App,
    topics: Mutex<Vec<Topic>>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("forum: cannot start the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.serve)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("forum: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(args.listen).await?;
    let forum = Forum::open(args).await?;
    eprintln!("forum listening on {}", listener.local_addr()?);
    serve(Arc::new(forum), listener).await;
    Ok(())
}

impl Forum {
    /// Opens (and migrates) the store named by `args` and builds the embedded app.
    ///
    /// # Errors
    /// When the master key or the database is unusable.
    pub async fn open(args: ServeArgs) -> Result<Self, countersign_server::RunError> {
        let store = open_store(&args.store).await?;
        let app = App::new(store, Arc::new(SystemClock), &args);
        Ok(Self {
            app,
            topics: Mutex::new(Vec::new()),
        })
    }

    /// Serves one request that arrived from `origin`.
    pub async fn handle(&self, request: Request<Incoming>, origin: Origin) -> Response {
        if request.uri().path() != "/topics" {
            return self.app.handle(request, origin).await;
        }
        let result = match *request.method() {
            Method::GET => Ok(self.list()),
            Method::POST => self.create(request).await,
            _ => Err(ApiError::MethodNotAllowed {
                allowed: &["GET", "POST"],
            }),
        };
        result.unwrap_or_else(|err| {
            err.into_response(
                "forum",
                ErrorRendering {
                    debug_errors: false,
                },
            )
        })
    }

    async fn create(&self, request: Request<Incoming>) -> Result<Response, ApiError> {
        let (caller, body): (Caller, Bytes) = auth::authenticate(&self.app, request).await?;
        let new: NewTopic = serde_json::from_slice(&body)
            .map_err(|err| ApiError::InvalidRequest(format!("invalid topic: {err}")))?;
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = Topic {
            id: topics.len() + 1,
            title: new.title,
            body: new.body,
            author: caller.principal.to_string(),
            created_at: unix_seconds(self.app.clock().now()),
        };
        topics.push(topic.clone());
        Ok(json_response(StatusCode::CREATED, &json!(topic)))
    }

    fn list(&self) -> Response {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        json_response(StatusCode::OK, &json!({ "topics": *topics }))
    }
}

/// Accepts HTTP/1.1 connections on `listener` forever.
pub async fn serve(forum: Arc<Forum>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(forum.clone(), stream, peer));
    }
}

async fn connection(forum: Arc<Forum>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    // Login throttling counts failures per client address.
    let origin = Origin {
        peer: Some(peer.ip()),
        tls: false,
    };
    let service = service_fn(move |request: Request<Incoming>| {
        let forum = forum.clone();
        async move { Ok::<_, Infallible>(forum.handle(request, origin).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
