//! The HTTP server: listener, optional TLS, per-request pipeline, graceful shutdown.
//!
//! Pipeline: `/livez` and `/readyz` answer unsigned; every other request is authenticated
//! first ([`crate::auth`]), so unsigned or badly signed requests get 401 whatever the path,
//! and only then routed ([`crate::routes`]). Every response carries `x-request-id`; one log
//! line per request records method, path (never the query), status, principal, error code
//! and latency.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use countersign::Verifier;

use crate::auth::{self, AuthMethod, Caller};
use crate::clock::SharedClock;
use crate::config::{GatewayRoute, MAX_SESSION_TTL, ServeArgs, SessionArgs};
use crate::error::{ApiError, ErrorRendering, Response, ResponseBody, json_response};
use crate::metrics::{Metrics, RouteLabel};
use crate::password::Passwords;
use crate::policy::{PolicyCache, Subjects};
use crate::proxy::{ForwardError, Gateway};
use crate::routes;
use crate::session_token::SessionSealer;
use crate::sessions::{self, SessionCache};
use crate::store::KeyStore;
use crate::store::cache::KeyCache;
use crate::store::family_cache::FamilyCache;
use crate::store::last_used::{LastUsed, spawn_flusher};
use crate::store::sea::SeaKeyStore;
use crate::throttle::{LoginThrottle, ThrottleLimits};
use crate::{RunError, open_store};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared state of the running server.
pub struct App {
    store: Arc<SeaKeyStore>,
    cache: KeyCache<SeaKeyStore>,
    families: FamilyCache<SeaKeyStore>,
    sealer: SessionSealer,
    opened_sessions: SessionCache,
    passwords: Passwords,
    throttle: LoginThrottle,
    sessions: SessionArgs,
    last_used: Arc<LastUsed>,
    clock: SharedClock,
    verifier: Verifier,
    max_body: u64,
    rendering: ErrorRendering,
    max_keys_per_principal: u32,
    gateway: Option<Gateway>,
    policies: PolicyCache,
    metrics: Metrics,
    /// Whether `/metrics` is served on the main listener (no `--metrics-listen`).
    metrics_on_main: bool,
    cors: Cors,
}

/// Where a request came from, as its connection knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address, when known: failed logins are throttled per address, and the
    /// gateway appends it to `X-Forwarded-For`.
    pub peer: Option<IpAddr>,
    /// Whether the connection is TLS (the gateway's `X-Forwarded-Proto`).
    pub tls: bool,
}

/// `--cors-origin` settings.
#[derive(Debug, Default)]
struct Cors {
    origins: Vec<String>,
    any: bool,
}

impl Cors {
    fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_owned())
                .collect(),
        }
    }

    /// The allowed origin of a request, if it sent one and it is allowed.
    fn allowed<'r>(&self, request: &'r Request<Incoming>) -> Option<&'r HeaderValue> {
        if self.origins.is_empty() {
            return None;
        }
        let origin = request.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        (self.any || self.origins.iter().any(|o| o == text)).then_some(origin)
    }
}

/// Headers a browser may send on a signed request.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, x-amz-date, x-amz-content-sha256, \
                                  x-amz-security-token, x-amz-user-agent";
const CORS_ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

impl App {
    /// State over an opened (and migrated) store.
    pub fn new(store: SeaKeyStore, clock: SharedClock, args: &ServeArgs) -> Self {
        let store = Arc::new(store);
        let sessions = &args.sessions;
        let gateway = Gateway::new(&args.gateway);
        let metrics = Metrics::new(
            gateway
                .iter()
                .flat_map(Gateway::prefixes)
                .map(str::to_owned),
        );
        Self {
            cache: KeyCache::new(store.clone(), clock.clone(), args.key_cache_ttl),
            policies: PolicyCache::new(store.clone(), clock.clone(), args.key_cache_ttl),
            families: FamilyCache::new(store.clone(), clock.clone(), args.key_cache_ttl),
            sealer: SessionSealer::new(store.master_key(), &[]),
            opened_sessions: SessionCache::default(),
            passwords: Passwords::new(),
            throttle: LoginThrottle::new(ThrottleLimits {
                per_principal: sessions.login_max_failures,
                per_address: sessions.login_max_failures_per_address,
                window: sessions.login_lockout,
            }),
            sessions: sessions.clone(),
            store,
            last_used: Arc::new(LastUsed::default()),
            clock,
            verifier: auth::verifier(args),
            max_body: args.max_body,
            rendering: ErrorRendering {
                debug_errors: !args.no_debug_errors,
            },
            max_keys_per_principal: args.store.max_keys_per_principal,
            gateway,
            metrics,
            metrics_on_main: args.metrics_listen.is_none(),
            cors: Cors::new(&args.cors_origins),
        }
    }

