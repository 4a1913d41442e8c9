//! The gateway binary under signals: SIGTERM drains and exits 0, SIGHUP
//! reloads the file (and refuses a bad one). The backends run in this
//! process; the gateway is a child process whose standard error is read
//! line by line, so that each step waits for the line saying the previous
//! one happened (main.rs lists them).

mod common;

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use common::*;
use grt::chan;
use grt::net::TcpStream;

/// Writes `text` to a fresh file named `name` and returns its path.
fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grt-gateway-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The gateway binary, running.
struct Gateway {
    child: Child,
    /// Its standard error, line by line (also echoed to ours).
    lines: chan::Receiver<String>,
    /// Where it serves.
    addr: SocketAddr,
}

impl Gateway {
    /// Starts `gateway --config path` and waits until it serves.
    fn start(path: &Path) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("--config")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = chan::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                eprintln!("[gateway] {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut gateway = Gateway {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let serving = gateway.wait_for("gateway: serving");
        gateway.addr = serving
            .rsplit("http://")
            .next()
            .unwrap()
            .parse()
            .expect("an address");
        gateway
    }

    /// The next line of standard error containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv()
                .unwrap_or_else(|_| panic!("the gateway ended before saying {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: `kill` touches no memory; `pid` is our own child, which
        // has not been waited for (so the number is still its).
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the process to exit.
    fn wait(&mut self) -> ExitStatus {
        grt::blocking(|| self.child.wait()).unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // A test that failed half-way leaves no gateway behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A configuration file `name` routing to `backend`, draining for up to
/// `drain`.
fn draining_config(backend: &Backend, name: &str, drain: &str) -> PathBuf {
    write(
        name,
        &one_route(&[backend.addr], "").replacen(
            "[[route]]",
            &format!("shutdown_timeout = \"{drain}\"\n[[route]]"),
            1,
        ),
    )
}

#[test]
fn sigterm_lets_a_request_finish_refuses_new_connections_and_exits_0() {
    run(|| {
        let (backend, arrived, release) = Backend::gated();
        let path = draining_config(&backend, "sigterm.toml", "20s");
        let mut gateway = Gateway::start(&path);
        let addr = gateway.addr;

        let mut idle = Client::connect(addr);
        assert_eq!(idle.get("/fast").text(), "fast");
        let mut busy = Client::connect(addr);
        busy.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        arrived.recv().unwrap();

        gateway.signal(libc::SIGTERM);
        let line = gateway.wait_for("shutting down");
        assert!(
            line.starts_with("gateway: SIGTERM: shutting down, waiting up to 20s"),
            "{line}"
        );
        assert!(idle.is_closed(), "the idle connection is closed at once");
        let refused = TcpStream::connect(addr).err().map(|err| err.kind());
        assert_eq!(refused, Some(ErrorKind::ConnectionRefused));

        release.send(()).unwrap();
        let got = busy.response();
        assert_eq!((got.status, got.text().as_str()), (200, "slow done"));
        assert_eq!(got.header("connection"), Some("close"));
        drop(busy);

        let stopped = gateway.wait_for("gateway: stopped");
        assert_eq!(
            stopped,
            "gateway: stopped: 1 idle connection(s) closed, 0 cut at the timeout"
        );
        assert_eq!(gateway.wait().code(), Some(0));
    });
}

#[test]
fn sighup_reloads_the_file_and_refuses_a_bad_one() {
    run(|| {
        let old = Backend::start(|_| Reply::ok("old"));
        let new = Backend::start(|_| Reply::ok("new"));
        let config = |backend: SocketAddr| {
            format!(
                "listen = \"127.0.0.1:0\"\n[[route]]\nprefix = \"/\"\nupstreams = [ {{ addr = \"{backend}\" }} ]\n"
            )
        };
        let path = write("sighup.toml", &config(old.addr));
        let mut gateway = Gateway::start(&path);
        let mut client = Client::connect(gateway.addr);
        assert_eq!(client.get("/").text(), "old");

        let bad =
            config(new.addr).replace("prefix = \"/\"", "prefix = \"/\"\nbalancer = \"fastest\"");
        std::fs::write(&path, bad).unwrap();
        gateway.signal(libc::SIGHUP);
        let line = gateway.wait_for("SIGHUP");
        let expected = format!(
            "gateway: SIGHUP: reload refused, keeping the running configuration: {}:4:12: unknown balancer \"fastest\"",
            path.display()
        );
        assert!(line.starts_with(&expected), "{line}");
        assert_eq!(client.get("/").text(), "old", "the running config stays");

        std::fs::write(&path, config(new.addr)).unwrap();
        gateway.signal(libc::SIGHUP);
        let line = gateway.wait_for("SIGHUP");
        assert_eq!(
            line,
            format!("gateway: SIGHUP: reloaded {}: 1 route(s)", path.display())
        );
        assert_eq!(
            client.get("/").text(),
            "new",
            "the open connection follows the new route"
        );
        assert_eq!(get(gateway.addr, "/").text(), "new");

        gateway.signal(libc::SIGINT);
        gateway.wait_for("gateway: stopped");
        assert_eq!(gateway.wait().code(), Some(0));
    });
}

#[test]
fn a_second_stop_while_draining_exits_at_once_with_128_plus_the_signal() {
    run(|| {
        let (backend, arrived, _release) = Backend::gated();
        let path = draining_config(&backend, "second.toml", "60s");
        let mut gateway = Gateway::start(&path);
        let mut busy = Client::connect(gateway.addr);
        busy.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        arrived.recv().unwrap();

        gateway.signal(libc::SIGTERM);
        gateway.wait_for("shutting down");
        // A reload asked for now is not a stop: the drain goes on...
        gateway.signal(libc::SIGHUP);
        // ...until the operator insists.
        gateway.signal(libc::SIGINT);
        let line = gateway.wait_for("exiting now");
        assert_eq!(line, "gateway: second SIGINT, exiting now");
        assert_eq!(gateway.wait().code(), Some(128 + libc::SIGINT));
    });
}
