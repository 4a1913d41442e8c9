//! Sockets on the net poller: many connections, deadlines, clean-up. Each
//! test builds its own runtime; servers and clients are tasks of it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use grt::RuntimeBuilder;

/// How long a test may wait for a condition before declaring it broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// Lets this process open as many descriptors as its hard limit allows
/// (CI machines often start with a soft limit of 1,024).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// The bytes client `client` sends as its message `round`: lengths and
/// contents differ, so a byte delivered to the wrong connection or out of
/// order is noticed.
fn message(client: usize, round: usize) -> Vec<u8> {
    let len = 1 + (client * 7 + round * 13) % 3000;
    (0..len)
        .map(|i| (client as u32 ^ (round as u32) << 3 ^ i as u32) as u8)
        .collect()
}

/// Copies everything it reads back to the sender until end-of-file.
fn echo(mut conn: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        conn.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Starts an echo server task on a free port; it serves `connections`
/// connections, each in its own task, and returns the bytes it echoed.
fn echo_server(connections: usize) -> (SocketAddr, grt::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = grt::go(move || {
        let handlers: Vec<_> = (0..connections)
            .map(|_| {
                let (conn, _) = listener.accept().unwrap();
                grt::go(move || echo(conn).unwrap())
            })
            .collect();
        handlers.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (addr, server)
}

#[test]
fn a_thousand_clients_each_get_every_byte_back() {
    raise_fd_limit();
    const CLIENTS: usize = 1000;
    const ROUNDS: usize = 5;
    let (echoed, sent) = RuntimeBuilder::new().run(|| {
        let (addr, server) = echo_server(CLIENTS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                grt::go(move || {
                    let mut conn = TcpStream::connect(addr).unwrap();
                    conn.set_nodelay(true).unwrap();
                    let mut sent = 0;
                    for round in 0..ROUNDS {
                        let msg = message(client, round);
                        conn.write_all(&msg).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        conn.read_exact(&mut back).unwrap();
                        assert!(back == msg, "client {client} round {round}: wrong bytes");
                        sent += msg.len() as u64;
                    }
                    sent
                })
            })
            .collect();
        let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        (server.join().unwrap(), sent)
    });
    let expected: u64 = (0..CLIENTS)
        .flat_map(|c| (0..ROUNDS).map(move |r| message(c, r).len() as u64))
        .sum();
    assert_eq!(sent, expected);
    assert_eq!(echoed, expected);
}

#[test]
fn a_reader_and_a_writer_share_one_connection() {
    let total = RuntimeBuilder::new().max_procs(2).run(|| {
        let (addr, server) = echo_server(1);
        let conn = Arc::new(TcpStream::connect(addr).unwrap());
        let writer = {
            let conn = Arc::clone(&conn);
            grt::go(move || {
                for round in 0..200 {
                    (&*conn).write_all(&message(1, round)).unwrap();
                }
                conn.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut back = Vec::new();
        (&*conn).read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        let expected: Vec<u8> = (0..200).flat_map(|r| message(1, r)).collect();
        assert!(back == expected, "the echoed stream differs");
        server.join().unwrap()
    });
    assert!(total > 0);
}

#[test]
fn a_read_from_a_silent_peer_times_out() {
    let (err, waited) = RuntimeBuilder::new().run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts, then holds the connection open without a word.
        let silent = grt::go(move || listener.accept().unwrap());
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let err = conn.read(&mut [0u8; 16]).unwrap_err();
        let waited = start.elapsed();
        drop(silent.join().unwrap());
        (err, waited)
    });
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        waited >= Duration::from_millis(100),
        "gave up early: {waited:?}"
    );
    assert!(waited < PATIENCE, "the timeout did not fire: {waited:?}");
}

#[test]
fn a_timed_out_read_leaves_the_connection_usable() {
    RuntimeBuilder::new().run(|| {
        let (addr, server) = echo_server(1);
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = conn.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        conn.set_read_timeout(None).unwrap();
        conn.write_all(b"still here").unwrap();
        let mut back = [0u8; 10];
        conn.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"still here");
        conn.shutdown(Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), 10);
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused_at_once() {
    let (plain, timed) = RuntimeBuilder::new().run(|| {
        // A port that was free a moment ago, and has no listener now.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let plain = TcpStream::connect(addr).unwrap_err();
        let start = Instant::now();
        let timed = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited out the timeout"
        );
        (plain, timed)
    });
    assert_eq!(plain.kind(), io::ErrorKind::ConnectionRefused, "{plain}");
    assert_eq!(timed.kind(), io::ErrorKind::ConnectionRefused, "{timed}");
}

#[test]
fn a_connect_nobody_answers_times_out() {
    let (err, waited) = RuntimeBuilder::new().run(|| {
        // A listener that never accepts, with the smallest backlog: once
        // its queue is full the kernel drops further SYNs, so a connect
        // hangs as it would to a host that does not answer.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "the backlog never filled");
            let start = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(conn) => queued.push(conn),
                Err(err) => break (err, start.elapsed()),
            }
        }
    });
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        waited >= Duration::from_millis(200),
        "gave up early: {waited:?}"
    );
}

