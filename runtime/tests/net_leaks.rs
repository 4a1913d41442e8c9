//! Clean-up after many connections: descriptors and tasks return to where
//! they started. A file of its own, so that no other test's sockets share
//! the process while it counts descriptors.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use grt::net::{TcpListener, TcpStream};
use grt::RuntimeBuilder;

/// How long a test may wait for a condition before declaring it broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// Lets this process open as many descriptors as its hard limit allows.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn ten_thousand_connections_leave_no_descriptor_or_task_behind() {
    raise_fd_limit();
    const CONNECTIONS: usize = 10_000;
    const AT_ONCE: usize = 200;
    RuntimeBuilder::new().run(|| {
        let (fds_before, tasks_before) = (open_fds(), grt::stats().live_tasks);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = grt::go(move || {
            let mut served = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (conn, _) = listener.accept().unwrap();
                served.push(grt::go(move || {
                    // Reads until the client closes or aborts.
                    let mut conn = conn;
                    let mut buf = [0u8; 64];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) => return true,
                            Ok(_) => {}
                            Err(err) => {
                                assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
                                return false;
                            }
                        }
                    }
                }));
                // Bounds the handlers alive at once, as the clients are.
                if served.len() % AT_ONCE == 0 {
                    for handler in served.drain(..) {
                        handler.join().unwrap();
                    }
                }
            }
            for handler in served {
                handler.join().unwrap();
            }
        });
        for batch in 0..CONNECTIONS / AT_ONCE {
            let clients: Vec<_> = (0..AT_ONCE)
                .map(|i| {
                    grt::go(move || {
                        let mut conn = TcpStream::connect(addr).unwrap();
                        conn.write_all(b"hello").unwrap();
                        if (batch + i) % 3 == 0 {
                            // Abort: linger 0 makes close send a reset,
                            // which the server sees mid-read.
                            socket2::SockRef::from(&conn)
                                .set_linger(Some(Duration::ZERO))
                                .unwrap();
                        }
                    })
                })
                .collect();
            for client in clients {
                client.join().unwrap();
            }
        }
        server.join().unwrap();
        let deadline = Instant::now() + PATIENCE;
        while grt::stats().live_tasks != tasks_before || open_fds() != fds_before {
            assert!(
                Instant::now() < deadline,
                "leak: {} descriptors (was {fds_before}), {} tasks (was {tasks_before})",
                open_fds(),
                grt::stats().live_tasks
            );
            grt::yield_now();
        }
        assert_eq!(grt::stats().net_waiters, 0);
    });
}
