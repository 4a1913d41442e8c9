//! The work that grt and tokio are measured on (scheduler, channels, mutex,
//! timers), written once for each runtime, and the hosts that keep a
//! runtime alive between measurements.
//!
//! Three front ends share it, so the numbers they give are about the same
//! code:
//! - `benches/runtimes.rs`: one criterion group per [`Bench`], grt and tokio
//!   side by side (`cargo bench -p grt-benches --bench runtimes`);
//! - `src/bin/repeat.rs`: one benchmark's work N times on one runtime, for
//!   `valgrind --tool=callgrind` (`benches/callgrind.sh` drives it);
//! - `src/bin/report.rs`: criterion's estimates as a markdown table of
//!   grt/tokio ratios.
//!
//! Sockets are measured apart, by `src/bin/netbench.rs` on [`net`]: real
//! servers in child processes under a load generator, not criterion; and
//! the chat hub by `src/bin/chatbench.rs`: examples/chat's server against
//! the same design on tokio ([`tokio_chat`]), under examples/chat's load
//! tool; the gateway by `src/bin/gatewaybench/` against nginx, Go and
//! tokio/hyper (`src/bin/hyperproxy.rs`).
//! `src/bin/bench-all.rs` runs every part in one go: each records its
//! headline figures ([`results`]) and it writes them into one summary
//! ([`summary`]).
//!
//! # Same work, same mechanism
//! Each benchmark does on tokio exactly what it does on grt, with the
//! nearest primitive: `grt::go` / `tokio::spawn`, `grt::yield_now` /
//! `tokio::task::yield_now`, for "wake that one task" grt's
//! `park`/`TaskHandle::unpark` against `tokio::sync::Notify`, and for the
//! primitives Go programs are built from: `grt::chan` against
//! `tokio::sync::mpsc` (an unbuffered grt channel against a one-slot mpsc,
//! tokio having no rendezvous channel), `grt::sync::Mutex` against
//! `tokio::sync::Mutex`, `grt::time::sleep` against `tokio::time::sleep`.
//! Both runtimes get the same number of workers ([`WORKERS`] Ps,
//! `worker_threads`), and on both the code that spawns and times runs as a
//! task of the runtime (grt's main task holds a P; on tokio it is
//! `spawn`ed, so it runs on a worker, not on the `block_on` thread).
//! Finishing is signalled the same way on both: a countdown whose last
//! decrement wakes the waiting task, as tokio's `spawn_many_local`
//! benchmark does (`benches/rt_multi_threaded.rs`).
//!
//! # Timing inside the runtime
//! The runtimes are built once per criterion group, outside the timed
//! region: criterion's `iter_custom` hands the iteration count to a task
//! already running inside the runtime ([`GrtHost`], [`TokioHost`]), which
//! times the iterations itself and returns the `Duration`.
//!
//! `GRT_BENCH_QUICK=1` shrinks every size tenfold but the mutex's task
//! count (for smoke runs; see docs/benchmarks.md).

pub mod chatbench;
pub mod host;
pub mod net;
pub mod results;
pub mod summary;
pub mod tokio_chat;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Workers on both sides: grt Ps and tokio worker threads. The machines we
/// measure on have 2 cores.
pub const WORKERS: usize = 2;

/// The benchmarks: tokio's scheduler ones (`rt_multi_threaded.rs`), the
/// raw switch, and the channel, mutex and timer work of the `shared/`
/// reference figures (Go and tokio measured side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// One task spawns `spawn_many` empty tasks and waits for all of them.
    SpawnMany,
    /// `yield_tasks` tasks each yield `yields` times.
    YieldMany,
    /// Each task spawns the next, `chain_depth` deep.
    ChainedSpawn,
    /// Two tasks bounce a token: one iteration is a round trip (two
    /// wake-ups). grt: park/unpark; tokio: `Notify`. Not the channel
    /// version of tokio's `ping_pong`, which waits for grt's channels.
    PingPong,
    /// Two tasks yield to each other on one P (tokio: a current-thread
    /// runtime): one iteration is one yield by each.
    Switch,
    /// Two tasks bounce a value through two unbuffered channels (tokio: two
    /// one-slot mpsc channels): one iteration is a round trip.
    ChanRoundTrip,
    /// A producer task sends through a 1024-slot channel to the consumer
    /// task: one iteration is one item.
    ChanThroughput,
    /// `mutex_tasks` tasks each lock one shared mutex, increment, unlock,
    /// `mutex_ops` times.
    MutexContended,
    /// `sleepers` tasks each sleep [`SLEEP`]; one iteration is the batch,
    /// from the first spawn until the last has woken.
    TimersMany,
}

