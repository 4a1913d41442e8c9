//! What `cargo run --release` starts: two chat hubs behind the gateway, in
//! one process on one grt runtime (src/lib.rs draws the picture).
//!
//!     cargo run --release                      # gateway on 127.0.0.1:8080
//!     cargo run --release -- --addr 127.0.0.1:0
//!
//! then open the printed URL in two browser tabs and talk to yourself;
//! `/?room=NAME` for a room of your own. Each room lives on one hub, and
//! a line is printed for each new room saying which. Ctrl-C stops the
//! gateway, says goodbye to every client (close code 1001) and exits; a
//! second Ctrl-C exits at once.
//!
//! `GRT_SCHEDTRACE=1000` in front shows the scheduler at work: every
//! connection of the three servers is a task parked on the net poller,
//! and a few threads carry them all. The scheduler tour that used to be
//! here is `cargo run --release --example tour`.

use std::process::ExitCode;

use clap::Parser;
use grt_showcase::{Options, Showcase, HUB_NAMES};

/// Two grt-chat hubs behind grt-gateway, in one process.
#[derive(Parser, Debug)]
#[command(name = "grt-showcase", version)]
struct Args {
    /// Where the gateway listens: the address to open in a browser (port
    /// 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,

    /// Where the two chat hubs listen, hub A first; give it twice, or not
    /// at all for two free ports. The ring, hence which hub gets which
    /// room, depends on these addresses.
    #[arg(long = "hub", value_name = "ADDR", num_args = 1)]
    hubs: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut options = Options {
        addr: args.addr,
        ..Options::default()
    };
    match <[String; 2]>::try_from(args.hubs) {
        Ok(hubs) => options.hub_addrs = hubs,
        Err(hubs) if hubs.is_empty() => {}
        Err(_) => {
            eprintln!("showcase: give --hub twice (hub A, then hub B), or not at all");
            return ExitCode::from(2);
        }
    }
    // Before grt::run starts any thread (grt::signal says why).
    let interrupts = match grt_chat::signal::notify() {
        Ok(interrupts) => interrupts,
        Err(err) => {
            eprintln!("showcase: cannot watch for Ctrl-C: {err}");
            return ExitCode::FAILURE;
        }
    };
    grt::run(move || {
        let showcase = match grt_showcase::start(&options) {
            Ok(showcase) => showcase,
            Err(err) => {
                eprintln!("showcase: cannot start: {err}");
                eprintln!("showcase: another address? --addr 127.0.0.1:0 picks a free port");
                return ExitCode::FAILURE;
            }
        };
        welcome(&showcase);
        if let Ok(signal) = interrupts.recv() {
            let clients: usize = showcase
                .hubs()
                .iter()
                .map(|hub| hub.stats().hub.clients)
                .sum();
            println!(
                "showcase: signal {signal}: closing the gateway, then saying goodbye to \
                 {clients} client(s) on the hubs"
            );
            grt_chat::signal::exit_on_second(interrupts, "showcase");
        }
        match showcase.shutdown() {
            0 => println!("showcase: stopped"),
            idle => println!("showcase: stopped ({idle} idle browser connection(s) close on exit)"),
        }
        ExitCode::SUCCESS
    })
}

/// What is running, and what to try.
fn welcome(showcase: &Showcase) {
    let url = format!("http://{}/", showcase.addr());
    println!(
        "grt showcase: two chat hubs behind a gateway, one process, one grt runtime \
         (GRT_MAXPROCS={})\n",
        procs()
    );
    for (name, hub) in HUB_NAMES.iter().zip(showcase.hubs()) {
        println!("  hub {name}     http://{}/", hub.local_addr());
    }
    println!("  gateway   {url}");
    for route in &showcase.config().routes {
        let key = match route.balancer.as_str() {
            "consistent_hash" => format!(" on {}", route.hash_key),
            _ => String::new(),
        };
        println!(
            "            {:<4} → {}{key}, over both hubs",
            route.prefix, route.balancer
        );
    }
    println!(
        "            (configured by {})\n",
        grt_showcase::GATEWAY_TOML_PATH
    );
    println!("Open {url} in two browser tabs and talk to yourself.");
    println!("Open {url}?room=NAME for another room: every room lives on one hub, and the");
    println!("gateway sends all of its clients there. A line below names each new room's hub.");
    println!("The scheduler meanwhile: GRT_SCHEDTRACE=1000 cargo run --release. Ctrl-C to stop.\n");
}

/// The number of Ps, as the runtime chose it.
fn procs() -> String {
    std::env::var("GRT_MAXPROCS").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string()
    })
}
