//! [`ReverseProxy`]: a [`Handler`] that sends each request to a backend and
//! streams the answer back (Go's `httputil.ReverseProxy`).
//!
//! The shape is Go's: a proxy is a handler with hooks.
//! - **director** hooks shape the outgoing request (Go's `Director`, or
//!   `Rewrite`): path, query, fields. [`ReverseProxy::single_host`] installs
//!   one that sends everything below a URL, like `NewSingleHostReverseProxy`.
//! - **modify_response** sees the backend's response before the client
//!   does, and may change it or refuse it (Go's `ModifyResponse`).
//! - **error_handler** answers when no response could be had (Go's
//!   `ErrorHandler`; the default logs and answers 502, or 504 for a
//!   timeout: error.rs).
//!
//! One difference, taken from Go's later `Rewrite` API: our directors run
//! *after* the hop-by-hop fields are removed and `X-Forwarded-*` set, so a
//! director can override those and nothing it adds is stripped behind its
//! back (the trap of Go's `Director`, which runs before the stripping).
//!
//! # The life of a proxied request
//! 1. Note a protocol upgrade, if asked for (hop.rs).
//! 2. Copy the head; remove hop-by-hop fields and `Expect` (the server has
//!    dealt with `100-continue`); put the upgrade back; set
//!    `X-Forwarded-For/-Host/-Proto` (forwarded.rs); run the directors.
//! 3. Pick a backend (targets.rs: the one, or the balancer's choice by the
//!    route's hash key, hash_key.rs), tell the balancer it started.
//! 4. Exchange with it (upstream/): the body streams from the client
//!    socket to the backend socket as it is read.
//! 5. On failure, retry or answer (below). On success: strip hop-by-hop
//!    fields from the response, run `modify_response`, and return a
//!    response whose body streams from the backend and tells the balancer
//!    when it is done (upstream/response_body.rs).
//! 6. For a `101`, return a response whose upgrade callback pipes the two
//!    sockets together (tunnel.rs).
//!
//! # When a request is sent again
//! A request may go to another backend only when sending it twice cannot
//! do harm (RFC 9110 §9.2.2):
//! - the connection could not be made: nothing was sent; any method is
//!   retried, on a backend not yet tried (nginx's `proxy_next_upstream
//!   error`, which also retries only "if a request has not been sent");
//! - a pooled connection turned out to be closed before any response byte
//!   (the keep-alive race, upstream/pool.rs): the backend may have seen the
//!   request, so only an idempotent one with no body consumed is sent
//!   again, first on a fresh connection to the same backend (as Go's
//!   transport does), then elsewhere;
//! - anything else (a timeout, a reset after the response began, a POST
//!   whose connection died) is answered, never retried: a non-idempotent
//!   request that may have been acted on must not be repeated.
//!
//! A request whose body was partly read can never be retried: those bytes
//! are gone from the client's socket.

mod error;
mod forwarded;
mod hash_key;
mod hop;
mod single_host;
mod targets;
mod tunnel;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

pub use error::{default_error_response, ErrorHandler, ProxyError};
pub use forwarded::set_forwarded;
pub use hash_key::HashKey;
pub use hop::{remove_hop_by_hop, upgrade_type, HOP_BY_HOP};
pub use single_host::SingleHost;
pub use targets::Targets;
pub use tunnel::tunnel;

use crate::balance::{Backend, Balancer, RequestKey};
use crate::handler::Handler;
use crate::http::{Body, Request, RequestHead, Response, ResponseHead, UpstreamInfo};
use crate::upstream::{Failure, Upstream, UpstreamConfig, UpstreamResponse};

/// Shapes an outgoing request.
pub type Director = Box<dyn Fn(&mut RequestHead) + Send + Sync>;

/// Sees, changes or refuses (`Err`: 502) a backend's response.
pub type ModifyResponse = Box<dyn Fn(&mut Response) -> Result<(), String> + Send + Sync>;