impl Bench {
    pub const ALL: [Bench; 9] = [
        Bench::SpawnMany,
        Bench::YieldMany,
        Bench::ChainedSpawn,
        Bench::PingPong,
        Bench::Switch,
        Bench::ChanRoundTrip,
        Bench::ChanThroughput,
        Bench::MutexContended,
        Bench::TimersMany,
    ];

    /// The criterion group's name, and `repeat`'s argument.
    pub fn name(self) -> &'static str {
        match self {
            Bench::SpawnMany => "spawn_many",
            Bench::YieldMany => "yield_many",
            Bench::ChainedSpawn => "chained_spawn",
            Bench::PingPong => "ping_pong",
            Bench::Switch => "switch",
            Bench::ChanRoundTrip => "chan_round_trip",
            Bench::ChanThroughput => "chan_throughput",
            Bench::MutexContended => "mutex_contended",
            Bench::TimersMany => "timers_many",
        }
    }

    pub fn from_name(name: &str) -> Option<Bench> {
        Bench::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Ps (grt) or worker threads (tokio) the benchmark runs with.
    pub fn workers(self) -> usize {
        match self {
            Bench::Switch => 1,
            _ => WORKERS,
        }
    }

    /// Whether the benchmark sleeps, so tokio needs its time driver (the
    /// others run without it, as they always have).
    pub fn uses_timers(self) -> bool {
        self == Bench::TimersMany
    }

    /// How many of what one iteration does, for per-operation figures.
    pub fn ops_per_iter(self) -> (u64, &'static str) {
        let s = sizes();
        match self {
            Bench::SpawnMany => (s.spawn_many as u64, "spawn"),
            Bench::YieldMany => ((s.yield_tasks * s.yields) as u64, "yield"),
            Bench::ChainedSpawn => (s.chain_depth as u64, "spawn"),
            Bench::PingPong => (1, "round trip"),
            Bench::Switch => (2, "yield"),
            Bench::ChanRoundTrip => (1, "round trip"),
            Bench::ChanThroughput => (1, "item"),
            Bench::MutexContended => ((s.mutex_tasks * s.mutex_ops) as u64, "lock"),
            Bench::TimersMany => (s.sleepers as u64, "sleeper"),
        }
    }
}

/// Sizes of one iteration.
#[derive(Debug)]
pub struct Sizes {
    pub spawn_many: usize,
    pub yield_tasks: usize,
    pub yields: usize,
    pub chain_depth: usize,
    /// Tasks contending in `mutex_contended` (not scaled down: it is the
    /// contention).
    pub mutex_tasks: usize,
    /// Lock/increment/unlock rounds per task in `mutex_contended`.
    pub mutex_ops: usize,
    /// Sleeping tasks in `timers_many`.
    pub sleepers: usize,
}

/// Slots of `chan_throughput`'s channel (Go's `make(chan int, 1024)`).
pub const CHAN_SLOTS: usize = 1024;

/// How long each of `timers_many`'s tasks sleeps.
pub const SLEEP: Duration = Duration::from_millis(1);

/// tokio's sizes (`rt_multi_threaded.rs`) for its benchmarks, the `shared/`
/// reference's 100,000 sleepers, 4 tasks × 10,000 locks for the mutex; or
/// a tenth of each with `GRT_BENCH_QUICK` set (the mutex keeps its 4
/// tasks).
pub fn sizes() -> &'static Sizes {
    static SIZES: OnceLock<Sizes> = OnceLock::new();
    SIZES.get_or_init(|| {
        let div = if quick() { 10 } else { 1 };
        Sizes {
            spawn_many: 10_000 / div,
            yield_tasks: 200 / div,
            yields: 1_000 / div,
            chain_depth: 1_000 / div,
            mutex_tasks: 4,
            mutex_ops: 10_000 / div,
            sleepers: 100_000 / div,
        }
    })
}

