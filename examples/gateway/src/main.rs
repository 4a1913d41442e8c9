//! `gateway --config FILE.toml`: the gateway as a program.
//!
//! Reads and checks the configuration before anything else, and refuses a
//! bad one with `FILE:LINE:COLUMN: what is wrong` and exit status 2; then
//! starts a grt runtime and serves until killed.
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

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
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
        loop {
            grt::time::sleep(Duration::from_secs(3600));
        }
    })
}