#[test]
fn udp_datagrams_park_the_receiver() {
    let got = RuntimeBuilder::new().run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let receiver = grt::go(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, _) = server.recv_from(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
            }
            got
        });
        // The receiver parks first; each datagram wakes it.
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for word in [&b"one"[..], b"two", b"three"] {
            client.send_to(word, addr).unwrap();
        }
        receiver.join().unwrap()
    });
    assert_eq!(
        got,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
}

#[test]
fn unix_streams_carry_bytes_both_ways() {
    let back = RuntimeBuilder::new().max_procs(1).run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let peer = grt::go(move || {
            let mut b = b;
            let mut buf = vec![0u8; 100_000];
            b.read_exact(&mut buf).unwrap();
            buf.reverse();
            b.write_all(&buf).unwrap();
        });
        let mut a = a;
        // Bigger than a socket buffer: the writer parks until the peer reads.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        a.write_all(&data).unwrap();
        let mut back = vec![0u8; data.len()];
        a.read_exact(&mut back).unwrap();
        peer.join().unwrap();
        back.reverse();
        back == data
    });
    assert!(back);
}

#[test]
fn shutdown_wakes_a_task_blocked_reading() {
    let read = RuntimeBuilder::new().run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conn = Arc::new(TcpStream::connect(addr).unwrap());
        let _peer = listener.accept().unwrap();
        let reader = {
            let conn = Arc::clone(&conn);
            grt::go(move || (&*conn).read(&mut [0u8; 8]))
        };
        // Wait until the reader is parked on the socket, then cut it off.
        yield_until(|| grt::stats().net_waiters > 0, "the reader never parked");
        conn.shutdown(Shutdown::Both).unwrap();
        reader.join().unwrap()
    });
    assert_eq!(read.unwrap(), 0, "end-of-file after shutdown");
}

#[test]
fn sockets_work_from_plain_threads_too() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(&buf).unwrap();
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"plain").unwrap();
    let mut back = [0u8; 5];
    conn.read_exact(&mut back).unwrap();
    server.join().unwrap();
    assert_eq!(&back, b"plain");
}

#[test]
fn a_read_deadline_bounds_every_later_read_until_cleared() {
    RuntimeBuilder::new().run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut conn = TcpStream::connect(addr).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        conn.set_read_deadline(Some(deadline)).unwrap();
        let err = conn.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline, "gave up before the deadline");
        // Still past the deadline: the next read fails too, without waiting.
        let err = conn.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // Cleared, a read waits for the data again.
        conn.set_read_deadline(None).unwrap();
        peer.write_all(b"late").unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
    });
}

/// Yields until `done` says so, failing with `never` after `PATIENCE`.
fn yield_until(done: impl Fn() -> bool, never: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{never}");
        grt::yield_now();
    }
}

/// Yields until `task` is parked waiting on a socket.
fn until_waiting_on_io(task: &grt::TaskHandle) {
    yield_until(
        || task.wait_reason() == grt::WaitReason::IoWait,
        "the task never waited on its socket",
    );
}

/// A connected TCP pair: ours, shared so that tasks can read it while
/// another sets its deadlines, and the peer.
fn shared_connection() -> (Arc<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = Arc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
    let (peer, _) = listener.accept().unwrap();
    (conn, peer)
}

/// A task reading `conn` once, with the error kind if it fails.
fn reader(conn: &Arc<TcpStream>) -> grt::JoinHandle<Result<usize, io::ErrorKind>> {
    let conn = Arc::clone(conn);
    grt::go(move || (&*conn).read(&mut [0u8; 8]).map_err(|err| err.kind()))
}

/// For tests whose failure is a read that waits for ever: unless told
/// (by sending on the returned channel) within 5 s that the reads ended,
/// the task writes to `peer` and then closes it, so a read that missed
/// what the test did ends with data instead of hanging, and the test's
/// assertion says what went wrong.
fn rescue(mut peer: TcpStream) -> (grt::chan::Sender<()>, grt::JoinHandle<()>) {
    let (done, finished) = grt::chan::bounded::<()>(1);
    let task = grt::go(move || {
        if finished.recv_timeout(Duration::from_secs(5)).is_err() {
            peer.write_all(b"rescue").unwrap();
        }
    });
    (done, task)
}