/// Whether `GRT_BENCH_QUICK` asks for the smoke-test sizes.
pub fn quick() -> bool {
    std::env::var_os("GRT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Times `iters` runs of `f`.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// The work on grt. Every function here must be called from a grt task.
pub mod on_grt {
    use super::*;
    use grt::TaskHandle;
    use std::sync::atomic::AtomicU64;

    /// Runs `iters` iterations of `bench` and returns how long they took.
    /// Call it from a task of a runtime with `bench.workers()` Ps.
    pub fn run(bench: Bench, iters: u64) -> Duration {
        let s = sizes();
        match bench {
            Bench::SpawnMany => timed(iters, || spawn_many(s.spawn_many)),
            Bench::YieldMany => timed(iters, || yield_many(s.yield_tasks, s.yields)),
            Bench::ChainedSpawn => timed(iters, || chained_spawn(s.chain_depth)),
            Bench::PingPong => ping_pong(iters),
            Bench::Switch => switch(iters),
            Bench::ChanRoundTrip => chan_round_trip(iters),
            Bench::ChanThroughput => chan_throughput(iters),
            Bench::MutexContended => timed(iters, || mutex_contended(s.mutex_tasks, s.mutex_ops)),
            Bench::TimersMany => timed(iters, || timers_many(s.sleepers)),
        }
    }

    /// Counts finished tasks down; the last one wakes the waiting task.
    struct Countdown {
        left: AtomicUsize,
        waiter: TaskHandle,
    }

    impl Countdown {
        /// A countdown from `n` that wakes the calling task.
        fn new(n: usize) -> Arc<Countdown> {
            Arc::new(Countdown {
                left: AtomicUsize::new(n),
                waiter: grt::current(),
            })
        }

        fn done(&self) {
            if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.waiter.unpark();
            }
        }

        /// Parks until the count is zero (`park` may return early: loop).
        fn wait(&self) {
            while self.left.load(Ordering::Acquire) != 0 {
                grt::park();
            }
        }
    }

    pub fn spawn_many(n: usize) {
        let done = Countdown::new(n);
        for _ in 0..n {
            let done = Arc::clone(&done);
            grt::go(move || done.done());
        }
        done.wait();
    }

    pub fn yield_many(tasks: usize, yields: usize) {
        let done = Countdown::new(tasks);
        for _ in 0..tasks {
            let done = Arc::clone(&done);
            grt::go(move || {
                for _ in 0..yields {
                    grt::yield_now();
                }
                done.done();
            });
        }
        done.wait();
    }

    pub fn chained_spawn(depth: usize) {
        fn link(left: usize, done: Arc<Countdown>) {
            if left == 0 {
                done.done();
            } else {
                grt::go(move || link(left - 1, done));
            }
        }
        let done = Countdown::new(1);
        link(depth, Arc::clone(&done));
        done.wait();
    }

    /// `rounds` round trips between this task and a partner; returns the
    /// time they took (the partner's spawn and join excluded). `ball`
    /// counts hits: odd means the partner's turn, even ours.
    pub fn ping_pong(rounds: u64) -> Duration {
        let ball = Arc::new(AtomicU64::new(0));
        let me = grt::current();
        let partner = {
            let ball = Arc::clone(&ball);
            grt::go(move || {
                for i in 0..rounds {
                    while ball.load(Ordering::Acquire) != 2 * i + 1 {
                        grt::park();
                    }
                    ball.store(2 * i + 2, Ordering::Release);
                    me.unpark();
                }
            })
        };
        let other = partner.task().clone();
        let start = Instant::now();
        for i in 0..rounds {
            ball.store(2 * i + 1, Ordering::Release);
            other.unpark();
            while ball.load(Ordering::Acquire) != 2 * i + 2 {
                grt::park();
            }
        }
        let elapsed = start.elapsed();
        partner.join().expect("ping_pong partner panicked");
        elapsed
    }

    /// `rounds` yields by this task and by a partner, alternating on one P;
    /// returns the time they took.
    pub fn switch(rounds: u64) -> Duration {
        let partner = grt::go(move || {
            for _ in 0..rounds {
                grt::yield_now();
            }
        });
        let elapsed = timed(rounds, grt::yield_now);
        partner.join().expect("switch partner panicked");
        elapsed
    }

    /// `rounds` round trips through two unbuffered channels: we send on
    /// `ping` and receive on `pong`, the partner the other way round.
    /// Returns the time they took (the partner's spawn and join excluded).
    pub fn chan_round_trip(rounds: u64) -> Duration {
        let (ping_tx, ping_rx) = grt::chan::bounded::<u64>(0);
        let (pong_tx, pong_rx) = grt::chan::bounded::<u64>(0);
        let partner = grt::go(move || {
            for _ in 0..rounds {
                let ball = ping_rx.recv().expect("ping closed early");
                pong_tx.send(ball).expect("pong receiver gone");
            }
        });
        let start = Instant::now();
        for i in 0..rounds {
            ping_tx.send(i).expect("ping receiver gone");
            pong_rx.recv().expect("pong closed early");
        }
        let elapsed = start.elapsed();
        partner.join().expect("chan_round_trip partner panicked");
        elapsed
    }

    /// A producer task sends `items` values through a [`CHAN_SLOTS`]-slot
    /// channel; this task receives them. Returns the time from the
    /// producer's spawn to the last receive.
    pub fn chan_throughput(items: u64) -> Duration {
        let start = Instant::now();
        let (tx, rx) = grt::chan::bounded::<u64>(CHAN_SLOTS);
        let producer = grt::go(move || {
            for i in 0..items {
                tx.send(i).expect("receiver gone");
            }
        });
        for _ in 0..items {
            rx.recv().expect("closed early");
        }
        let elapsed = start.elapsed();
        producer.join().expect("chan_throughput producer panicked");
        elapsed
    }

    /// `tasks` tasks each lock one shared mutex, increment the counter in
    /// it and unlock, `ops` times.
    pub fn mutex_contended(tasks: usize, ops: usize) {
        let counter = Arc::new(grt::sync::Mutex::new(0_usize));
        let done = Countdown::new(tasks);
        for _ in 0..tasks {
            let (counter, done) = (Arc::clone(&counter), Arc::clone(&done));
            grt::go(move || {
                for _ in 0..ops {
                    *counter.lock() += 1;
                }
                done.done();
            });
        }
        done.wait();
        assert_eq!(*counter.lock(), tasks * ops, "lost increments");
    }

    /// `n` tasks each sleep [`SLEEP`], then count down.
    pub fn timers_many(n: usize) {
        let done = Countdown::new(n);
        for _ in 0..n {
            let done = Arc::clone(&done);
            grt::go(move || {
                grt::time::sleep(SLEEP);
                done.done();
            });
        }
        done.wait();
    }
}

/// The same work on tokio. Every function here must be awaited in a task
/// of a tokio runtime.
pub mod on_tokio {
    use super::*;
    use tokio::sync::{mpsc, Notify};

    /// Runs `iters` iterations of `bench` and returns how long they took.
    /// Await it in a task of a runtime with `bench.workers()` workers (a
    /// current-thread runtime for one).
    pub async fn run(bench: Bench, iters: u64) -> Duration {
        let s = sizes();
        let start = Instant::now();
        match bench {
            Bench::SpawnMany => {
                for _ in 0..iters {
                    spawn_many(s.spawn_many).await;
                }
            }
            Bench::YieldMany => {
                for _ in 0..iters {
                    yield_many(s.yield_tasks, s.yields).await;
                }
            }
            Bench::ChainedSpawn => {
                for _ in 0..iters {
                    chained_spawn(s.chain_depth).await;
                }
            }
            Bench::MutexContended => {
                for _ in 0..iters {
                    mutex_contended(s.mutex_tasks, s.mutex_ops).await;
                }
            }
            Bench::TimersMany => {
                for _ in 0..iters {
                    timers_many(s.sleepers).await;
                }
            }
            Bench::PingPong => return ping_pong(iters).await,
            Bench::Switch => return switch(iters).await,
            Bench::ChanRoundTrip => return chan_round_trip(iters).await,
            Bench::ChanThroughput => return chan_throughput(iters).await,
        }
        start.elapsed()
    }

    /// Counts finished tasks down; the last one wakes the waiting task.
    struct Countdown {
        left: AtomicUsize,
        waiter: Notify,
    }

    impl Countdown {
        fn new(n: usize) -> Arc<Countdown> {
            Arc::new(Countdown {
                left: AtomicUsize::new(n),
                waiter: Notify::new(),
            })
        }

        fn done(&self) {
            if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                // Stores a permit if the waiter is not waiting yet.
                self.waiter.notify_one();
            }
        }

        async fn wait(&self) {
            while self.left.load(Ordering::Acquire) != 0 {
                self.waiter.notified().await;
            }
        }
    }

    pub async fn spawn_many(n: usize) {
        let done = Countdown::new(n);
        for _ in 0..n {
            let done = Arc::clone(&done);
            tokio::spawn(async move { done.done() });
        }
        done.wait().await;
    }

    pub async fn yield_many(tasks: usize, yields: usize) {
        let done = Countdown::new(tasks);
        for _ in 0..tasks {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                done.done();
            });
        }
        done.wait().await;
    }

    pub async fn chained_spawn(depth: usize) {
        fn link(left: usize, done: Arc<Countdown>) {
            if left == 0 {
                done.done();
            } else {
                tokio::spawn(async move { link(left - 1, done) });
            }
        }
        let done = Countdown::new(1);
        link(depth, Arc::clone(&done));
        done.wait().await;
    }

    /// `rounds` round trips between this task and a partner through two
    /// `Notify`s (whose stored permit plays the part of grt's park token).
    pub async fn ping_pong(rounds: u64) -> Duration {
        let ping = Arc::new(Notify::new());
        let pong = Arc::new(Notify::new());
        let partner = {
            let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
            tokio::spawn(async move {
                for _ in 0..rounds {
                    ping.notified().await;
                    pong.notify_one();
                }
            })
        };
        let start = Instant::now();
        for _ in 0..rounds {
            ping.notify_one();
            pong.notified().await;
        }
        let elapsed = start.elapsed();
        partner.await.expect("ping_pong partner panicked");
        elapsed
    }

    /// `rounds` yields by this task and by a partner, alternating.
    pub async fn switch(rounds: u64) -> Duration {
        let partner = tokio::spawn(async move {
            for _ in 0..rounds {
                tokio::task::yield_now().await;
            }
        });
        let start = Instant::now();
        for _ in 0..rounds {
            tokio::task::yield_now().await;
        }
        let elapsed = start.elapsed();
        partner.await.expect("switch partner panicked");
        elapsed
    }

    /// `rounds` round trips through two one-slot mpsc channels (tokio has
    /// no rendezvous channel; with one slot a send completes at once, so a
    /// round trip is still two wake-ups).
    pub async fn chan_round_trip(rounds: u64) -> Duration {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let partner = tokio::spawn(async move {
            for _ in 0..rounds {
                let ball = ping_rx.recv().await.expect("ping closed early");
                pong_tx.send(ball).await.expect("pong receiver gone");
            }
        });
        let start = Instant::now();
        for i in 0..rounds {
            ping_tx.send(i).await.expect("ping receiver gone");
            pong_rx.recv().await.expect("pong closed early");
        }
        let elapsed = start.elapsed();
        partner.await.expect("chan_round_trip partner panicked");
        elapsed
    }

    /// A producer task sends `items` values through a [`CHAN_SLOTS`]-slot
    /// mpsc channel; this task receives them.
    pub async fn chan_throughput(items: u64) -> Duration {
        let start = Instant::now();
        let (tx, mut rx) = mpsc::channel::<u64>(CHAN_SLOTS);
        let producer = tokio::spawn(async move {
            for i in 0..items {
                tx.send(i).await.expect("receiver gone");
            }
        });
        for _ in 0..items {
            rx.recv().await.expect("closed early");
        }
        let elapsed = start.elapsed();
        producer.await.expect("chan_throughput producer panicked");
        elapsed
    }

    /// `tasks` tasks each lock one shared `tokio::sync::Mutex`, increment
    /// the counter in it and unlock, `ops` times.
    pub async fn mutex_contended(tasks: usize, ops: usize) {
        let counter = Arc::new(tokio::sync::Mutex::new(0_usize));
        let done = Countdown::new(tasks);
        for _ in 0..tasks {
            let (counter, done) = (Arc::clone(&counter), Arc::clone(&done));
            tokio::spawn(async move {
                for _ in 0..ops {
                    *counter.lock().await += 1;
                }
                done.done();
            });
        }
        done.wait().await;
        assert_eq!(*counter.lock().await, tasks * ops, "lost increments");
    }

    /// `n` tasks each sleep [`SLEEP`], then count down.
    pub async fn timers_many(n: usize) {
        let done = Countdown::new(n);
        for _ in 0..n {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                tokio::time::sleep(SLEEP).await;
                done.done();
            });
        }
        done.wait().await;
    }
}

