//! hyperproxy: a reverse proxy on tokio and hyper 1.x in front of several
//! backends, round robin, for gatewaybench (src/bin/gatewaybench/) to
//! measure grt's gateway against: the Rust async world's counterpart of
//! benches/gateway/goproxy, and the "tokio/hyper proxy" of the gateway
//! issue.
//!
//!     cargo run --release -p grt-benches --bin hyperproxy -- \
//!         --listen 127.0.0.1:8084 --upstreams 127.0.0.1:9001,127.0.0.1:9002 --workers 2
//!
//! It is a baseline, so it is written the way a tokio user would write
//! one from hyper's own pieces, not tuned: hyper's HTTP/1.1 server on each
//! accepted connection (keep-alive is its default), and hyper-util's
//! `Client` (the "legacy" one: the one with a connection pool), HTTP/1
//! only, keeping at most `--keepalive` idle connections per backend, as
//! Go's `MaxIdleConnsPerHost` and nginx's `keepalive` do. Bodies stream
//! both ways, nothing is buffered whole: the client's body goes upstream
//! as hyper hands it over, the backend's comes back the same way.
//!
//! What it does to the messages is what goproxy's `httputil.ReverseProxy`
//! with a Director does, so that the proxies do the same work: the
//! request's target becomes `http://BACKEND` plus its path, HTTP/1.1 to
//! the backend whatever the client spoke, `Host` left as the client sent
//! it; hop-by-hop fields removed both ways; the client's address appended
//! to `X-Forwarded-For`; 502 with an empty body when the backend fails.
//! Not done, as no run asks for it: protocol upgrades (Go tunnels them)
//! and `TE: trailers`.
//!
//! Workers: `--workers` tokio worker threads (gatewaybench passes its
//! worker count, as `GOMAXPROCS` for Go), one per core by default. The
//! accept loop is spawned onto them, so the main thread only waits, as in
//! netbench's tokio servers. Backends are IP addresses, so connecting
//! never needs tokio's blocking pool (hyper-util's connector resolves
//! names there).

use std::convert::Infallible;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use http_body_util::{Either, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, Scheme};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

/// A reverse proxy on tokio and hyper, round robin over its upstreams.
#[derive(Parser, Debug)]
#[command(name = "hyperproxy")]
struct Args {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8084")]
    listen: SocketAddr,

    /// Backends, comma-separated host:port.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:9001,127.0.0.1:9002"
    )]
    upstreams: Vec<Authority>,

    /// Idle connections kept per backend (nginx's keepalive).
    #[arg(long, default_value_t = 64)]
    keepalive: usize,

    /// tokio worker threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
}

/// Go's `hopHeaders` (examples/gateway/src/proxy/hop.rs has the same list
/// and says why each is there).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the proxy answers with: the backend's body, streamed, or nothing
/// (a 502). `Either` rather than a boxed body, to spare an allocation per
/// response.
type Body = Either<Incoming, Empty<Bytes>>;

/// What every connection shares.
struct Proxy {
    client: Client<HttpConnector, Incoming>,
    upstreams: Vec<Authority>,
    next: AtomicUsize,
}

impl Proxy {
    async fn forward(&self, mut req: Request<Incoming>, client: IpAddr) -> Response<Body> {
        let backend =
            &self.upstreams[self.next.fetch_add(1, Ordering::Relaxed) % self.upstreams.len()];
        let mut target = std::mem::take(req.uri_mut()).into_parts();
        target.scheme = Some(Scheme::HTTP);
        target.authority = Some(backend.clone());
        *req.uri_mut() = Uri::from_parts(target).expect("a scheme and an authority make a URI");
        *req.version_mut() = Version::HTTP_11;
        remove_hop_by_hop(req.headers_mut());
        append_forwarded_for(req.headers_mut(), client);

        match self.client.request(req).await {
            Ok(mut resp) => {
                remove_hop_by_hop(resp.headers_mut());
                resp.map(Either::Left)
            }
            Err(err) => {
                // Go's ErrorHandler logs and answers 502 with no body.
                // Debug, as Display stops at "client error (Connect)".
                eprintln!("hyperproxy: proxy error: {err:?}");
                let mut resp = Response::new(Either::Right(Empty::new()));
                *resp.status_mut() = StatusCode::BAD_GATEWAY;
                resp
            }
        }
    }
}

/// Removes the fields `Connection` names, then the fixed list (in that
/// order: the names are in `Connection`). Names on the fixed list are
/// skipped when reading `Connection`, so the usual `keep-alive` costs
/// no allocation.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| {
            !HOP_BY_HOP
                .iter()
                .any(|h| h.as_str().eq_ignore_ascii_case(name))
        })
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// `X-Forwarded-For: PRIOR, CLIENT` as one field, the earlier proxies'
/// list first (Go's `ServeHTTP`).
fn append_forwarded_for(headers: &mut HeaderMap, client: IpAddr) {
    let mut list = Vec::new();
    for prior in headers.get_all(&X_FORWARDED_FOR) {
        list.extend_from_slice(prior.as_bytes());
        list.extend_from_slice(b", ");
    }
    let _ = write!(list, "{client}");
    // Prior values were valid field values, and so is an address.
    if let Ok(value) = HeaderValue::try_from(list) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Serves `args.listen` for ever; returns only if it cannot listen.
async fn serve(args: Args) -> std::io::Result<Infallible> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    // Go's dialer and nginx set TCP_NODELAY on upstream connections too.
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.keepalive)
        // Without a timer the pool never closes an idle connection (90 s,
        // the default, as Go's IdleConnTimeout).
        .pool_timer(TokioTimer::new())
        .build(connector);
    eprintln!(
        "hyperproxy: serving on http://{} in front of {:?}",
        args.listen, args.upstreams
    );
    let proxy = Arc::new(Proxy {
        client,
        upstreams: args.upstreams,
        next: AtomicUsize::new(0),
    });
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("hyperproxy: accept failed: {err}");
                continue;
            }
        };
        let _ = conn.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, Infallible>(proxy.forward(req, peer.ip()).await) }
            });
            // A client that goes away mid-request is no error of ours
            // (Go's server does not log it either).
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .await;
        });
    }
}

fn main() {
    let args = Args::parse();
    if args.upstreams.is_empty() {
        eprintln!("hyperproxy: --upstreams names no backend");
        std::process::exit(2);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    let serving = runtime.spawn(serve(args));
    let Err(err) = runtime.block_on(serving).expect("the accept loop panicked");
    eprintln!("hyperproxy: {err}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_fixed_list_and_what_connection_names() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("host", "a"),
            ("connection", "keep-alive, X-Private"),
            ("connection", "close"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "secret"),
            ("x-kept", "2"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["host", "x-kept"]);
    }

    #[test]
    fn appends_the_client_to_x_forwarded_for() {
        let client: IpAddr = "192.0.2.3".parse().unwrap();
        let mut headers = HeaderMap::new();
        append_forwarded_for(&mut headers, client);
        assert_eq!(headers[&X_FORWARDED_FOR], "192.0.2.3");

        let mut headers = HeaderMap::new();
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.1"));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.2"));
        append_forwarded_for(&mut headers, client);
        let list: Vec<_> = headers.get_all(&X_FORWARDED_FOR).iter().collect();
        assert_eq!(list, ["203.0.113.1, 198.51.100.2, 192.0.2.3"]);
    }
}