/// As in Go, a deadline applies to a call already waiting: a deadline in
/// the past, set by another task, is how a blocked read is stopped.
#[test]
fn a_deadline_set_while_a_read_waits_stops_it() {
    RuntimeBuilder::new().run(|| {
        let (conn, peer) = shared_connection();
        let reader = reader(&conn);
        until_waiting_on_io(reader.task());
        let (done, rescue) = rescue(peer);
        conn.set_read_deadline(Some(Instant::now())).unwrap();
        let read = reader.join().unwrap();
        let _ = done.send(()); // the rescue may have given up waiting already
        rescue.join().unwrap();
        assert_eq!(read, Err(io::ErrorKind::TimedOut));
    });
}

/// Two reads wait on one socket: one in the poller, the other for its
/// turn behind it, having read the deadline before its turn came. The
/// setter's interrupt finds only the first one's token; the second sees
/// the change once its own is in (`park_until_ready`'s `moved` check), so
/// the deadline stops both.
#[test]
fn a_deadline_set_while_two_reads_wait_stops_both() {
    RuntimeBuilder::new().run(|| {
        let (conn, peer) = shared_connection();
        let readers = [reader(&conn), reader(&conn)];
        yield_until(
            || {
                readers
                    .iter()
                    .all(|reader| reader.task().state() == grt::TaskState::Waiting)
            },
            "the readers never both waited",
        );
        // Data for one read if the deadline is missed, the end for the other.
        let (done, rescue) = rescue(peer);
        conn.set_read_deadline(Some(Instant::now())).unwrap();
        let reads: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        let _ = done.send(()); // the rescue may have given up waiting already
        rescue.join().unwrap();
        assert_eq!(
            reads,
            [Err(io::ErrorKind::TimedOut), Err(io::ErrorKind::TimedOut)]
        );
    });
}

/// A read's timeout runs from its first wait, however often that wait is
/// woken with nothing to read (here by another task moving the deadline):
/// a wake-up does not start the timeout over.
#[test]
fn a_wake_up_with_nothing_to_read_does_not_restart_the_timeout() {
    RuntimeBuilder::new().run(|| {
        let (conn, mut peer) = shared_connection();
        let timeout = Duration::from_millis(300);
        conn.set_read_timeout(Some(timeout)).unwrap();
        // A short read first, so that the next one waits for readiness
        // before it tries (the `drained` path of `stream_read`).
        peer.write_all(b"x").unwrap();
        assert_eq!((&*conn).read(&mut [0u8; 8]).unwrap(), 1);
        let started = Instant::now();
        let reader = reader(&conn);
        until_waiting_on_io(reader.task());
        grt::time::sleep_until(started + timeout * 2 / 3);
        conn.set_read_deadline(None).unwrap();
        // Data comes after the timeout's end, but before the end of a
        // timeout started over at the wake-up: a read that still waits
        // gets it.
        grt::time::sleep_until(started + timeout * 4 / 3);
        peer.write_all(b"late").unwrap();
        assert_eq!(reader.join().unwrap(), Err(io::ErrorKind::TimedOut));
    });
}

/// ...and a deadline moved away lets the waiting read wait on.
#[test]
fn a_deadline_cleared_while_a_read_waits_lets_it_wait_on() {
    RuntimeBuilder::new().run(|| {
        let (conn, mut peer) = shared_connection();
        let first = Instant::now() + Duration::from_millis(30);
        conn.set_read_deadline(Some(first)).unwrap();
        let reader = {
            let conn = Arc::clone(&conn);
            grt::go(move || {
                let mut buf = [0u8; 8];
                (&*conn).read(&mut buf).map(|n| buf[..n].to_vec())
            })
        };
        until_waiting_on_io(reader.task());
        conn.set_read_deadline(None).unwrap();
        // The first deadline passes while the read waits: it must not end
        // the read, which was told to wait for ever.
        grt::time::sleep_until(first + Duration::from_millis(30));
        peer.write_all(b"late").unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), b"late");
    });
}

#[test]
fn non_blocking_mode_hands_would_block_back() {
    RuntimeBuilder::new().run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let err = (&a).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        b.write_all(b"now").unwrap();
        let deadline = Instant::now() + PATIENCE;
        let n = loop {
            match (&a).read(&mut [0u8; 8]) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the data never arrived");
                    grt::yield_now();
                }
                Err(err) => panic!("{err}"),
            }
        };
        assert_eq!(n, 3);
    });
}