/// How long [`GrtHost::time`] waits for one measurement. Criterion asks for
/// samples of well under a second; a minute means the runtime is stuck.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(60);

/// A grt runtime kept running on a thread of its own, whose main task runs
/// the benchmarks it is sent. `grt::run` only returns when its main task
/// does, so a runtime that outlives one measurement needs a thread to live
/// on; between requests the main task is parked and every M sleeps.
pub struct GrtHost {
    /// The next request for the main task.
    request: Arc<Mutex<Option<Request>>>,
    /// The main task, to wake when a request is there.
    main: grt::TaskHandle,
    /// Measurements, one per `Run`.
    replies: mpsc::Receiver<Duration>,
    /// The thread `grt::run` runs on.
    thread: Option<thread::JoinHandle<()>>,
}

enum Request {
    Run(Bench, u64),
    Quit,
}

impl GrtHost {
    /// Starts a runtime with `procs` Ps.
    pub fn new(procs: usize) -> GrtHost {
        let request = Arc::new(Mutex::new(None::<Request>));
        let (reply_tx, replies) = mpsc::channel();
        let (main_tx, main_rx) = mpsc::channel();
        let requests = Arc::clone(&request);
        let thread = thread::Builder::new()
            .name(format!("grt-host-{procs}p"))
            .spawn(move || {
                grt::RuntimeBuilder::new().max_procs(procs).run(move || {
                    main_tx.send(grt::current()).expect("host gone");
                    loop {
                        let next = requests.lock().expect("poisoned").take();
                        match next {
                            // Not asked yet (or an early return from park).
                            None => grt::park(),
                            Some(Request::Quit) => return,
                            Some(Request::Run(bench, iters)) => {
                                let elapsed = on_grt::run(bench, iters);
                                reply_tx.send(elapsed).expect("host gone");
                            }
                        }
                    }
                })
            })
            .expect("start the grt host thread");
        let main = main_rx.recv().expect("grt host failed to start");
        GrtHost {
            request,
            main,
            replies,
            thread: Some(thread),
        }
    }

