//! The accept loop and the WebSocket handshake on tokio (examples/chat's
//! `server.rs`, `http.rs` and `upgrade.rs`, the parts a chat client
//! goes through).
//!
//! Each accepted connection gets a task, which reads the request head
//! within `Config::header_timeout` and `Config::max_header_bytes` (with
//! `httparse`, as grt's chat), checks that it is a WebSocket upgrade of
//! `/ws`, answers 101 with tungstenite's accept key, and becomes the
//! client's read pump (client.rs). What the client sent after its head is
//! handed to the read pump's `WebSocket`, as grt's chat does. Anything
//! else gets a bare status: 404 for another path, 400 for a malformed or
//! non-WebSocket request, 408 and 431 for a slow or large head. The room
//! is read from the query and the 101 written by grt's chat's own code
//! (`room_of`, `Accepted`).

use std::sync::Arc;
use std::time::Duration;

use grt_chat::{room_of, Accepted, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tungstenite::handshake::derive_accept_key;

use super::client;
use super::hub::Hub;

/// Backoff after a failed `accept`, doubling between these: grt's chat's
/// (and Go's `http.Server`'s) numbers.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What every connection task needs.
struct Shared {
    config: Config,
    hub: Hub,
}

/// Serves chat clients on `listener` for as long as the process lives,
/// with a `config` that validates. Call it in a task of a tokio runtime
/// (not in `block_on`, so that the accept loop runs on a worker, as
/// grt's runs on a P).
pub async fn serve(listener: TcpListener, config: Config) {
    let hub = Hub::start(&config);
    let shared = Arc::new(Shared { config, hub });
    let mut backoff = Duration::ZERO;
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                backoff = Duration::ZERO;
                tokio::spawn(serve_connection(Arc::clone(&shared), conn));
            }
            Err(err) => {
                backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                eprintln!("chat-tokio: accept failed: {err}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

async fn serve_connection(shared: Arc<Shared>, mut conn: TcpStream) {
    let config = &shared.config;
    let _ = conn.set_nodelay(true);
    let head = tokio::time::timeout(config.header_timeout, read_upgrade(&mut conn, config)).await;
    let (upgrade, early) = match head {
        Ok(Ok(upgrade)) => upgrade,
        Ok(Err(status)) => return refuse(&mut conn, status, config.write_wait).await,
        Err(_) => return refuse(&mut conn, 408, config.write_wait).await,
    };
    let response = upgrade.response();
    let sent = tokio::time::timeout(config.write_wait, conn.write_all(&response)).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    client::serve(&shared.hub, conn, early, Arc::from(upgrade.room), config).await;
}

/// Reads a request head and checks it as an upgrade; returns the upgrade
/// and the bytes after the head, or the status to refuse it with.
async fn read_upgrade(conn: &mut TcpStream, config: &Config) -> Result<(Accepted, Vec<u8>), u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let upgrade = check(&request, config)?;
                return Ok((upgrade, buf[len..].to_vec()));
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Err(400),
        }
        if buf.len() >= config.max_header_bytes {
            return Err(431);
        }
        let room = (config.max_header_bytes - buf.len()).min(chunk.len());
        match conn.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Err(400),
            Ok(read) => buf.extend_from_slice(&chunk[..read]),
        }
    }
}

/// The checks of grt's chat's `upgrade::check` that a client can fail
/// (the module doc of tokio_chat lists what is left out).
fn check(request: &httparse::Request<'_, '_>, config: &Config) -> Result<Accepted, u16> {
    let (path, query) = match request.path.unwrap_or("").split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.path.unwrap_or(""), None),
    };
    if path != "/ws" {
        return Err(404);
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let lists = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let key = header("Sec-WebSocket-Key").filter(|key| !key.is_empty());
    let (Some(key), true, true, true, Some("13")) = (
        key,
        request.method == Some("GET") && request.version == Some(1),
        lists("Connection", "upgrade"),
        lists("Upgrade", "websocket"),
        header("Sec-WebSocket-Version"),
    ) else {
        return Err(400);
    };
    let room = room_of(query, &config.default_room);
    if room.len() > config.max_room_name {
        return Err(400);
    }
    Ok(Accepted {
        accept_key: derive_accept_key(key.as_bytes()),
        room,
    })
}

/// Answers with a bare status and closes.
async fn refuse(conn: &mut TcpStream, status: u16, wait: Duration) {
    let response = format!("HTTP/1.1 {status} \r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = tokio::time::timeout(wait, conn.write_all(response.as_bytes())).await;
}
