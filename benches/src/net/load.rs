//! The load generator: N connections, each doing one exchange at a time
//! (an echo round trip, or a request and its whole response) for a fixed
//! time, every answer checked. It is the same code whichever server it
//! measures, on a tokio current-thread runtime in the parent process (the
//! module comment of net/mod.rs says why).
//!
//! A run connects every connection first (in batches of 100, so a backlog
//! never overflows), then lets them all loop: a warm-up whose exchanges
//! are not counted, the measured window, then a stop. An exchange counts
//! if it completes inside the window; its latency is from the first byte
//! written to the last byte read. The window's ends are also where the
//! server's CPU time (`/proc/PID/stat`) and the load's own
//! (`getrusage(RUSAGE_THREAD)`) are read.
//!
//! Every echo is compared with what was sent; every HTTP response is
//! parsed (status 200, `Content-Length` 13, body `Hello, world!`) and, for
//! the hand-rolled servers, compared byte for byte with
//! [`RESPONSE`](super::RESPONSE). One wrong byte fails the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Workload, BODY, ECHO_LEN, REQUEST, RESPONSE};

/// Connections opened at once while connecting.
const CONNECT_BATCH: usize = 100;

/// Bytes a response may take (ours are 51, hyper's about 90).
const RESPONSE_BUF: usize = 4096;

/// Phases of a run, read by every connection between exchanges.
const WARM_UP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// One run's parameters.
#[derive(Clone, Debug)]
pub struct Load {
    pub workload: Workload,
    pub conns: usize,
    pub warm_up: Duration,
    pub measure: Duration,
    /// Compare HTTP responses with [`RESPONSE`] byte for byte.
    pub exact: bool,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Exchanges completed inside the window.
    pub exchanges: u64,
    /// The window's length, seconds.
    pub secs: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// CPU seconds the server process used during the window.
    pub server_cpu: f64,
    /// CPU seconds the load's thread used during the window.
    pub client_cpu: f64,
    /// CPU seconds the rest of the machine (other processes, the kernel's
    /// threads) used during the window: how disturbed the window was.
    pub other_cpu: f64,
}

impl Sample {
    pub fn per_sec(&self) -> f64 {
        self.exchanges as f64 / self.secs
    }

    /// Server CPU microseconds per exchange.
    pub fn server_us_per_op(&self) -> f64 {
        self.server_cpu * 1e6 / self.exchanges as f64
    }
}

/// Runs `load` against the server at `addr` (process `server_pid`), on a
/// current-thread tokio runtime on this thread. Fails with the first
/// error any connection met (refused, reset, a wrong byte).
pub fn run(addr: SocketAddr, server_pid: u32, load: &Load) -> Result<Sample, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot build the load's runtime: {err}"))?;
    runtime.block_on(drive(addr, server_pid, load))
}

/// What one connection's task hands back.
struct ConnOutcome {
    /// Latency of each exchange completed in the window, nanoseconds.
    latencies: Vec<u32>,
    error: Option<String>,
}

async fn drive(addr: SocketAddr, server_pid: u32, load: &Load) -> Result<Sample, String> {
    let mut conns = Vec::with_capacity(load.conns);
    while conns.len() < load.conns {
        let batch = CONNECT_BATCH.min(load.conns - conns.len());
        let connecting: Vec<_> = (0..batch).map(|_| tokio::spawn(connect(addr))).collect();
        for handle in connecting {
            let conn = handle.await.map_err(|err| err.to_string())?;
            conns.push(conn.map_err(|err| format!("connect to {addr}: {err}"))?);
        }
    }

    let phase = Arc::new(AtomicU8::new(WARM_UP));
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(id, conn)| {
            let phase = Arc::clone(&phase);
            let (workload, exact) = (load.workload, load.exact);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let outcome = match workload {
                    Workload::Echo => echo(conn, id, &phase, &mut latencies).await,
                    Workload::Http => http(conn, exact, &phase, &mut latencies).await,
                };
                ConnOutcome {
                    latencies,
                    error: outcome.err().map(|err| format!("connection {id}: {err}")),
                }
            })
        })
        .collect();

    tokio::time::sleep(load.warm_up).await;
    let machine_before = machine_busy()?;
    let server_before = process_cpu(server_pid)?;
    let client_before = thread_cpu();
    let start = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(load.measure).await;
    phase.store(STOP, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    let client_cpu = thread_cpu() - client_before;
    let server_cpu = process_cpu(server_pid)? - server_before;
    let machine_cpu = machine_busy()? - machine_before;

    let mut latencies = Vec::new();
    let mut first_error = None;
    for task in tasks {
        let outcome = task.await.map_err(|err| err.to_string())?;
        latencies.extend_from_slice(&outcome.latencies);
        if first_error.is_none() {
            first_error = outcome.error;
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    if latencies.is_empty() {
        return Err("no exchange completed in the measured window".into());
    }
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() - 1) * p / 100] as f64 / 1e3;
    Ok(Sample {
        exchanges: latencies.len() as u64,
        secs,
        p50_us: percentile(50),
        p99_us: percentile(99),
        server_cpu,
        client_cpu,
        other_cpu: (machine_cpu - server_cpu - client_cpu).max(0.0),
    })
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    Ok(conn)
}

