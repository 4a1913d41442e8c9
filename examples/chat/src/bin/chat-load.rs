//! `chat-load`: puts a chat server under load and measures it.
//!
//! ```text
//! cargo build --release -p grt-chat
//! target/release/chat-load                       # 200 clients, 20 senders × 50 messages, a burst
//! target/release/chat-load --echo                # the same, each sender waiting for its echo
//! target/release/chat-load --clients 10000 --messages 5
//! ```
//!
//! It starts the `chat` binary beside it as a separate process (or uses
//! one already running: `--connect ADDR --pid PID`, which is how
//! docs/benchmarks.md measures gorilla's Go chat with the same tool), opens
//! `--clients` WebSocket connections to `--rooms` rooms (one by default),
//! waits until every client is in its room, and then has `--senders` of
//! them each send `--messages` messages, in one of three ways:
//! - a *burst* (the default): as fast as they can;
//! - *paced* (`--interval 2ms`): one message per interval, on a schedule;
//! - a *closed loop* (`--echo`): the next message once the previous one has
//!   come back to its sender through the hub.
//!
//! Every client reads everything said in its room. It reports:
//! - *delivered messages/s*: the deliveries over the time from the first
//!   send to the last delivery;
//! - *messages per frame*: how much the server's write pumps batched;
//! - *broadcast latency* p50/p99/max: each message carries the time it was
//!   sent (this process sends and receives, so one clock serves both), and
//!   each delivery is timed when its frame is read;
//! - *CPU time per delivery*, the server's and its own (`/proc/PID/stat`);
//! - the *server's memory per connection*: `VmRSS` of the server process
//!   (`/proc/PID/status`) before connecting and with every client in its
//!   room, divided by the clients; and after the burst, when queues and
//!   buffers have been used;
//! - clients the server dismissed as too slow (a close frame, 1008 from
//!   grt's chat) or that heard nothing for `--idle` seconds; with any of
//!   those it exits with a failure.
//!
//! The clients run on grt too: a task per client reads, a task per sender
//! writes. They share the two cores with the server, so the figures are of
//! the pair; the CPU times say how the work split.
//!
//! A client's reading `WebSocket` discards tungstenite's automatic
//! replies, as the server's read pump does (src/client.rs says why), so
//! these clients never answer pings; the server this tool starts is given
//! `--pong-wait 10m` so that a long run is not cut short by it. Messages
//! carry a tag of the run and rooms are named after it, so that history
//! from an earlier run against the same server is not counted.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use grt::chan;
use grt::net::TcpStream;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

/// Loads a chat server with many clients and a burst of messages.
#[derive(Parser, Debug)]
#[command(name = "chat-load", version)]
struct Args {
    /// WebSocket clients.
    #[arg(long, default_value_t = 200)]
    clients: usize,

    /// Rooms; client i joins room i mod ROOMS.
    #[arg(long, default_value_t = 1)]
    rooms: usize,

    /// Clients that also send: the first ones, so sender j is in room
    /// j mod ROOMS.
    #[arg(long, default_value_t = 20)]
    senders: usize,

    /// Messages each sender sends.
    #[arg(long, default_value_t = 50)]
    messages: usize,

    /// Length of each message in bytes (at least 64; at most the server's
    /// limit, 512 by default).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    size: usize,

    /// The server binary to start [default: `chat` beside this one].
    #[arg(long, value_name = "PATH")]
    server: Option<String>,

    /// An argument for the server it starts; repeatable, e.g.
    /// --server-arg=--send-buffer=1024.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    server_args: Vec<String>,

    /// Use a server already listening here instead of starting one.
    #[arg(long, value_name = "ADDR", requires = "pid")]
    connect: Option<SocketAddr>,

    /// The process id of the server at --connect, for its memory.
    #[arg(long)]
    pid: Option<u32>,

    /// Time between one sender's messages, e.g. 1ms (0: as fast as it
    /// can, a burst).
    #[arg(long, value_name = "TIME", default_value = "0", value_parser = parse_interval)]
    interval: Duration,

    /// Closed loop: each sender sends its next message only once its
    /// previous one has come back to it through the hub.
    #[arg(long, conflicts_with = "interval")]
    echo: bool,

    /// A client that receives nothing for this long after the probe gives
    /// up (a server may drop a client without a close frame reaching it).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    idle: u64,

    /// Handshakes in flight at once while connecting.
    #[arg(long, value_name = "N", default_value_t = 128)]
    connecting: usize,