    /// Runs `iters` iterations of `bench` in the runtime; returns the time
    /// the runtime's task measured.
    ///
    /// Panics if no answer comes within [`HOST_TIMEOUT`]: a benchmark
    /// that hangs (a lost wake-up leaves every M asleep) fails the run
    /// instead of stalling it forever.
    pub fn time(&self, bench: Bench, iters: u64) -> Duration {
        self.send(Request::Run(bench, iters));
        match self.replies.recv_timeout(HOST_TIMEOUT) {
            Ok(elapsed) => elapsed,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "grt {} x{iters}: no answer in {HOST_TIMEOUT:?}; the runtime is stuck",
                bench.name()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the grt host's runtime died (a benchmark panicked?)")
            }
        }
    }

    fn send(&self, request: Request) {
        *self.request.lock().expect("poisoned") = Some(request);
        self.main.unpark();
    }
}

impl Drop for GrtHost {
    fn drop(&mut self) {
        self.send(Request::Quit);
        // After a panic in `time` the runtime may be stuck for good: leave
        // its thread behind rather than wait for it.
        if let Some(thread) = self.thread.take().filter(|_| !thread::panicking()) {
            // A panic there was already reported by `time`.
            let _ = thread.join();
        }
    }
}

/// A tokio runtime with the worker count of a benchmark: multi-thread with
/// `workers` workers, or current-thread for one.
pub struct TokioHost {
    rt: tokio::runtime::Runtime,
}

impl TokioHost {
    /// A runtime without the time driver, with `workers` workers.
    pub fn new(workers: usize) -> TokioHost {
        TokioHost::build(workers, false)
    }

    /// The runtime `bench` runs on: its worker count, and the time driver
    /// only if it sleeps (grt's timers are always there, but enabling
    /// tokio's changes how its idle workers park, and the scheduler
    /// benchmarks were first measured without it).
    pub fn for_bench(bench: Bench) -> TokioHost {
        TokioHost::build(bench.workers(), bench.uses_timers())
    }

    fn build(workers: usize, timers: bool) -> TokioHost {
        let mut builder = if workers == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        };
        if timers {
            builder.enable_time();
        }
        let rt = builder.build().expect("build the tokio runtime");
        TokioHost { rt }
    }

    /// Runs `iters` iterations of `bench` in a task of the runtime; returns
    /// the time that task measured.
    pub fn time(&self, bench: Bench, iters: u64) -> Duration {
        let task = self.rt.spawn(on_tokio::run(bench, iters));
        self.rt.block_on(task).expect("a tokio benchmark panicked")
    }
}