/// Keeps `start`'s latency if the exchange ended inside the window.
fn record(phase: &AtomicU8, start: Instant, latencies: &mut Vec<u32>) {
    if phase.load(Ordering::Relaxed) == MEASURE {
        let nanos = start.elapsed().as_nanos();
        latencies.push(nanos.min(u128::from(u32::MAX)) as u32);
    }
}

/// Echo round trips until the stop: each message carries the connection's
/// id and a sequence number, so a reply that belongs elsewhere shows.
async fn echo(
    mut conn: TcpStream,
    id: usize,
    phase: &AtomicU8,
    latencies: &mut Vec<u32>,
) -> Result<(), String> {
    let mut msg = [id as u8; ECHO_LEN];
    msg[8..16].copy_from_slice(&(id as u64).to_le_bytes());
    let mut back = [0u8; ECHO_LEN];
    let mut seq = 0u64;
    while phase.load(Ordering::Relaxed) != STOP {
        seq += 1;
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        let start = Instant::now();
        conn.write_all(&msg).await.map_err(|e| e.to_string())?;
        conn.read_exact(&mut back)
            .await
            .map_err(|e| e.to_string())?;
        record(phase, start, latencies);
        if back != msg {
            return Err(format!("echo {seq} came back as {back:?}"));
        }
    }
    Ok(())
}

/// Requests until the stop, one at a time on a keep-alive connection.
async fn http(
    mut conn: TcpStream,
    exact: bool,
    phase: &AtomicU8,
    latencies: &mut Vec<u32>,
) -> Result<(), String> {
    let mut buf = vec![0u8; RESPONSE_BUF];
    while phase.load(Ordering::Relaxed) != STOP {
        let start = Instant::now();
        conn.write_all(REQUEST).await.map_err(|e| e.to_string())?;
        let mut filled = 0;
        let total = loop {
            if filled == buf.len() {
                return Err("a response larger than 4 KiB".into());
            }
            let n = conn
                .read(&mut buf[filled..])
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed a keep-alive connection".into());
            }
            filled += n;
            if let Some(total) = response_len(&buf[..filled])? {
                if filled >= total {
                    break total;
                }
            }
        };
        record(phase, start, latencies);
        if filled != total {
            return Err(format!(
                "{} bytes after the response to a lone request",
                filled - total
            ));
        }
        if exact && &buf[..total] != RESPONSE {
            return Err(format!(
                "response differs from the expected one: {:?}",
                String::from_utf8_lossy(&buf[..total])
            ));
        }
        if &buf[total - BODY.len()..total] != BODY {
            return Err(format!(
                "body is {:?}",
                String::from_utf8_lossy(&buf[total - BODY.len()..total])
            ));
        }
    }
    Ok(())
}

/// The length of the response at the front of `buf`, once its head is
/// complete: head plus `Content-Length`. Fails on anything but a 200 with
/// a 13-byte body.
fn response_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(format!("bad response: {err}")),
    };
    if response.code != Some(200) {
        return Err(format!("status {:?}", response.code));
    }
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .ok_or("a response without Content-Length")?;
    if length.value != b"13" {
        return Err(format!(
            "Content-Length {:?}",
            String::from_utf8_lossy(length.value)
        ));
    }
    Ok(Some(head + BODY.len()))
}

/// CPU seconds (user + system) that process `pid` has used, all its
/// threads together (`/proc/PID/stat` fields 14 and 15).
pub fn process_cpu(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
    // The command name (field 2) may hold spaces; fields after it don't.
    let rest = &stat[stat.rfind(')').ok_or("no ')' in /proc/PID/stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // Fields are numbered from 1, and `rest` starts at field 3.
    Ok((ticks(14 - 3)? + ticks(15 - 3)?) / hz)
}

/// CPU seconds all cores have spent busy since boot (`/proc/stat`: user,
/// nice, system, irq and softirq; not idle, iowait, or steal, which is
/// time the hypervisor gave to other machines).
pub fn machine_busy() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|err| format!("/proc/stat: {err}"))?;
    let line = stat.lines().next().ok_or("/proc/stat is empty")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if ticks.len() < 7 {
        return Err(format!("/proc/stat: unexpected first line {line:?}"));
    }
    // user nice system idle iowait irq softirq ... (guest time is already
    // inside user and nice).
    let busy: u64 = [0, 1, 2, 5, 6].iter().map(|&i| ticks[i]).sum();
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(busy as f64 / hz)
}

/// CPU seconds this thread has used (user + system).
fn thread_cpu() -> f64 {
    rusage_cpu(libc::RUSAGE_THREAD)
}

/// CPU seconds (user + system) `getrusage(who)` reports: this thread's
/// (`RUSAGE_THREAD`), or this process's reaped children's
/// (`RUSAGE_CHILDREN`).
pub fn rusage_cpu(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes one rusage, which lives across the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_length_needs_the_whole_head() {
        assert_eq!(response_len(&RESPONSE[..20]), Ok(None));
        assert_eq!(response_len(RESPONSE), Ok(Some(RESPONSE.len())));
        assert!(response_len(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
    }

    #[test]
    fn reads_this_process_cpu() {
        let cpu = process_cpu(std::process::id()).unwrap();
        assert!(cpu >= 0.0);
    }
}