    /// The key store.
    pub fn store(&self) -> &SeaKeyStore {
        &self.store
    }

    /// The key cache.
    pub fn cache(&self) -> &KeyCache<SeaKeyStore> {
        &self.cache
    }

    /// The session-family cache (revocation and ban checks of session requests).
    pub fn families(&self) -> &FamilyCache<SeaKeyStore> {
        &self.families
    }

    /// Seals and opens session tokens.
    pub fn sealer(&self) -> &SessionSealer {
        &self.sealer
    }

    /// Session tokens already opened, so repeat requests skip decryption.
    pub fn opened_sessions(&self) -> &SessionCache {
        &self.opened_sessions
    }

    /// Password hashing.
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// The failed-login throttle.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.throttle
    }

    /// The session flags.
    pub fn sessions(&self) -> &SessionArgs {
        &self.sessions
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Pending `last_used_at` updates.
    pub fn last_used(&self) -> &LastUsed {
        &self.last_used
    }

    /// The signature verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// `--max-body` in bytes.
    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// `--max-keys-per-principal`.
    pub fn max_keys_per_principal(&self) -> u32 {
        self.max_keys_per_principal
    }

    /// Policies by principal and key (cached).
    pub fn policies(&self) -> &PolicyCache {
        &self.policies
    }

    /// Checks the caller's policies for `method path` (403 `AccessDenied` when denied).
    /// `/v1/auth/…` (logout) is never denied: ending one's own session must always work.
    ///
    /// # Errors
    /// 403 naming the policy and rule; 503 when the store cannot answer.
    pub async fn authorize(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
    ) -> Result<(), ApiError> {
        match self.authorize_cached(caller, method, path) {
            Some(decided) => decided,
            None => self.authorize_from_store(caller, method, path).await,
        }
    }

    /// [`App::authorize`] once [`App::authorize_cached`] found a policy missing: the missing
    /// ones come from the store.
    async fn authorize_from_store(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
    ) -> Result<(), ApiError> {
        let subjects = policy_subjects(caller);
        self.policies
            .authorize(subjects, method, path, caller.authenticated_at)
            .await
    }

    /// [`App::authorize`] when the policies are cached, without waiting; `None` when the store
    /// must be asked.
    pub fn authorize_cached(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
    ) -> Option<Result<(), ApiError>> {
        if path.starts_with("/v1/auth/") {
            return Some(Ok(()));
        }
        let subjects = policy_subjects(caller);
        self.policies
            .authorize_cached(subjects, method, path, caller.authenticated_at)
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(self.cache.stats())
    }

    /// Serves one request that arrived from `origin`; never fails (errors become JSON
    /// responses).
    pub async fn handle(&self, request: Request<Incoming>, origin: Origin) -> Response {
        let started = Instant::now();
        let request_id = new_request_id();
        let method = request.method().clone();
        // A clone of the URI shares its bytes (no allocation), unlike a copy of the path.
        let uri = request.uri().clone();
        let path = uri.path();
        let allowed_origin = self.cors.allowed(&request).cloned();
        // The gateway route, matched once for the metrics label and the dispatch.
        let upstream = self
            .gateway
            .as_ref()
            .and_then(|g| g.route(path).map(|r| (g, r)));
        let route = route_label(path, upstream.is_some());
        let (result, principal) = if let Some(preflight) = self.preflight(&request) {
            (Ok(preflight), None)
        } else {
            match self.respond(request, path, upstream, started, origin).await {
                Ok((response, caller)) => (Ok(response), caller.map(|c| c.principal)),
                Err((err, None)) => {
                    self.metrics.verification_failure(err.code());
                    (Err(err), None)
                }
                Err((err, Some(caller))) => (Err(err), Some(caller.principal)),
            }
        };
        let error_code = result.as_ref().err().map(ApiError::code);
        let mut response = match result {
            Ok(response) => response,
            Err(err) => err.into_response(request_id.as_str(), self.rendering),
        };
        set_request_id(&mut response, request_id.as_str());
        if let Some(allowed) = allowed_origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-request-id"),
            );
            headers.append(header::VARY, HeaderValue::from_static("origin"));
        }
        self.metrics.request(route, response.status().as_u16());
        tracing::info!(
            target: "countersign::access",
            request_id = %request_id,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            principal = principal.as_deref().unwrap_or("-"),
            error_code = error_code.unwrap_or("-"),
            latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
        response
    }

    /// Answers a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
    /// without a signature, when `--cors-origin` is set.
    fn preflight(&self, request: &Request<Incoming>) -> Option<Response> {
        if self.cors.origins.is_empty()
            || request.method() != Method::OPTIONS
            || !request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let Some(origin) = self.cors.allowed(request) else {
            return Some(
                ApiError::access_denied("this origin is not allowed")
                    .into_response("-", self.rendering),
            );
        };
        let mut response = http::Response::new(ResponseBody::Left(Default::default()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_ALLOW_METHODS),
        );
        let requested = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(CORS_ALLOW_HEADERS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        Some(response)
    }

    /// `started` is when the request arrived (the verification histogram measures from it,
    /// which saves two clock reads per request).
    async fn respond(
        &self,
        request: Request<Incoming>,
        path: &str,
        upstream: Option<(&Gateway, &GatewayRoute)>,
        started: Instant,
        origin: Origin,
    ) -> Result<(Response, Option<Caller>), (ApiError, Option<Caller>)> {
        if let Some(response) = self.unsigned_route(&request).await {
            return Ok((response, None));
        }
        if sessions::is_unsigned_path(path) {
            let response = Box::pin(sessions::unsigned(self, request, origin.peer)).await;
            return response.map(|r| (r, None)).map_err(|err| (err, None));
        }
        if let Some(route) = upstream {
            return Box::pin(self.forward(route, request, started, origin)).await;
        }
        let method = request.method().clone();
        // The common request (a cached key, no body, cached policies, `whoami`) is answered
        // without waiting on anything, and so without building the futures of the steps that
        // may wait: those are boxed, so that this future stays small (it is moved on every
        // request).
        let authenticated = match auth::authenticate_now(self, &request) {
            Some(result) => result.map(|caller| (caller, Bytes::new())),
            None => Box::pin(auth::authenticate(self, request)).await,
        };
        self.metrics.verification_time(started.elapsed());
        let (caller, body) = authenticated.map_err(|err| (err, None))?;
        let authorized = match self.authorize_cached(&caller, method.as_str(), path) {
            Some(decided) => decided,
            None => Box::pin(self.authorize_from_store(&caller, method.as_str(), path)).await,
        };
        if let Err(err) = authorized {
            return Err((err, Some(caller)));
        }
        let answered = match routes::route(&caller, &method, path) {
            routes::Routed::Answer(answer) => answer,
            // The store-backed routes make a large future: boxed, so this one stays small.
            routes::Routed::Dispatch(route) => {
                Box::pin(routes::dispatch(self, &caller, &method, route, &body)).await
            }
        };
        match answered {
            Ok(response) => Ok((response, Some(caller))),
            Err(err) => Err((err, Some(caller))),
        }
    }

    /// Verifies a request for a gateway route and forwards it.
    async fn forward(
        &self,
        (gateway, route): (&Gateway, &GatewayRoute),
        request: Request<Incoming>,
        started: Instant,
        origin: Origin,
    ) -> Result<(Response, Option<Caller>), (ApiError, Option<Caller>)> {
        let (parts, body) = request.into_parts();
        let authenticated =
            auth::authenticate_for_gateway(self, &parts, body, gateway.buffer_limit()).await;
        self.metrics.verification_time(started.elapsed());
        let (caller, body, alternative) = authenticated.map_err(|err| (err, None))?;
        if let Err(err) = self
            .authorize(&caller, parts.method.as_str(), parts.uri.path())
            .await
        {
            return Err((err, Some(caller)));
        }
        let started = Instant::now();
        let forwarded = gateway
            .forward(route, parts, alternative, body, &caller, origin)
            .await;
        self.metrics.upstream_time(&route.prefix, started.elapsed());
        match forwarded {
            Ok(response) => Ok((response, Some(caller))),
            Err(ForwardError::Body(err)) => {
                // Counted like a body that fails its check on the own API.
                self.metrics.verification_failure(err.code());
                Err((err, Some(caller)))
            }
            Err(ForwardError::Upstream(err)) => Err((err, Some(caller))),
        }
    }

    async fn unsigned_route(&self, request: &Request<Incoming>) -> Option<Response> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return None;
        }
        match request.uri().path() {
            "/livez" => Some(json_response(StatusCode::OK, &json!({"status": "ok"}))),
            "/readyz" => Some(Box::pin(self.readiness()).await),
            "/metrics" if self.metrics_on_main => Some(self.metrics_response()),
            _ => None,
        }
    }

    fn metrics_response(&self) -> Response {
        let mut response = http::Response::new(ResponseBody::Left(http_body_util::Full::new(
            Bytes::from(self.metrics_text()),
        )));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }

    async fn readiness(&self) -> Response {
        let ping = tokio::time::timeout(READY_TIMEOUT, self.store.ping()).await;
        match ping {
            Ok(Ok(())) => json_response(StatusCode::OK, &json!({"status": "ok"})),
            Ok(Err(_)) | Err(_) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "reason": "the key store does not answer"}),
            ),
        }
    }
}

