//! `gateway --config FILE.toml`: the gateway as a program.
//!
//! Reads and checks the configuration before anything else, and refuses a
//! bad one with `FILE:LINE:COLUMN: what is wrong` and exit status 2; then
//! starts a grt runtime and serves until SIGINT or SIGTERM, on which it
//! shuts down gracefully (lib.rs, "Operating it") and exits 0. SIGHUP
//! reloads the file; a bad file is refused with the same message and the
//! running configuration stays.
//!
//! What it says on standard error, one line each, for people and for the
//! tests that drive it (tests/signals.rs):
//! - `gateway: serving N route(s) on http://ADDR`, then, with `admin`,
//!   `gateway: admin on http://ADDR`;
//! - `gateway: SIGHUP: reloaded FILE: N route(s)`, or
//!   `gateway: SIGHUP: reload refused, keeping the running configuration: FILE:LINE:COLUMN: …`;
//! - `gateway: SIGTERM: shutting down, waiting up to 10s for N connection(s)`,
//!   then `gateway: stopped: …`.
//!
//! Try it with two throwaway backends:
//!
//! ```text
//! python3 -m http.server 9001 & python3 -m http.server 9002 &
//! cat > gw.toml <<EOF
//! listen = "127.0.0.1:8080"
//! [[route]]
//! prefix = "/"
//! balancer = "round_robin"
//! middleware = ["request_id", "access_log"]
//! upstreams = [ { addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002" } ]
//! EOF
//! cargo run --release -p grt-gateway --bin gateway -- --config gw.toml
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! `GRT_SCHEDTRACE=1000` in front shows the scheduler: one parked task per
//! open connection, one for the accept loop.
//!
//! Then `kill -HUP` it after editing `gw.toml`, and `kill -TERM` (or
//! Ctrl-C) to stop it.
//!
//! To deploy it, build it with link-time optimisation, as the benchmarks
//! do (about 9% fewer instructions per proxied request; the binary lands
//! in target/release-lto/):
//!
//! ```text
//! cargo build --profile release-lto -p grt-gateway --bin gateway
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use grt_gateway::signal::{self, Signal};
use grt_gateway::{gateway, Config, ServerConfig};

/// A reverse-proxy gateway on grt.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gateway: {err}");
            return ExitCode::from(2);
        }
    };
    // Before grt::run starts any thread (grt::signal says why).
    let signals = match signal::notify() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("gateway: cannot watch for signals: {err}");
            return ExitCode::FAILURE;
        }
    };
    grt::run(move || {
        let running = match gateway::start(&config, ServerConfig::default()) {
            Ok(running) => running,
            Err(err) => {
                eprintln!("gateway: cannot start on {}: {err}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "gateway: serving {} route(s) on http://{}",
            running.gateway.routes().len(),
            running.server.local_addr()
        );
        if let Some(admin) = running.admin_addr() {
            eprintln!("gateway: admin on http://{admin}");
        }
        let stop = 'serve: loop {
            let Ok(raw) = signals.recv() else {
                // The signal thread is gone; nothing will stop us but this.
                break "no more signals".to_string();
            };
            let mut signal = Signal::from_raw(raw);
            while signal == Some(Signal::Hangup) {
                match running.reload_from(&args.config) {
                    Ok(()) => eprintln!(
                        "gateway: SIGHUP: reloaded {}: {} route(s)",
                        args.config.display(),
                        running.current().routes().len()
                    ),
                    Err(err) => eprintln!(
                        "gateway: SIGHUP: reload refused, keeping the running configuration: {err}"
                    ),
                }
                // SIGHUPs that came during the reload fold into one more,
                // which reads the file as it is now; a stop among them
                // wins.
                signal = None;
                while let Ok(raw) = signals.try_recv() {
                    match Signal::from_raw(raw) {
                        Some(Signal::Hangup) => signal = Some(Signal::Hangup),
                        Some(stop) => break 'serve stop.to_string(),
                        None => {}
                    }
                }
            }
            if let Some(stop) = signal {
                break stop.to_string();
            }
        };
        // While the shutdown drains, a second stop ends the process at
        // once (signal.rs); reloads are over.
        grt::go(move || {
            while let Ok(raw) = signals.recv() {
                if let Some(stop @ (Signal::Interrupt | Signal::Terminate)) = Signal::from_raw(raw)
                {
                    eprintln!("gateway: second {stop}, exiting now");
                    std::process::exit(128 + raw);
                }
            }
        });
        let timeout = running.shutdown_timeout();
        eprintln!(
            "gateway: {stop}: shutting down, waiting up to {timeout:?} for {} connection(s)",
            running.server.open_connections()
        );
        let drained = running.shutdown(timeout);
        eprintln!(
            "gateway: stopped: {} idle connection(s) closed, {} cut at the timeout",
            drained.idle_closed, drained.cut
        );
        ExitCode::SUCCESS
    })
}