#[test]
fn shutting_down_a_listener_wakes_its_acceptor() {
    let accepted = RuntimeBuilder::new().run(|| {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let acceptor = {
            let listener = Arc::clone(&listener);
            grt::go(move || listener.accept().map(|_| ()))
        };
        let task = acceptor.task().clone();
        while task.wait_reason() != grt::WaitReason::IoWait {
            grt::yield_now();
        }
        listener.shutdown().unwrap();
        acceptor.join().unwrap()
    });
    assert!(accepted.is_err(), "accept returned a connection");
}

#[test]
fn data_and_close_arriving_together_always_reach_the_reader() {
    // The peer writes and closes (or resets) at once: the reader must see
    // the data and then the end, whichever events the poller merged.
    for round in 0..100 {
        let (reads, ended) = RuntimeBuilder::new().max_procs(2).run(move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = grt::go(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 64];
                let mut got = 0;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => return (got, "eof"),
                        Ok(n) => got += n,
                        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                            return (got, "reset")
                        }
                        Err(err) => panic!("{err}"),
                    }
                }
            });
            let mut conn = TcpStream::connect(addr).unwrap();
            conn.write_all(b"hello").unwrap();
            if round % 3 == 0 {
                socket2::SockRef::from(&conn)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            drop(conn);
            yield_until(
                || reader.is_finished(),
                &format!("round {round}: the reader never woke"),
            );
            reader.join().unwrap()
        });
        assert!(reads <= 5, "round {round}: {reads} bytes");
        if ended == "eof" {
            assert_eq!(reads, 5, "round {round}: the data was lost");
        }
    }
}

/// Polls `op` (non-blocking) until it stops saying `WouldBlock`, yielding
/// in between, for up to [`PATIENCE`].
fn until_not_would_block<T>(what: &str, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "{what} never came");
                grt::yield_now();
            }
            result => return result,
        }
    }
}

/// Two ends of a loopback TCP connection.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (far, _) = listener.accept().unwrap();
    (near, far)
}

#[test]
fn a_non_blocking_peek_at_an_idle_connection_sees_data_and_hang_up() {
    // The gateway's pool asks this of every idle upstream connection; after
    // a read that emptied the socket, the answer comes from the poller's
    // readiness instead of a system call, and must still come. The poller
    // only polls while some task waits on it: a bystander parked on another
    // socket keeps it polling, as the gateway's client connections do.
    RuntimeBuilder::new().run(|| {
        let (quiet, quiet_peer) = tcp_pair();
        let bystander = grt::go(move || (&quiet).read(&mut [0u8; 1]).map(|_| ()));
        let (a, mut b) = tcp_pair();
        let reader = grt::go(move || {
            let mut buf = [0u8; 8];
            let n = (&a).read(&mut buf).unwrap(); // parks, then a short read
            assert_eq!(&buf[..n], b"hi");
            a
        });
        b.write_all(b"hi").unwrap();
        let a = reader.join().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let err = a.peek(&mut byte).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        b.write_all(b"x").unwrap();
        let n = until_not_would_block("the byte", || a.peek(&mut byte)).unwrap();
        assert_eq!((n, byte[0]), (1, b'x'));
        assert_eq!((&a).read(&mut byte).unwrap(), 1);

        drop(b);
        let n = until_not_would_block("the hang-up", || a.peek(&mut byte)).unwrap();
        assert_eq!(n, 0, "a closed peer reads as end of stream");
        assert!(
            !bystander.is_finished(),
            "the poller had a waiter throughout"
        );
        drop(quiet_peer);
        let _ = bystander.join();
    });
}

#[test]
fn a_peek_that_waited_leaves_its_data_for_the_next_read() {
    // A short read marks the socket drained; a blocking peek then parks,
    // is woken by the next bytes and sees them without consuming them.
    // The read after it must not wait for another wake-up that never comes
    // (it would time out after PATIENCE).
    RuntimeBuilder::new().run(|| {
        let (a, mut b) = tcp_pair();
        a.set_read_timeout(Some(PATIENCE)).unwrap();
        let (first_read, read_done) = grt::chan::bounded::<()>(1);
        let reader = grt::go(move || {
            let mut buf = [0u8; 8];
            let n = (&a).read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"one");
            first_read.send(()).unwrap();
            let n = a.peek(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"two");
            let n = (&a).read(&mut buf).expect("the peeked bytes are readable");
            assert_eq!(&buf[..n], b"two");
        });
        let task = reader.task().clone();
        b.write_all(b"one").unwrap();
        read_done.recv().unwrap();
        // The next park on the socket is the peek's: send once it is there.
        let deadline = Instant::now() + PATIENCE;
        while task.wait_reason() != grt::WaitReason::IoWait {
            assert!(Instant::now() < deadline, "the peek never parked");
            grt::yield_now();
        }
        b.write_all(b"two").unwrap();
        reader.join().unwrap();
    });
}
