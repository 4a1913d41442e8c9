//! `chat`: gorilla's chat example, served by grt.
//!
//!     cargo run --release -p grt-chat --bin chat -- --addr 127.0.0.1:8080
//!
//! then open the printed address in two browser tabs and talk to yourself;
//! add `?room=NAME` for a room of your own. Ctrl-C closes every client's
//! connection with "going away" (1001) and exits; a second Ctrl-C exits at
//! once. `--help` lists the limits and timings, each defaulting to
//! gorilla's value (src/config.rs says where each number comes from).

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use grt_chat::{parse_wait, Config, Server};

/// A chat server: a hub task, two tasks per client, rooms and history.
#[derive(Parser, Debug)]
#[command(name = "chat", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,

    /// Largest message a client may send, in bytes; bigger closes its
    /// connection with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = Config::default().max_message_size)]
    max_message_size: usize,

    /// Messages queued per client before it is dropped as too slow.
    #[arg(long, value_name = "MESSAGES", default_value_t = Config::default().send_buffer)]
    send_buffer: usize,

    /// Messages of a room replayed to a newcomer (at most --send-buffer).
    #[arg(long, value_name = "MESSAGES", default_value_t = Config::default().history)]
    history: usize,

    /// Rooms without clients whose history is kept.
    #[arg(long, value_name = "ROOMS", default_value_t = Config::default().idle_rooms)]
    idle_rooms: usize,

    /// Room for clients that name none.
    #[arg(long, value_name = "NAME", default_value_t = Config::default().default_room)]
    default_room: String,

    /// An origin allowed to connect besides the page's own, such as
    /// http://localhost:3000, or * for any; repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origin: Vec<String>,

    /// Time a client has to answer a ping before it is taken for gone
    /// (e.g. 60s, 500ms).
    #[arg(long, value_name = "TIME", default_value_t = Wait(Config::default().pong_wait))]
    pong_wait: Wait,

    /// How often to ping each client [default: 9/10 of --pong-wait].
    #[arg(long, value_name = "TIME")]
    ping_period: Option<Wait>,

    /// Time allowed to write a frame, and to wait for a close reply.
    #[arg(long, value_name = "TIME", default_value_t = Wait(Config::default().write_wait))]
    write_wait: Wait,

    /// Time a client has to send its request head (408 after it).
    #[arg(long, value_name = "TIME", default_value_t = Wait(Config::default().header_timeout))]
    header_timeout: Wait,
}

impl Args {
    fn config(&self) -> Config {
        let mut config = Config {
            write_wait: self.write_wait.0,
            max_message_size: self.max_message_size,
            send_buffer: self.send_buffer,
            history: self.history,
            idle_rooms: self.idle_rooms,
            default_room: self.default_room.clone(),
            allowed_origins: self.allow_origin.clone(),
            header_timeout: self.header_timeout.0,
            ..Config::default()
        }
        .with_pong_wait(self.pong_wait.0);
        if let Some(period) = self.ping_period {
            config.ping_period = period.0;
        }
        config
    }
}

/// A duration written as a number and a unit: `60s`, `500ms`, `2m`.
#[derive(Clone, Copy, Debug)]
struct Wait(Duration);

impl FromStr for Wait {
    type Err = String;

    fn from_str(text: &str) -> Result<Wait, String> {
        parse_wait(text).map(Wait)
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = args.config();
    if let Err(err) = config.validate() {
        eprintln!("chat: {err}");
        return ExitCode::FAILURE;
    }
    // Before grt::run starts any thread (grt::signal says why).
    let interrupts = match grt_chat::signal::notify() {
        Ok(interrupts) => interrupts,
        Err(err) => {
            eprintln!("chat: cannot watch for Ctrl-C: {err}");
            return ExitCode::FAILURE;
        }
    };
    grt::run(move || {
        let server = match Server::start(&args.addr, config) {
            Ok(server) => server,
            Err(err) => {
                eprintln!("chat: cannot serve on {}: {err}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        let addr = server.local_addr();
        println!("chat: serving on http://{addr}/ (another room: http://{addr}/?room=NAME)");
        println!("chat: Ctrl-C to stop");
        let stopper = server.clone();
        let waiting = grt::Builder::new().name("chat-signal").spawn(move || {
            if let Ok(signal) = interrupts.recv() {
                let stats = stopper.stats();
                println!(
                    "chat: signal {signal}: saying goodbye to {} clients in {} rooms",
                    stats.hub.clients, stats.hub.rooms
                );
                grt_chat::signal::exit_on_second(interrupts, "chat");
                stopper.shutdown();
            }
        });
        if let Err(err) = waiting {
            eprintln!("chat: cannot watch for Ctrl-C: {err}");
        }
        server.wait();
        println!("chat: stopped");
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_parse_and_print() {
        let parse = |text: &str| text.parse::<Wait>().map(|w| w.0);
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("soon").is_err());
        assert!(parse("5h").is_err());
        assert_eq!(Wait(Duration::from_secs(54)).to_string(), "54s");
        assert_eq!(Wait(Duration::from_millis(300)).to_string(), "300ms");
    }

    #[test]
    fn defaults_are_the_configs() {
        let args = Args::parse_from(["chat"]);
        let config = args.config();
        let default = Config::default();
        assert_eq!(config.pong_wait, default.pong_wait);
        assert_eq!(config.ping_period, default.ping_period);
        assert_eq!(config.max_message_size, default.max_message_size);
        assert_eq!(config.history, default.history);
        let args = Args::parse_from(["chat", "--pong-wait", "10s", "--allow-origin", "*"]);
        assert_eq!(args.config().ping_period, Duration::from_secs(9));
        assert_eq!(args.config().allowed_origins, ["*"]);
    }
}
