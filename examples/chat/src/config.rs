//! Every knob of the chat server in one struct, with gorilla's numbers as
//! the defaults.
//!
//! gorilla's `client.go` keeps its timings as constants (`writeWait`,
//! `pongWait`, `pingPeriod`, `maxMessageSize`) and the send buffer as a
//! literal (`make(chan []byte, 256)`). Here they are fields, so that the
//! command line can change them and the tests can run the same code with a
//! pong wait of a few hundred milliseconds instead of a minute. What is
//! ours and not gorilla's (rooms, history, the HTTP limits) says where its
//! number comes from.

use std::fmt;
use std::time::Duration;

/// The server's settings; `Config::default()` is gorilla's chat.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time allowed to write one frame (a batch of messages, a ping, a
    /// close) to the peer, and to wait for the peer's answer to our close
    /// frame. gorilla: `writeWait = 10 * time.Second`.
    pub write_wait: Duration,
    /// Time allowed between pongs: a client that answers no ping for this
    /// long is taken for gone and cleaned up. gorilla: `pongWait = 60 s`.
    pub pong_wait: Duration,
    /// How often the write pump pings. Must be shorter than `pong_wait`,
    /// or the pong cannot arrive in time. gorilla: `pingPeriod =
    /// pongWait * 9 / 10`, i.e. 54 s.
    pub ping_period: Duration,
    /// Largest message accepted from a client, in bytes; a bigger one
    /// closes the connection with 1009 (message too big). gorilla:
    /// `maxMessageSize = 512`.
    pub max_message_size: usize,
    /// Messages queued for one client before the hub gives up on it as
    /// too slow. gorilla: `make(chan []byte, 256)`.
    pub send_buffer: usize,
    /// Messages of a room replayed to a newcomer, oldest first. Not in
    /// gorilla; 50 is a screenful. At most `send_buffer`, since the replay
    /// goes through the same queue.
    pub history: usize,
    /// Rooms without clients whose history is kept, the longest idle
    /// forgotten first, so that reloading the page does not lose the
    /// conversation but made-up room names cannot grow memory for ever.
    /// Ours; 1,000 rooms × 50 messages × 512 bytes is at most 25 MB.
    pub idle_rooms: usize,
    /// The room of a client that names none (`/ws` without `?room=`).
    pub default_room: String,
    /// Longest room name, in bytes; longer gets 400.
    pub max_room_name: usize,
    /// Origins allowed to open a WebSocket besides the page's own, as
    /// browsers send them (`http://localhost:3000`); `*` allows any.
    /// gorilla's `Upgrader.CheckOrigin`, whose default is same-origin only.
    pub allowed_origins: Vec<String>,
    /// Time allowed for a client to send its whole request head; 408
    /// after that. Go's `http.Server.ReadHeaderTimeout` (unset by default
    /// there, which leaves slow-loris attacks open); 10 s like `write_wait`.
    pub header_timeout: Duration,
    /// Largest request head, in bytes; 431 beyond. 8 KiB is what nginx
    /// (`large_client_header_buffers 4 8k`) and Apache (`LimitRequestLine
    /// 8190`) allow a line; a WebSocket handshake is about 500 bytes.
    pub max_header_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        let pong_wait = Duration::from_secs(60);
        Config {
            write_wait: Duration::from_secs(10),
            pong_wait,
            ping_period: pong_wait * 9 / 10,
            max_message_size: 512,
            send_buffer: 256,
            history: 50,
            idle_rooms: 1000,
            default_room: "lobby".to_string(),
            max_room_name: 64,
            allowed_origins: Vec::new(),
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 8 * 1024,
        }
    }
}

impl Config {
    /// Sets the pong wait and, as gorilla derives it, the ping period to
    /// nine tenths of it.
    pub fn with_pong_wait(mut self, pong_wait: Duration) -> Config {
        self.pong_wait = pong_wait;
        self.ping_period = pong_wait * 9 / 10;
        self
    }

    /// Checks the rules the fields must keep between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |why: String| Err(ConfigError(why));
        for (name, value) in [
            ("write wait", self.write_wait),
            ("pong wait", self.pong_wait),
            ("ping period", self.ping_period),
            ("header timeout", self.header_timeout),
        ] {
            if value.is_zero() {
                return fail(format!("the {name} must be longer than zero"));
            }
        }
        if self.ping_period >= self.pong_wait {
            return fail(format!(
                "the ping period ({:?}) must be shorter than the pong wait ({:?}), \
                 or clients are dropped before their pong can arrive",
                self.ping_period, self.pong_wait
            ));
        }
        if self.max_message_size == 0 || self.send_buffer == 0 {
            return fail("the message size limit and the send buffer must be at least 1".into());
        }
        if self.history > self.send_buffer {
            return fail(format!(
                "the history ({}) cannot be longer than the send buffer ({}) it is replayed through",
                self.history, self.send_buffer
            ));
        }
        if self.default_room.is_empty() || self.default_room.len() > self.max_room_name {
            return fail(format!(
                "the default room's name must have 1 to {} bytes",
                self.max_room_name
            ));
        }
        if self.max_header_bytes < 512 {
            return fail(
                "a request head limit under 512 bytes would refuse every handshake".into(),
            );
        }
        Ok(())
    }
}

/// Why a [`Config`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A duration as the command line takes it: a number and a unit, `60s`,
/// `500ms`, `2m` (no unit: seconds). Public for the binaries that take
/// the chat's timings: `chat`, and `chat-tokio` in benches, whose command
/// line is the part of `chat`'s that `chat-load` uses.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text, "a duration like 60s or 500ms")?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|err| format!("{text:?}: {err}"))
}

/// `text` split into its number and the unit that follows it (`"1.5ms"`:
/// 1.5 and `"ms"`), for the command-line time parsers, each with its own
/// units; `what` names the expected form in the error.
pub fn number_and_unit<'a>(text: &'a str, what: &str) -> Result<(f64, &'a str), String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number
        .parse()
        .map_err(|_| format!("{text:?} is not {what}"))?;
    Ok((number, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_gorillas_and_valid() {
        let config = Config::default();
        assert_eq!(config.ping_period, Duration::from_secs(54));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn ping_period_must_be_shorter_than_pong_wait() {
        let mut config = Config::default();
        config.ping_period = config.pong_wait;
        assert!(config.validate().is_err());
        let config = Config::default().with_pong_wait(Duration::from_millis(100));
        assert_eq!(config.ping_period, Duration::from_millis(90));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn history_must_fit_the_send_buffer() {
        let config = Config {
            history: 10,
            send_buffer: 5,
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
