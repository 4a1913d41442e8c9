//! `chat-tokio`: examples/chat's hub, written again on tokio
//! (grt_benches::tokio_chat says how it mirrors grt's chat and why it
//! exists), so that `chatbench` can compare the runtimes under one load
//! tool.
//!
//!     cargo build --release -p grt-chat -p grt-benches
//!     target/release/chat-load --server target/release/chat-tokio --echo
//!
//! Its command line is the part of the `chat` binary's that `chat-load`
//! uses (`--addr`, `--pong-wait`, and limits through `--server-arg`), and
//! its first line says where it listens, as `chat`'s does. It serves only
//! WebSockets (`/ws?room=NAME`); SIGTERM or SIGINT ends it.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use grt_chat::{parse_wait, Config};

/// The chat hub on tokio: a hub task, two tasks per client, rooms and
/// history.
#[derive(Parser, Debug)]
#[command(name = "chat-tokio")]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,

    /// Messages queued per client before it is dropped as too slow.
    #[arg(long, value_name = "MESSAGES", default_value_t = Config::default().send_buffer)]
    send_buffer: usize,

    /// Largest message a client may send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Config::default().max_message_size)]
    max_message_size: usize,

    /// Messages of a room replayed to a newcomer.
    #[arg(long, value_name = "MESSAGES", default_value_t = Config::default().history)]
    history: usize,

    /// Time a client has to answer a ping (e.g. 60s, 10m); the ping
    /// period is 9/10 of it.
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_wait)]
    pong_wait: Duration,

    /// tokio worker threads [default: one per core, as grt's Ps].
    #[arg(long)]
    workers: Option<usize>,

    /// Tasks a tokio worker runs between two looks at the sockets
    /// (tokio's `event_interval`). grt, as Go, looks only once its run
    /// queues are empty, or when sysmon finds the poller forgotten for
    /// 10 ms; a huge value here does about the same, which is how
    /// docs/benchmarks.md tells that difference from the others.
    #[arg(long, value_name = "TASKS", default_value_t = 61)]
    event_interval: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        send_buffer: args.send_buffer,
        max_message_size: args.max_message_size,
        history: args.history,
        ..Config::default()
    }
    .with_pong_wait(args.pong_wait);
    if let Err(err) = config.validate() {
        eprintln!("chat-tokio: {err}");
        return ExitCode::FAILURE;
    }
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .event_interval(args.event_interval)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chat-tokio: cannot start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.addr).await?;
        let addr = listener.local_addr()?;
        println!("chat-tokio: serving on http://{addr}/ws (another room: /ws?room=NAME)");
        // On a worker, not on this thread (tokio_chat::serve says why).
        tokio::spawn(grt_benches::tokio_chat::serve(listener, config))
            .await
            .map_err(std::io::Error::other)
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-tokio: cannot serve on {}: {err}", args.addr);
            ExitCode::FAILURE
        }
    }
}