/// A reverse proxy (module doc).
pub struct ReverseProxy {
    targets: Targets,
    /// Run in order on every outgoing request.
    directors: Vec<Director>,
    modify_response: Option<ModifyResponse>,
    error_handler: Option<ErrorHandler>,
}

impl ReverseProxy {
    /// A proxy over `targets`, with no hooks.
    pub fn new(targets: Targets) -> ReverseProxy {
        ReverseProxy {
            targets,
            directors: Vec::new(),
            modify_response: None,
            error_handler: None,
        }
    }

    /// Go's `NewSingleHostReverseProxy`: every request to `url`'s host,
    /// below its path (single_host.rs).
    pub fn single_host(url: &str) -> Result<ReverseProxy, String> {
        ReverseProxy::single_host_with(url, UpstreamConfig::default())
    }

    /// [`single_host`](Self::single_host) with explicit timeouts and pool.
    pub fn single_host_with(url: &str, config: UpstreamConfig) -> Result<ReverseProxy, String> {
        let target = SingleHost::parse(url)?;
        let upstream = Arc::new(Upstream::new(target.addr, config));
        Ok(ReverseProxy::new(Targets::Single(upstream)).director(move |head| target.direct(head)))
    }

    /// A proxy over `backends`, which `balancer` (built for that same
    /// list) picks from, hashing `hash_key` when it hashes.
    pub fn balanced(
        backends: &[Backend],
        balancer: Box<dyn Balancer>,
        hash_key: HashKey,
        config: UpstreamConfig,
    ) -> ReverseProxy {
        let upstreams = backends
            .iter()
            .map(|backend| Arc::new(Upstream::new(backend.addr, config.clone())))
            .collect();
        ReverseProxy::new(Targets::balanced(upstreams, Arc::from(balancer), hash_key))
    }

    /// Adds a director, run after those already there.
    pub fn director(mut self, director: impl Fn(&mut RequestHead) + Send + Sync + 'static) -> Self {
        self.directors.push(Box::new(director));
        self
    }

    /// Sets the response hook.
    pub fn modify_response(
        mut self,
        hook: impl Fn(&mut Response) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.modify_response = Some(Box::new(hook));
        self
    }

    /// Sets the error handler.
    pub fn error_handler(
        mut self,
        handler: impl Fn(&RequestHead, &ProxyError) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.error_handler = Some(Box::new(handler));
        self
    }

    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The outgoing head for `req` (module doc, step 2), made from the
    /// request's own: the client's head is not needed again, so it is
    /// rewritten in place rather than copied (as Go's `Rewrite` hook sees
    /// `Out` while `In` stays behind, we keep only what we read first).
    fn outgoing(&self, req: &mut Request<'_>, upgrade: Option<&str>) -> RequestHead {
        let mut out = std::mem::replace(&mut req.head, RequestHead::new("", ""));
        // The Host the client asked for, kept before anything is removed.
        let host = out.headers.get("host").map(<[u8]>::to_vec);
        remove_hop_by_hop(&mut out.headers);
        out.headers.remove("expect");
        if let Some(protocol) = upgrade {
            out.headers.set("Connection", "Upgrade");
            out.headers.set("Upgrade", protocol);
        }
        // After the removal, so that a client cannot strip them by naming
        // them in `Connection`.
        set_forwarded(&mut out.headers, req.peer.ip(), host.as_deref(), "http");
        for director in &self.directors {
            director(&mut out);
        }
        out
    }