/// Runs `serve` until `shutdown` resolves, then drains in-flight requests.
///
/// Prints `listening on ADDR` to stderr once the socket is bound (useful with port 0).
///
/// # Errors
/// [`RunError`] when the store, the TLS files or the listener cannot be set up.
pub async fn serve(
    args: ServeArgs,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let args = args.with_config_file().map_err(RunError::Config)?;
    let server = Server::bind(args, clock).await?;
    announce(server.local_addr(), server.tls.is_some());
    server.run(shutdown).await
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    local: SocketAddr,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    clock: SharedClock,
}

impl Server {
    /// Loads TLS files, opens and migrates the store, and binds the listener.
    ///
    /// # Errors
    /// [`RunError`] when any of them fails.
    pub async fn bind(args: ServeArgs, clock: SharedClock) -> Result<Self, RunError> {
        let tls = load_tls(&args)?;
        let store = open_store(&args.store).await?;
        let app = Arc::new(App::new(store, clock.clone(), &args));
        let bind_error = |source| RunError::Bind {
            addr: args.listen,
            source,
        };
        let listener = TcpListener::bind(args.listen).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let metrics_listener = match args.metrics_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| RunError::Bind { addr, source })?;
                if let Ok(bound) = listener.local_addr() {
                    // A stable line, like `listening on`, for port 0.
                    eprintln!("metrics on {bound}");
                }
                Some(listener)
            }
            None => None,
        };
        Ok(Self {
            listener,
            metrics_listener,
            local,
            app,
            tls,
            clock,
        })
    }

    /// The bound address (the real port when `--listen` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The shared state.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests
    /// (up to [`SHUTDOWN_GRACE`]), writes pending `last_used_at` updates and closes the store.
    ///
    /// # Errors
    /// [`RunError::Store`] when closing the store fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), RunError> {
        let Self {
            listener,
            metrics_listener,
            app,
            tls,
            clock,
            ..
        } = self;
        let metrics_task = metrics_listener.map(|l| tokio::spawn(serve_metrics(l, app.clone())));
        let (stop_flusher, flusher_stop) = watch::channel(false);
        let gc = spawn_gc(
            app.store.clone(),
            clock.clone(),
            app.sessions.gc_interval,
            flusher_stop.clone(),
        );
        let flusher = spawn_flusher(
            app.store.clone(),
            app.last_used.clone(),
            clock,
            flusher_stop,
        );
        accept_loop(&listener, &app, tls, shutdown).await;
        drop(listener);
        if let Some(task) = metrics_task {
            task.abort();
            let _ = task.await;
        }
        let _ = stop_flusher.send(true);
        if flusher.await.is_err() {
            tracing::warn!("last_used flusher ended abnormally");
        }
        if gc.await.is_err() {
            tracing::warn!("refresh-token cleanup task ended abnormally");
        }
        close_store(app).await
    }
}

