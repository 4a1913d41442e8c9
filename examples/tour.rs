//! A tour of the scheduler: `cargo run --release --example tour`.
//!
//! Runs the runtime through its paces — a spawn storm, thousands of tasks
//! parked at once, a tree of nested joins, uneven work that idle Ps must
//! steal, a thousand TCP connections on the net poller, a blocking call
//! that sysmon hands off — and after each phase prints a line in the
//! format of Go's `GODEBUG=schedtrace`, plus the counters that show what
//! the scheduler did.
//!
//! Try `GRT_MAXPROCS=1 cargo run --release --example tour` and watch the
//! steals vanish. (This was the first showcase; `cargo run --release` now
//! starts two chat hubs behind the gateway, examples/showcase.)

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let report = grt::run(|| {
        let start = Instant::now();
        let mut phases = Vec::new();
        let mut phase = |name: &str, t: Instant| {
            let s = grt::stats();
            phases.push(format!(
                "SCHED {:>5}ms: {s}\n  {name} in {:.1?}  (spawned={} steals={} stolen={} parks={} yields={} preempted={} retaken={})",
                start.elapsed().as_millis(),
                t.elapsed(),
                s.spawned,
                s.steals,
                s.tasks_stolen,
                s.parks,
                s.yields,
                s.preempted,
                s.retaken
            ));
        };

        let t = Instant::now();
        let handles: Vec<_> = (0..100_000u64).map(|i| grt::go(move || i)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 100_000 * 99_999 / 2);
        phase("spawned and joined 100,000 tasks", t);

        let t = Instant::now();
        parked_at_once(20_000);
        phase("parked 20,000 tasks at once, then woke them all", t);

        let t = Instant::now();
        assert_eq!(tree(14), 1 << 14);
        phase(
            "a tree of nested spawns and joins, 32,767 tasks deep-wide",
            t,
        );

        let t = Instant::now();
        uneven_work(256);
        phase(
            "256 CPU-bound tasks spawned on one P, spread by stealing",
            t,
        );

        let t = Instant::now();
        yield_storm(200, 1_000);
        phase("200 tasks x 1,000 yields", t);

        let t = Instant::now();
        echo_connections(1_000, 20);
        phase(
            "1,000 TCP connections x 20 echoes, parked on the net poller",
            t,
        );

        let t = Instant::now();
        let progress = blocking_hand_off(Duration::from_millis(100));
        phase(
            &format!(
                "a 100 ms grt::blocking call; meanwhile a task on its P counted to {progress}"
            ),
            t,
        );
        phases
    });
    println!(
        "grt tour: the scheduler at work (GRT_MAXPROCS={})\n",
        procs()
    );
    for line in report {
        println!("{line}");
    }
}

/// An echo server task per connection and a client task per connection,
/// every byte checked: each read with nothing to read parks its task in
/// the poller until epoll reports the socket.
fn echo_connections(connections: usize, rounds: usize) {
    use grt::net::{TcpListener, TcpStream};
    use std::io::{Read, Write};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().unwrap();
    let server = grt::go(move || {
        for _ in 0..connections {
            let (mut conn, _) = listener.accept().unwrap();
            grt::go(move || {
                let mut buf = [0u8; 64];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
    let clients: Vec<_> = (0..connections)
        .map(|id| {
            grt::go(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                conn.set_nodelay(true).unwrap();
                let mut back = [0u8; 64];
                for round in 0..rounds {
                    let msg = [(id + round) as u8; 64];
                    conn.write_all(&msg).unwrap();
                    conn.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.join().unwrap();
}

/// A task sleeps its thread inside `grt::blocking` while another task on
/// the same P counts: sysmon retakes the P and hands it to another M, so
/// the count goes on. Returns how far it got during the call.
fn blocking_hand_off(call: Duration) -> u64 {
    use std::sync::atomic::AtomicU64;

    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (count, stop) = (Arc::clone(&count), Arc::clone(&stop));
        grt::go(move || {
            while !stop.load(Ordering::Relaxed) {
                count.fetch_add(1, Ordering::Relaxed);
                grt::yield_now();
            }
        })
    };
    let before = count.load(Ordering::Relaxed);
    grt::blocking(|| std::thread::sleep(call));
    let during = count.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    counter.join().unwrap();
    during
}

fn procs() -> String {
    std::env::var("GRT_MAXPROCS").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string()
    })
}

fn parked_at_once(n: usize) {
    let release = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let release = Arc::clone(&release);
            grt::go(move || {
                while !release.load(Ordering::Acquire) {
                    grt::park();
                }
            })
        })
        .collect();
    while !handles
        .iter()
        .all(|h| h.task().state() == grt::TaskState::Waiting)
    {
        grt::yield_now();
    }
    release.store(true, Ordering::Release);
    for h in &handles {
        h.task().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let left = grt::go(move || tree(depth - 1));
    let right = tree(depth - 1);
    left.join().unwrap() + right
}

fn uneven_work(n: u64) {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            grt::go(move || {
                let until = Instant::now() + Duration::from_micros(200);
                let mut x = i;
                while Instant::now() < until {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn yield_storm(tasks: usize, yields: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            grt::go(move || {
                for _ in 0..yields {
                    grt::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
