//! The servers under test, each run in a child process of its own
//! (`netbench --serve SERVER --workload WORKLOAD --addr ADDR --workers N`).
//!
//! Every server accepts in one task, gives each connection a task of its
//! own, sets `TCP_NODELAY` on it (Go does on every connection), and loops
//! read → answer → write until the peer closes. grt's is blocking code,
//! tokio's the same loop with `.await`s; the HTTP ones share their
//! protocol code ([`HttpConn`]), so they differ only in the runtime under
//! the reads and writes. Both listen with a backlog of 4,096, so 1,000
//! connections arriving at once queue on neither.
//!
//! A server prints `listening ADDR` on stdout once it accepts, and exits
//! when its standard input closes: the parent closes it after reading the
//! server's CPU time, and no server outlives a parent that died.

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use super::http::HttpConn;
use super::{Server, Workload, BODY};

/// Connections the kernel may queue for `accept` (grt's `TcpListener`
/// asks for the same).
const BACKLOG: u32 = 4096;

/// Bytes each echo read asks for: room for many messages, though the load
/// has only one in flight per connection.
const ECHO_BUF: usize = 4096;

/// Serves `workload` with `server` on `addr`, `workers` Ps or worker
/// threads, until standard input closes (then exits the process).
pub fn run(server: Server, workload: Workload, addr: SocketAddr, workers: usize) {
    assert!(
        server.serves(workload),
        "{server} does not serve the {workload} workload"
    );
    std::thread::spawn(|| {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    match server {
        Server::Grt => serve_grt(workload, addr, workers),
        Server::Tokio | Server::Hyper => serve_tokio(server, workload, addr, workers),
    }
}

/// Tells the parent where to connect.
fn announce(addr: io::Result<SocketAddr>) {
    let addr = addr.expect("the listener's address");
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening {addr}").expect("write to the parent");
    stdout.flush().expect("write to the parent");
}

fn serve_grt(workload: Workload, addr: SocketAddr, workers: usize) {
    grt::RuntimeBuilder::new().max_procs(workers).run(move || {
        let listener = grt::net::TcpListener::bind(addr)
            .unwrap_or_else(|err| panic!("grt: cannot listen on {addr}: {err}"));
        announce(listener.local_addr());
        for conn in listener.incoming() {
            match conn {
                Ok(conn) => {
                    let _ = conn.set_nodelay(true);
                    grt::go(move || {
                        // The load ends by dropping its connections: errors
                        // here are resets, and the load checks every answer.
                        let _ = match workload {
                            Workload::Echo => grt_echo(conn),
                            Workload::Http => grt_http(conn),
                        };
                    });
                }
                Err(err) => eprintln!("grt server: accept failed: {err}"),
            }
        }
    });
}

/// Copies what the peer sends back to it, until end-of-file.
fn grt_echo(mut conn: grt::net::TcpStream) -> io::Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

/// Answers requests until the peer closes or asks to.
fn grt_http(mut conn: grt::net::TcpStream) -> io::Result<()> {
    let mut http = HttpConn::new();
    loop {
        let n = conn.read(http.spare()?)?;
        if n == 0 {
            return Ok(());
        }
        let keep = http.received(n)?;
        conn.write_all(http.output())?;
        if !keep {
            return Ok(());
        }
    }
}

fn serve_tokio(server: Server, workload: Workload, addr: SocketAddr, workers: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The accept loop is spawned, so it runs on a worker: `block_on`'s
    // thread only waits (it is not one of the `workers`).
    let accepting = runtime.spawn(async move {
        let listener = tokio_listener(addr)
            .unwrap_or_else(|err| panic!("tokio: cannot listen on {addr}: {err}"));
        announce(listener.local_addr());
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    let _ = conn.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = match (server, workload) {
                            (Server::Hyper, _) => hyper_http(conn).await,
                            (_, Workload::Echo) => tokio_echo(conn).await,
                            (_, Workload::Http) => tokio_http(conn).await,
                        };
                    });
                }
                Err(err) => eprintln!("tokio server: accept failed: {err}"),
            }
        }
    });
    runtime
        .block_on(accepting)
        .expect("the accept loop panicked");
}

/// A listener like grt's: `SO_REUSEADDR`, backlog [`BACKLOG`].
fn tokio_listener(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn tokio_echo(mut conn: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
    }
}

async fn tokio_http(mut conn: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut http = HttpConn::new();
    loop {
        let n = conn.read(http.spare()?).await?;
        if n == 0 {
            return Ok(());
        }
        let keep = http.received(n)?;
        conn.write_all(http.output()).await?;
        if !keep {
            return Ok(());
        }
    }
}

/// hyper's HTTP/1.1 server with its defaults (keep-alive on), answering
/// every request with [`BODY`].
async fn hyper_http(conn: tokio::net::TcpStream) -> io::Result<()> {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};

    let service = hyper::service::service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(conn), service)
        .await
        .map_err(io::Error::other)
}