/// Deletes expired and revoked refresh tokens every `interval` until `stop` turns true.
fn spawn_gc(
    store: Arc<SeaKeyStore>,
    clock: SharedClock,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
            let now = crate::clock::unix_seconds(clock.now());
            match store.gc(now, keep_expired_families()).await {
                Ok(report) => tracing::info!(
                    deleted_refresh_tokens = report.deleted_refresh_tokens,
                    deleted_families = report.deleted_families,
                    "refresh-token cleanup"
                ),
                Err(err) => tracing::warn!(error = %err, "refresh-token cleanup failed"),
            }
        }
    })
}

/// How long an expired family is kept: a session issued from it may live this much longer.
pub fn keep_expired_families() -> i64 {
    i64::try_from(MAX_SESSION_TTL.as_secs()).unwrap_or(i64::MAX)
}

async fn accept_loop(
    listener: &TcpListener,
    app: &Arc<App>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(connection_builder());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = Connection {
                    app: app.clone(),
                    builder: builder.clone(),
                    watcher: graceful.watcher(),
                    peer,
                };
                tokio::spawn(connection.run(stream, tls.clone()));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!(
        in_flight = graceful.count(),
        "shutting down: draining connections"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: dropping remaining connections");
    }
}

/// HTTP/1.1 + h2 with a header read timeout (slow-loris clients are cut off).
fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    builder
}

