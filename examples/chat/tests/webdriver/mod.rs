//! A tiny W3C WebDriver client: just the commands the browser test needs,
//! spoken as JSON over HTTP/1.1 on std sockets.
//!
//! # Why not a WebDriver crate
//! The Rust clients (`fantoccini`, `thirtyfour`) are async and bring
//! tokio, hyper and a TLS stack with them: a few hundred crates for one
//! test that sends a dozen commands to a driver on localhost. Neither is
//! in this machine's offline crate cache either. The protocol is small
//! (<https://www.w3.org/TR/webdriver2/>): every command is an HTTP request
//! whose body and answer are JSON, the answer's `value` holding the result
//! or an error. So this file speaks it directly, with `serde_json` for the
//! JSON and one short-lived connection per command.
//!
//! # Waiting
//! Nothing here sleeps for a fixed time and hopes. [`Driver::start`] waits
//! until chromedriver's `/status` says it is ready; [`Session::wait_for`]
//! asks the page a question (a script returning a value) until the answer
//! is what the test wants, or the patience runs out, and then fails with
//! what the page last said.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How often a wait asks again.
const POLL: Duration = Duration::from_millis(25);

/// The element reference key (W3C WebDriver §12.1, "web element
/// identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process listening on a port of localhost; killed when
/// dropped.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    /// Starts `chromedriver` (from `$PATH`) on a free port, its log going
    /// to `log`, and waits until it is ready for sessions.
    pub fn start(log: &Path, patience: Duration) -> io::Result<Driver> {
        // Asking the kernel for a free port and letting it go: another
        // process could take it in between, but nothing else on a test
        // machine picks ports at random in the ephemeral range this fast.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + patience;
        loop {
            // Refused until it listens; `ready` false until it can start
            // a browser.
            if let Ok(status) = driver.request("GET", "/status", None) {
                if status["ready"] == json!(true) {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("chromedriver not ready within {patience:?}"),
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Starts a headless Chromium with a window of `width` × `height`.
    pub fn session(&self, width: u32, height: u32) -> io::Result<Session<'_>> {
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "args": [
                        "--headless=new",
                        // We run as root in CI containers, where Chromium's
                        // sandbox cannot start.
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--hide-scrollbars",
                        format!("--window-size={width},{height}"),
                    ]
                }
            }}
        });
        let created = self.request("POST", "/session", Some(capabilities))?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| protocol_error("no sessionId", &created))?
            .to_string();
        Ok(Session { driver: self, id })
    }

    /// Sends one command; the answer's `value`, or its error as an
    /// `io::Error`.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> io::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr)?;
        // Starting a browser is the slowest command; a minute is far more
        // than it takes.
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let (status, body) = read_response(&mut stream)?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if status != 200 {
            return Err(protocol_error(
                &format!("{method} {path}: {status}"),
                &value,
            ));
        }
        Ok(value)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser, driven through its driver; closed when dropped.
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

/// An element of the current page.
pub struct Element(String);

impl Session<'_> {
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> io::Result<Value> {
        self.driver
            .request(method, &format!("/session/{}{path}", self.id), body)
    }

    /// Opens `url` and returns once the page has loaded.
    pub fn goto(&self, url: &str) -> io::Result<()> {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Resizes the browser window (the viewport follows).
    pub fn set_window_size(&self, width: u32, height: u32) -> io::Result<()> {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .map(drop)
    }

    /// The first element matching `selector`.
    pub fn find(&self, selector: &str) -> io::Result<Element> {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        )?;
        let id = found[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| protocol_error("no element reference", &found))?;
        Ok(Element(id.to_string()))
    }

    /// Types `text` into `element`, key by key, as a user would.
    pub fn type_into(&self, element: &Element, text: &str) -> io::Result<()> {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// Clicks `element` (scrolled into view, at its centre).
    pub fn click(&self, element: &Element) -> io::Result<()> {
        self.command(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .map(drop)
    }

    /// Runs `script` (a function body: `return ...`) in the page, with
    /// `args` as `arguments`, and returns its result.
    pub fn run(&self, script: &str, args: Value) -> io::Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Runs `script` until `done` holds for its result, for at most
    /// `patience`; fails with the last result if it never does.
    pub fn wait_for(
        &self,
        what: &str,
        script: &str,
        patience: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> io::Result<Value> {
        let deadline = Instant::now() + patience;
        loop {
            let value = self.run(script, json!([]))?;
            if done(&value) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("gave up waiting for {what}; the page last said {value}"),
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// A PNG of the window's viewport.
    pub fn screenshot(&self) -> io::Result<Vec<u8>> {
        self.png("/screenshot")
    }

    /// A PNG of just `element`.
    pub fn element_screenshot(&self, element: &Element) -> io::Result<Vec<u8>> {
        self.png(&format!("/element/{}/screenshot", element.0))
    }

    fn png(&self, path: &str) -> io::Result<Vec<u8>> {
        let encoded = self.command("GET", path, None)?;
        let encoded = encoded
            .as_str()
            .ok_or_else(|| protocol_error("no screenshot", &encoded))?;
        data_encoding::BASE64
            .decode(encoded.as_bytes())
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
    }
}

impl Drop for Session<'_> {
    /// Closes the browser (chromedriver ends its processes).
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
    }
}

/// Reads one HTTP/1.1 response from `stream`: its status and body. The
/// body is framed by `Content-Length` or chunked coding; chromedriver
/// keeps the connection open after answering, whatever `Connection:
/// close` asked, so reading to end-of-file would wait for its timeout.
fn read_response(stream: &mut TcpStream) -> io::Result<(u16, Vec<u8>)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // Reads more into `bytes`, failing at end-of-file.
    let mut more = |bytes: &mut Vec<u8>| -> io::Result<()> {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&buf[..n]);
        Ok(())
    };
    let head_len = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        more(&mut bytes)?;
    };
    let head = std::str::from_utf8(&bytes[..head_len])
        .map_err(|_| bad("head not UTF-8"))?
        .to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = head_len;
        loop {
            let line_end = loop {
                if let Some(end) = bytes[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + end;
                }
                more(&mut bytes)?;
            };
            let size = std::str::from_utf8(&bytes[at..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| bad("bad chunk size"))?;
            at = line_end + 2;
            if size == 0 {
                return Ok((status, body)); // trailers, if any, are ignored
            }
            while bytes.len() < at + size + 2 {
                more(&mut bytes)?;
            }
            body.extend_from_slice(&bytes[at..at + size]);
            at += size + 2;
        }
    }
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("neither Content-Length nor chunked"))?;
    while bytes.len() < head_len + len {
        more(&mut bytes)?;
    }
    Ok((status, bytes[head_len..head_len + len].to_vec()))
}

fn protocol_error(what: &str, value: &Value) -> io::Error {
    io::Error::other(format!("webdriver: {what}: {value}"))
}
