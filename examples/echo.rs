//! echo: a TCP echo server, one task per connection, and a load of clients
//! to talk to it — blocking-style code on the net poller.
//!
//! Each connection's task reads and writes as if it had a thread of its
//! own. When a read finds no data the task parks in the poller (its socket's
//! read slot holds it), and the M runs another task; when bytes arrive,
//! epoll reports the socket, the poller hands back the task, and the task is
//! readied into a P's queue (see the book's "The net poller").
//!
//!     cargo run --release --example echo                   # server + 1,000 clients
//!     cargo run --release --example echo -- --clients 5000 --rounds 100
//!     cargo run --release --example echo -- --serve 127.0.0.1:7777
//!
//! With `--serve` it only serves (try `nc 127.0.0.1 7777`); otherwise it
//! starts the server on a free port, runs the clients against it, checks
//! every byte, and prints round trips per second and the scheduler's view.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use grt::net::{TcpListener, TcpStream};

/// Copies what the peer sends back to it, until end-of-file.
fn echo(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

/// Go's classic server loop: accept, and give each connection a task.
fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                let _ = conn.set_nodelay(true);
                grt::go(move || {
                    if let Err(err) = echo(conn) {
                        eprintln!("echo: connection ended with {err}");
                    }
                });
            }
            Err(err) => eprintln!("echo: accept failed: {err}"),
        }
    }
}

/// One client: `rounds` messages of 64 bytes, each read back and checked.
fn client(addr: SocketAddr, id: usize, rounds: usize) -> io::Result<()> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    let mut back = [0u8; 64];
    for round in 0..rounds {
        let msg = [(id + round) as u8; 64];
        conn.write_all(&msg)?;
        conn.read_exact(&mut back)?;
        if back != msg {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "echo mismatch"));
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: usize| {
        flag(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, got {v:?}"))
        })
    };
    let serve_at = flag("--serve");
    let clients = number("--clients", 1000);
    let rounds = number("--rounds", 20);

    grt::run(move || {
        if let Some(addr) = serve_at {
            let listener = TcpListener::bind(&addr)
                .unwrap_or_else(|err| panic!("cannot listen on {addr}: {err}"));
            println!("echo: serving on {}", listener.local_addr().unwrap());
            serve(listener);
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let addr = listener.local_addr().unwrap();
        grt::go(move || serve(listener));
        let start = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|id| grt::go(move || client(addr, id, rounds)))
            .collect();
        let failed = handles
            .into_iter()
            .map(|h| h.join())
            .filter(|outcome| !matches!(outcome, Ok(Ok(()))))
            .count();
        let elapsed = start.elapsed();
        let trips = (clients - failed) * rounds;
        println!(
            "echo: {clients} clients x {rounds} round trips of 64 bytes in {:.2?}: {:.0} round trips/s, {failed} clients failed",
            elapsed,
            trips as f64 / elapsed.as_secs_f64()
        );
        println!("echo: {}", grt::stats());
    });
}