struct Connection {
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.serve(TokioIo::new(stream), false).await;
        };
        let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
        match handshake.await {
            Ok(Ok(tls_stream)) => self.serve(TokioIo::new(tls_stream), true).await,
            Ok(Err(err)) => {
                tracing::debug!(peer = %self.peer, error = %err, "TLS handshake failed")
            }
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(self, io: TokioIo<I>, tls: bool)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app.clone();
        // Handed to each request as a value: as request extensions, each would be a boxed
        // entry hashed into the request's map on every request.
        let origin = Origin {
            peer: Some(self.peer.ip()),
            tls,
        };
        let service = service_fn(move |request: Request<Incoming>| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(request, origin).await) }
        });
        let connection = self.builder.serve_connection_with_upgrades(io, service);
        if let Err(err) = self.watcher.watch(connection.into_owned()).await {
            tracing::debug!(peer = %self.peer, error = %err, "connection ended with an error");
        }
    }
}

async fn close_store(app: Arc<App>) -> Result<(), RunError> {
    let store = match Arc::try_unwrap(app) {
        Ok(app) => app.store,
        Err(_) => return Ok(()),
    };
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().await.map_err(RunError::Store),
        Err(_) => Ok(()),
    }
}

/// Serves `GET /metrics` (and nothing else) on the `--metrics-listen` address.
async fn serve_metrics(listener: TcpListener, app: Arc<App>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let app = app.clone();
                async move {
                    let response = if request.uri().path() == "/metrics" {
                        app.metrics_response()
                    } else {
                        ApiError::NotFound("only /metrics is served here".into())
                            .into_response("-", app.rendering)
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn announce(local: SocketAddr, tls: bool) {
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(address = %local, scheme, "listening");
    // A stable line for scripts and tests that start the server on port 0.
    eprintln!("listening on {local}");
}

fn load_tls(args: &ServeArgs) -> Result<Option<TlsAcceptor>, RunError> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    tls_acceptor(cert, key).map(Some)
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, RunError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let tls_error = |path: &Path, err: &dyn std::fmt::Display| {
        RunError::Tls(format!("{}: {err}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| tls_error(cert, &err))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|err| tls_error(key, &err))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| RunError::Tls(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|err| tls_error(cert, &err))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A fixed label for the metrics (never the raw path: unbounded cardinality); `gateway`
/// says whether a gateway route matches the path.
fn route_label(path: &str, gateway: bool) -> RouteLabel {
    match path {
        "/livez" => RouteLabel::Livez,
        "/readyz" => RouteLabel::Readyz,
        "/metrics" => RouteLabel::Metrics,
        "/v1/whoami" => RouteLabel::Whoami,
        p if p.starts_with("/v1/auth/") => RouteLabel::Auth,
        p if p.starts_with("/v1/") => RouteLabel::Admin,
        _ if gateway => RouteLabel::Gateway,
        _ => RouteLabel::Other,
    }
}

/// Whose policies apply to the caller: its principal's, its access key's (not for session
/// credentials, whose id is temporary) and its session's narrowing.
fn policy_subjects(caller: &Caller) -> Subjects<'_> {
    let key = (caller.auth != AuthMethod::Session).then_some(&*caller.access_key_id);
    Subjects::new(&caller.principal, key, caller.family.as_deref())
}

/// A request id: 16 hex digits, unique within the process and, with a random per-process
/// seed, across replicas in practice. No system call per request.
struct RequestId([u8; 16]);

impl RequestId {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn new_request_id() -> RequestId {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // Without an entropy source ids are still unique within the process.
        let _ = getrandom::fill(&mut bytes);
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // splitmix64's finalizer is a bijection: distinct counters give distinct ids.
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let mut text = [0u8; 16];
    for (i, digit) in text.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[usize::try_from((z >> (60 - 4 * i)) & 0xf).unwrap_or(0)];
    }
    RequestId(text)
}

/// `x-request-id`, parsed once.
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

fn set_request_id(response: &mut Response, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
}

#[cfg(test)]
mod tests;