    /// Longest wait for any phase (connecting, delivering), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    patience: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.senders > args.clients || args.rooms == 0 || args.rooms > args.clients || args.size < 64
    {
        eprintln!("chat-load: need senders <= clients, 1 <= rooms <= clients, and --size >= 64");
        return ExitCode::FAILURE;
    }
    match raise_fd_limit() {
        Ok(limit) if limit < args.clients as u64 + 64 => {
            eprintln!("chat-load: warning: only {limit} descriptors allowed per process")
        }
        Ok(_) => {}
        Err(err) => eprintln!("chat-load: cannot raise RLIMIT_NOFILE: {err}"),
    }
    let mut server = match &args.connect {
        Some(addr) => Server {
            addr: *addr,
            pid: args.pid.expect("clap requires --pid"),
            child: None,
        },
        None => match Server::start(&args) {
            Ok(server) => server,
            Err(err) => {
                eprintln!("chat-load: cannot start the server: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    let (addr, pid) = (server.addr, server.pid);
    let outcome = grt::run(move || run(&args, addr, pid));
    server.stop();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-load: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Raises this process's soft descriptor limit to the hard one (a server
/// started from here inherits it); returns the new limit.
fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid place for the answer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is initialised, and asks for no more than allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// The server under load.
struct Server {
    addr: SocketAddr,
    pid: u32,
    /// Set if we started it (and so stop it).
    child: Option<Child>,
}

impl Server {
    /// Starts the `chat` binary on a free port and reads its address from
    /// the first line it prints.
    fn start(args: &Args) -> io::Result<Server> {
        let path = match &args.server {
            Some(path) => path.into(),
            None => std::env::current_exe()?.with_file_name("chat"),
        };
        let mut command = Command::new(&path);
        command.args(["--addr", "127.0.0.1:0"]);
        if !args
            .server_args
            .iter()
            .any(|a| a.starts_with("--pong-wait"))
        {
            command.args(["--pong-wait", "10m"]);
        }
        command.args(&args.server_args);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        // "chat: serving on http://127.0.0.1:PORT/ (...)"
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line: {first:?}")))?;
        // Keep draining what it prints, so that it never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                println!("  [server] {line}");
            }
        });
        Ok(Server {
            addr,
            pid: child.id(),
            child: Some(child),
        })
    }

    /// Stops a server we started, as `kill` would. SIGTERM, not SIGINT:
    /// a program started in the background by a non-interactive shell
    /// (`cmd &` in a script, nohup) has SIGINT ignored, and passes that on
    /// to its children; a server whose runtime does not take the signal
    /// over (tokio's, the default action) would never hear it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) with a pid we started and have not waited
            // for, so it is still ours.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// One connection, as the two `WebSocket`s of a client see it: reads go
/// to the socket; writes too if `writes`, else nowhere (see the module
/// doc).
struct Conn {
    stream: Arc<TcpStream>,
    writes: bool,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.stream).read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writes {
            (&*self.stream).write(buf)
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's default read buffer is 128 KiB per connection: 1.3 GB
/// for 10,000 clients. Frames here are small; it grows if needed.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// A connected client: the socket, and the `WebSocket` that reads it.
struct Client {
    stream: Arc<TcpStream>,
    reader: WebSocket<Conn>,
}

/// Connects and shakes hands; the reader's writes are switched off after.
fn connect(addr: SocketAddr, room: &str) -> Result<Client, String> {
    let stream = Arc::new(TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?);
    let _ = stream.set_nodelay(true);
    let conn = Conn {
        stream: Arc::clone(&stream),
        writes: true,
    };
    let url = format!("ws://{addr}/ws?room={room}");
    let (mut reader, _) = tungstenite::client::client_with_config(url, conn, Some(ws_config()))
        .map_err(|e| format!("handshake: {e}"))?;
    reader.get_mut().writes = false;
    Ok(Client { stream, reader })
}

/// Timed messages received by all clients so far, for the progress
/// lines.
static DELIVERED: AtomicUsize = AtomicUsize::new(0);

/// Frames that carried them: `DELIVERED / FRAMES` is how many messages
/// the write pumps batched per frame on average.
static FRAMES: AtomicUsize = AtomicUsize::new(0);

/// How often to say how far delivery has got.
const PROGRESS: Duration = Duration::from_secs(5);

/// What one client saw.
struct Seen {
    /// Send-to-delivery time of each message, in microseconds.
    latencies: Vec<u32>,
    /// When the last one arrived.
    last: Option<Instant>,
    /// Why it stopped before receiving everything, if it did.
    cut_short: Option<String>,
}

/// What identifies this run: its room, and a tag in every message, so
/// that a room's history from an earlier run against the same server is
/// not taken for this run's messages.
struct RunId(String);

impl RunId {
    fn new() -> RunId {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        RunId(format!("{:x}{:x}", std::process::id(), nanos % (1 << 40)))
    }

    /// The probe message that tells us every client is in the room.
    fn probe(&self) -> String {
        format!("probe {}", self.0)
    }
}

/// Reads until `expected` timed messages have arrived (after the probe),
/// or the connection ends.
fn read_all(
    mut ws: WebSocket<Conn>,
    epoch: Arc<std::sync::OnceLock<Instant>>,
    expected: usize,
    run: Arc<RunId>,
    probed: chan::Sender<()>,
    echo: Option<(usize, chan::Sender<()>)>,
    idle: Duration,
) -> Seen {
    let probe = run.probe();
    let mut was_probed = false;
    let mut seen = Seen {
        latencies: Vec::with_capacity(expected),
        last: None,
        cut_short: None,
    };
    while seen.latencies.len() < expected {
        let text = match ws.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                seen.cut_short = Some(match frame {
                    Some(frame) => format!("closed: {} {}", frame.code, frame.reason),
                    None => "closed".into(),
                });
                break;
            }
            Ok(_) => continue,
            Err(err) => {
                seen.cut_short = Some(err.to_string());
                break;
            }
        };
        let now = Instant::now();
        let before = seen.latencies.len();
        for line in text.split('\n') {
            if line == probe {
                if !was_probed {
                    was_probed = true;
                    let _ = probed.send(());
                    // From now on every read must bring something
                    // within `idle`.
                    let _ = ws.get_ref().stream.set_read_timeout(Some(idle));
                }
                continue;
            }
            // "m RUN SENDER SEQ NANOS ....": NANOS since the epoch.
            let mut fields = line.split(' ');
            if fields.nth(1) != Some(run.0.as_str()) {
                continue; // history from an earlier run
            }
            let sender = fields.next().and_then(|n| n.parse::<usize>().ok());
            let Some(sent) = fields.nth(1).and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            if let Some((me, echo)) = &echo {
                if sender == Some(*me) {
                    let _ = echo.try_send(());
                }
            }
            let epoch = *epoch.get().expect("set before the first send");
            let latency = now.saturating_duration_since(epoch + Duration::from_nanos(sent));
            seen.latencies
                .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
        }
        if seen.latencies.len() > before {
            DELIVERED.fetch_add(seen.latencies.len() - before, Ordering::Relaxed);
            FRAMES.fetch_add(1, Ordering::Relaxed);
        }
        seen.last = Some(now);
    }
    seen
}

fn run(args: &Args, addr: SocketAddr, pid: u32) -> Result<(), String> {
    let patience = Duration::from_secs(args.patience);
    let run = Arc::new(RunId::new());
    // Messages a client in room r receives: those of the room's senders.
    let expected = |r: usize| {
        let senders = args.senders / args.rooms + usize::from(r < args.senders % args.rooms);
        senders * args.messages
    };
    let total: usize = (0..args.clients).map(|i| expected(i % args.rooms)).sum();
    println!(
        "chat-load: {} clients in {} rooms, {} senders × {} messages of {} bytes, server pid {} at {}",
        args.clients, args.rooms, args.senders, args.messages, args.size, pid, addr
    );
    let rss_idle = vm_rss(pid)?;
    let self_idle = vm_rss(std::process::id())?;

    // Connect, `--connecting` handshakes at a time.
    let connect_start = Instant::now();
    let (todo_tx, todo) = chan::bounded(args.clients);
    for i in 0..args.clients {
        todo_tx.send(i).expect("room for all");
    }
    drop(todo_tx);
    let (done_tx, done) = chan::bounded(args.clients);
    for _ in 0..args.connecting.max(1) {
        let (todo, done_tx, run, rooms) =
            (todo.clone(), done_tx.clone(), Arc::clone(&run), args.rooms);
        grt::go(move || {
            while let Ok(i) = todo.recv() {
                let room = format!("load-{}-{}", run.0, i % rooms);
                let _ = done_tx.send((i, connect(addr, &room)));
            }
        });
    }
    drop(done_tx);
    let mut clients: Vec<Option<Client>> = (0..args.clients).map(|_| None).collect();
    for _ in 0..args.clients {
        let (i, client) = recv_within(&done, patience, "the clients to connect")?;
        clients[i] = Some(client.map_err(|err| format!("client {i}: {err}"))?);
    }
    let connect_time = connect_start.elapsed();

    // A reader task per client.
    let epoch = Arc::new(std::sync::OnceLock::new());
    let (probed_tx, probed) = chan::bounded(args.clients);
    let (seen_tx, seen_rx) = chan::bounded(args.clients);
    let mut streams = Vec::with_capacity(args.clients);
    // With --echo, sender j's reader tells it when its message is back.
    let mut echoes = Vec::new();
    for (i, client) in clients
        .into_iter()
        .map(|c| c.expect("connected"))
        .enumerate()
    {
        let expected = expected(i % args.rooms);
        streams.push(Arc::clone(&client.stream));
        let (epoch, run, probed, seen) = (
            Arc::clone(&epoch),
            Arc::clone(&run),
            probed_tx.clone(),
            seen_tx.clone(),
        );
        let idle = Duration::from_secs(args.idle.max(1));
        let echo = (args.echo && i < args.senders).then(|| {
            let (tx, rx) = chan::bounded(args.messages.max(1));
            echoes.push(rx);
            (i, tx)
        });
        grt::go(move || {
            let _ = seen.send(read_all(
                client.reader,
                epoch,
                expected,
                run,
                probed,
                echo,
                idle,
            ));
        });
    }
    drop(seen_tx);

    // Everyone is in their room once everyone has the probe: a client
    // that registered after it was posted gets it from the room's history.
    // Client r is the first in room r. A server without history (gorilla's
    // chat) may register a client a moment after its handshake, so the
    // probe is repeated every second until everyone has one.
    let probe_deadline = Instant::now() + patience;
    let mut joined = 0;
    while joined < args.clients {
        for stream in streams.iter().take(args.rooms) {
            writer(stream)
                .send(Message::text(run.probe()))
                .map_err(|e| format!("probe: {e}"))?;
        }
        let round = Instant::now() + Duration::from_secs(1);
        while joined < args.clients {
            let left = round.saturating_duration_since(Instant::now());
            grt::select! {
                recv(probed) -> _ => joined += 1,
                default(left) => break,
            }
        }
        if Instant::now() > probe_deadline {
            return Err(format!(
                "gave up waiting for every client to join: {joined} of {} did",
                args.clients
            ));
        }
    }
    let rss_connected = vm_rss(pid)?;
    let self_connected = vm_rss(std::process::id())?;
    println!(
        "connected: {} clients in {:.2} s",
        args.clients,
        connect_time.as_secs_f64()
    );

    // The burst: every sender starts when the epoch is set.
    let (go_tx, go_rx) = chan::bounded::<()>(0);
    let mut senders = Vec::new();
    let mut echoes = echoes.into_iter();
    for (sender, stream) in streams.iter().take(args.senders).enumerate() {
        let mut ws = writer(stream);
        let echo = echoes.next();
        let (go_rx, epoch, run) = (go_rx.clone(), Arc::clone(&epoch), Arc::clone(&run));
        let (messages, size, interval) = (args.messages, args.size, args.interval);
        senders.push(grt::go(move || -> Result<(), String> {
            let _ = go_rx.recv(); // closed: go
            let epoch: Instant = *epoch.get().expect("set before go");
            for seq in 0..messages {
                if !interval.is_zero() {
                    // On a schedule, not "sleep after each send", so
                    // that a slow send does not slow the rate.
                    grt::time::sleep_until(epoch + interval * seq as u32);
                }
                let nanos = epoch.elapsed().as_nanos();
                let mut text = format!("m {} {sender:05} {seq:06} {nanos:015} ", run.0);
                text.extend(std::iter::repeat_n('.', size.saturating_sub(text.len())));
                ws.send(Message::text(text))
                    .map_err(|e| format!("sender {sender}: {e}"))?;
                if let Some(echo) = &echo {
                    if echo.recv().is_err() {
                        break; // its reader has stopped: it was dropped
                    }
                }
            }
            Ok(())
        }));
    }
    drop(go_rx);
    let server_cpu = cpu_time(pid)?;
    let self_cpu = cpu_time(std::process::id())?;
    let epoch = *epoch.get_or_init(Instant::now);
    drop(go_tx);
    for sender in senders {
        // A sender whose connection the server dropped stops early; its
        // readers report the drop.
        if let Err(err) = sender.join().map_err(|_| "a sender panicked")? {
            println!("  sender stopped: {err}");
        }
    }

    // Collect what every client saw.
    let mut latencies = Vec::with_capacity(total);
    let mut last = epoch;
    let mut cut_short = Vec::new();
    let deadline = Instant::now() + patience;
    let mut finished = 0;
    while finished < args.clients {
        let seen = grt::select! {
            recv(seen_rx) -> seen => seen.map_err(|_| "the readers have gone")?,
            default(PROGRESS) => {
                println!(
                    "  ... {} of {} delivered; {finished} clients done",
                    DELIVERED.load(Ordering::Relaxed),
                    total
                );
                if Instant::now() > deadline {
                    return Err(format!(
                        "gave up after {patience:?}: {finished} of {} clients received everything",
                        args.clients
                    ));
                }
                continue;
            }
        };
        finished += 1;
        latencies.extend_from_slice(&seen.latencies);
        last = last.max(seen.last.unwrap_or(epoch));
        cut_short.extend(seen.cut_short);
    }
    let rss_after = vm_rss(pid)?;
    let server_cpu = cpu_time(pid)?.saturating_sub(server_cpu);
    let self_cpu = cpu_time(std::process::id())?.saturating_sub(self_cpu);
    for stream in &streams {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    let elapsed = last.duration_since(epoch);
    let delivered = latencies.len();
    latencies.sort_unstable();
    let pct = |p: usize| {
        latencies
            .get((delivered.saturating_sub(1)) * p / 100)
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    let per_conn =
        |after: u64, before: u64| after.saturating_sub(before) as f64 / args.clients as f64;
    println!(
        "delivered: {delivered} of {} messages in {:.3} s: {:.2} M messages/s",
        total,
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "frames: {} ({:.1} messages per frame)",
        FRAMES.load(Ordering::Relaxed),
        DELIVERED.load(Ordering::Relaxed) as f64 / FRAMES.load(Ordering::Relaxed).max(1) as f64
    );
    println!(
        "latency (send to delivery): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(50),
        pct(99),
        pct(100)
    );
    println!(
        "CPU during delivery: server {:.2} s, load tool {:.2} s ({:.1} µs and {:.1} µs per delivery)",
        server_cpu.as_secs_f64(),
        self_cpu.as_secs_f64(),
        server_cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64,
        self_cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64,
    );
    println!(
        "server RSS: {} idle, {} with {} clients ({:.1} KiB per connection), {} after the burst ({:.1} KiB per connection)",
        mib(rss_idle),
        mib(rss_connected),
        args.clients,
        per_conn(rss_connected, rss_idle) / 1024.0,
        mib(rss_after),
        per_conn(rss_after, rss_idle) / 1024.0,
    );
    println!(
        "load tool RSS: {} idle, {} connected ({:.1} KiB per client)",
        mib(self_idle),
        mib(self_connected),
        per_conn(self_connected, self_idle) / 1024.0
    );
    if !cut_short.is_empty() {
        println!(
            "cut short: {} clients, e.g. {:?}",
            cut_short.len(),
            cut_short[0]
        );
        return Err(format!(
            "{} clients did not receive everything",
            cut_short.len()
        ));
    }
    Ok(())
}

/// A writing `WebSocket` over a client's socket.
fn writer(stream: &Arc<TcpStream>) -> WebSocket<Conn> {
    let conn = Conn {
        stream: Arc::clone(stream),
        writes: true,
    };
    WebSocket::from_raw_socket(conn, Role::Client, Some(ws_config().read_buffer_size(0)))
}

/// Receives from `rx`, failing if nothing comes within `patience`.
fn recv_within<T>(rx: &chan::Receiver<T>, patience: Duration, what: &str) -> Result<T, String> {
    grt::select! {
        recv(rx) -> value => value.map_err(|_| format!("gave up waiting for {what}: channel closed")),
        default(patience) => Err(format!("gave up waiting for {what} after {patience:?}")),
    }
}

/// CPU time a process has used (user + system), from /proc/PID/stat.
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The fields after the command name, which is in parentheses and may
    // hold spaces: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    let (Some(user), Some(system)) = (ticks(14), ticks(15)) else {
        return Err(format!("cannot parse /proc/{pid}/stat"));
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_millis((user + system) * 1000 / hz))
}

/// A process's resident set size in bytes (`VmRSS` in /proc/PID/status).
fn vm_rss(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `--interval`: a number and a unit (`500us`, `1ms`, `0.5s`), or `0`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, unit) = grt_chat::number_and_unit(text, "a time like 1ms")?;
    let seconds = match unit {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "" if number == 0.0 => 0.0,
        _ => return Err(format!("{text:?}: give a unit: us, ms or s")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|err| format!("{text:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("0"), Ok(Duration::ZERO));
        assert_eq!(parse_interval("2ms"), Ok(Duration::from_millis(2)));
        assert_eq!(parse_interval("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_interval("5").is_err(), "a unit is required");
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn reads_its_own_memory_and_cpu() {
        let me = std::process::id();
        assert!(vm_rss(me).unwrap() > 0);
        let spent = cpu_time(me).unwrap();
        assert!(spent < Duration::from_secs(24 * 3600));
    }
}
