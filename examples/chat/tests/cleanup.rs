//! Clients that vanish leave nothing behind: no task, no descriptor.
//!
//! A file of its own, with one test, so that no other test's sockets or
//! runtimes move the process's descriptor count while this one counts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grt::net::TcpStream;
use grt_chat::{Config, Server};
use tungstenite::WebSocket;

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Waits (parking the task) until `done` holds, failing after `patience`.
fn wait_until(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        grt::time::sleep(Duration::from_millis(5));
    }
}

/// A chat client on grt's sockets, joined to `room`.
fn join(addr: SocketAddr, room: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    let url = format!("ws://{addr}/ws?room={room}");
    let (ws, _) = tungstenite::client(url, stream).expect("handshake");
    ws
}

/// Sixty clients drop their connections without a close frame (half of
/// them with a reset), twenty more stop answering pings; the server
/// notices each, through end-of-file or the pong wait, and its tasks and
/// descriptors return to what they were before any client came.
#[test]
fn vanished_clients_leave_no_tasks_or_descriptors() {
    const HANG_UPS: usize = 60;
    const SILENT: usize = 20;
    let pong_wait = Duration::from_millis(400);
    let patience = Duration::from_secs(20);
    grt::run(move || {
        let config = Config {
            write_wait: Duration::from_millis(500),
            ..Config::default().with_pong_wait(pong_wait)
        };
        let server = Server::start("127.0.0.1:0", config).expect("start");
        let addr = server.local_addr();
        let tasks_before = grt::stats().live_tasks;
        let fds_before = open_fds();

        let joining: Vec<_> = (0..HANG_UPS + SILENT)
            .map(|i| grt::go(move || join(addr, &format!("room{}", i % 7))))
            .collect();
        let mut clients: Vec<_> = joining.into_iter().map(|h| h.join().unwrap()).collect();
        wait_until("every client to register", patience, || {
            server.stats().hub.clients == HANG_UPS + SILENT
        });

        // Hang up: end-of-file for some, a reset (SO_LINGER 0) for others.
        for (i, ws) in clients.drain(..HANG_UPS).enumerate() {
            if i % 2 == 0 {
                let socket = socket2::SockRef::from(ws.get_ref());
                socket.set_linger(Some(Duration::ZERO)).unwrap();
            }
            drop(ws);
        }
        wait_until("the hung-up clients to be gone", patience, || {
            server.stats().hub.clients == SILENT
        });

        // The silent ones are still connected but answer no ping: gone
        // after the pong wait.
        let silence = Instant::now();
        wait_until("the silent clients to be dropped", patience, || {
            server.stats().hub.clients == 0
        });
        assert!(
            silence.elapsed() >= pong_wait / 2,
            "dropped before the pong wait"
        );
        drop(clients);

        wait_until(
            "tasks and descriptors back to the baseline",
            patience,
            || {
                let stats = server.stats();
                stats.connections == 0
                    && grt::stats().live_tasks == tasks_before
                    && open_fds() == fds_before
            },
        );
        server.shutdown();
    });
}