    /// Steps 1–6 of the module doc, for the outgoing head `out`; `Err` goes
    /// to the error handler.
    fn forward(
        &self,
        out: &RequestHead,
        req: &mut Request<'_>,
        key_bytes: Option<&[u8]>,
        upgrade: Option<&str>,
    ) -> Result<Response, ProxyError> {
        let key = RequestKey {
            client_ip: req.peer.ip(),
            hash_key: key_bytes,
        };
        let idempotent = out.is_idempotent();
        let mut tried = Vec::new();
        let mut last = None;
        // Filled only on failure, so the usual request allocates nothing.
        while let Some(i) = self.targets.pick(&key, &tried) {
            self.targets.started(i);
            let upstream = self.targets.upstream(i);
            let mut sent = Instant::now();
            let mut result = upstream.round_trip(out, &mut req.body);
            if matches!(result, Err(Failure::Stale(_))) && idempotent && req.body.bytes_read() == 0
            {
                sent = Instant::now();
                result = upstream.round_trip_fresh(out, &mut req.body);
            }
            match result {
                Ok(response) => {
                    let info = UpstreamInfo {
                        addr: upstream.addr(),
                        header_time: Some(sent.elapsed()),
                    };
                    return self.respond(response, i, upgrade, info);
                }
                Err(failure) => {
                    tried.push(i);
                    if let Some(done) = self.targets.finisher(i) {
                        done(!failure.blames_backend());
                    }
                    let retry = match failure {
                        Failure::Connect(_) => true,
                        Failure::Stale(_) => idempotent && req.body.bytes_read() == 0,
                        _ => false,
                    };
                    let err = ProxyError::Upstream {
                        addr: upstream.addr(),
                        failure,
                    };
                    if !retry {
                        return Err(err);
                    }
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or(ProxyError::NoBackend))
    }

    /// Step 5 and 6: the backend's response, made ready for the client.
    fn respond(
        &self,
        mut upstream: UpstreamResponse,
        i: usize,
        upgrade: Option<&str>,
        info: UpstreamInfo,
    ) -> Result<Response, ProxyError> {
        let mut head = std::mem::replace(&mut upstream.head, ResponseHead::new(502));
        let done = self.targets.finisher(i);
        let mut response = if head.status == 101 {
            let switched = upgrade_type(&head.headers);
            let Some(protocol) = upgrade.filter(|&asked| switched.as_deref() == Some(asked)) else {
                if let Some(done) = done {
                    done(true);
                }
                return Err(ProxyError::BadUpgrade(format!(
                    "asked for {upgrade:?}, the backend switched to {switched:?}"
                )));
            };
            remove_hop_by_hop(&mut head.headers);
            head.headers.set("Connection", "Upgrade");
            head.headers.set("Upgrade", protocol);
            let (backend, leftover) = upstream.into_upgraded();
            Response {
                head,
                body: Body::empty(),
                upgrade: Some(Box::new(move |client| {
                    let clean = tunnel(client, backend, leftover);
                    if let Some(done) = done {
                        done(clean);
                    }
                })),
                close: false,
                upstream: Some(info),
            }
        } else {
            remove_hop_by_hop(&mut head.headers);
            let len = upstream.body_len();
            let body = upstream.into_body(done);
            Response {
                head,
                body: Body::from_reader(body, len),
                upgrade: None,
                close: false,
                upstream: Some(info),
            }
        };
        if let Some(hook) = &self.modify_response {
            hook(&mut response).map_err(ProxyError::ModifyResponse)?;
        }
        Ok(response)
    }
}

impl Handler for ReverseProxy {
    fn serve(&self, mut req: Request<'_>) -> Response {
        // What is read from the client's head before it becomes the
        // outgoing one.
        let upgrade = upgrade_type(&req.head.headers);
        // Owned: the head it may borrow from is about to be rewritten
        // (only hashing routes have a key to copy).
        let key_bytes = self
            .targets
            .hash_key()
            .and_then(|key| key.extract(&req.head))
            .map(Cow::into_owned);
        let out = self.outgoing(&mut req, upgrade.as_deref());
        match self.forward(&out, &mut req, key_bytes.as_deref(), upgrade.as_deref()) {
            Ok(response) => response,
            Err(err) => {
                let mut response = match &self.error_handler {
                    Some(handler) => handler(&out, &err),
                    None => default_error_response(&out, &err),
                };
                if let ProxyError::Upstream { addr, .. } = err {
                    response.upstream.get_or_insert(UpstreamInfo {
                        addr,
                        header_time: None,
                    });
                }
                response
            }
        }
    }
}
