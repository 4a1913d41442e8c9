//! Running wrk and reading its report.
//!
//! wrk counts, it does not check: a proxy answering 502 at full speed
//! looks fast. So its error lines are read too (socket errors, and
//! "Non-2xx or 3xx responses", which it prints only when there were
//! some), and the proxy's answer is checked by [`super::proxy::check`]
//! before and after each run.

use std::net::SocketAddr;
use std::process::Command;

use super::proxy::Process;

/// What one wrk run reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Requests completed, and in how many seconds.
    pub requests: u64,
    pub secs: f64,
    /// Latency percentiles, microseconds (wrk's resolution: 10 µs above
    /// 1 ms, as it prints two decimals of milliseconds).
    pub p50_us: f64,
    pub p99_us: f64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// Responses with a status other than 2xx or 3xx.
    pub bad_status: u64,
}

impl Report {
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// Starts `wrk -t1 -cCONNS -dSECSs --latency` against `addr`: one
/// thread, so that it takes one core of the two and leaves the other to
/// the proxy and the backends.
pub fn start(addr: SocketAddr, conns: usize, secs: u64) -> Result<Process, String> {
    let mut command = Command::new("wrk");
    command
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://{addr}/"));
    Process::spawn("wrk", command, None)
}

/// Reads wrk's report.
pub fn parse(out: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let mut seen = (false, false, false);
    for line in out.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("50%"), Some(t)) => {
                report.p50_us = micros(t)?;
                seen.0 = true;
            }
            (Some("99%"), Some(t)) => {
                report.p99_us = micros(t)?;
                seen.1 = true;
            }
            // "256316 requests in 4.00s, 40.82MB read"
            (Some(n), Some("requests")) => {
                report.requests = n.parse().map_err(|_| format!("wrk said {line:?}"))?;
                report.secs = words
                    .nth(1)
                    .map(|t| micros(t.trim_end_matches(',')))
                    .transpose()?
                    .map(|us| us / 1e6)
                    .ok_or_else(|| format!("wrk said {line:?}"))?;
                seen.2 = true;
            }
            _ => {}
        }
        // "Socket errors: connect 0, read 0, write 0, timeout 0"
        if let Some(errors) = line.strip_prefix("Socket errors:") {
            report.socket_errors = errors
                .split(',')
                .filter_map(|e| e.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.bad_status = n.trim().parse().map_err(|_| format!("wrk said {line:?}"))?;
        }
    }
    if seen != (true, true, true) || report.secs <= 0.0 {
        return Err(format!("cannot read wrk's report: {out:?}"));
    }
    Ok(report)
}

/// A wrk duration ("714.00us", "1.39ms", "4.00s") in microseconds.
fn micros(t: &str) -> Result<f64, String> {
    let (number, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e6)
    } else {
        return Err(format!("not a wrk duration: {t:?}"));
    };
    number
        .parse::<f64>()
        .map(|n| n * scale)
        .map_err(|_| format!("not a wrk duration: {t:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "Running 4s test @ http://127.0.0.1:8082/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   752.17us  256.33us   9.47ms   92.79%
    Req/Sec    64.37k     2.68k   68.83k    75.00%
  Latency Distribution
     50%  714.00us
     75%  790.00us
     90%    0.92ms
     99%    1.39ms
  256316 requests in 4.00s, 40.82MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  64078.86
Transfer/sec:     10.20MB
";

    #[test]
    fn reads_a_report() {
        let report = parse(OUT).unwrap();
        assert_eq!(report.requests, 256_316);
        assert_eq!(report.secs, 4.0);
        assert_eq!(report.p50_us, 714.0);
        assert_eq!(report.p99_us, 1390.0);
        assert_eq!(report.socket_errors, 7);
        assert_eq!(report.bad_status, 5);
    }

    #[test]
    fn refuses_a_truncated_report() {
        assert!(parse(&OUT[..OUT.find("99%").unwrap()]).is_err());
    }
}
