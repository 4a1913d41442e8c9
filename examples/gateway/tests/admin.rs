//! The admin listener: `/metrics` counts proxied requests by route,
//! status and upstream, has latency histograms, the open connections and
//! the backends' health, and parses as the Prometheus text format (a
//! small checker below); `/healthz` reports every backend per route.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use common::*;

/// One sample line: the metric name, its labels, its value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses `text` as the Prometheus text exposition format (version
/// 0.0.4), failing on anything that breaks it: every line is a `# HELP`,
/// a `# TYPE` or a sample; names and label names are valid; label values
/// are quoted with only `\\`, `\"` and `\n` escapes; values are floats;
/// each family's `# TYPE` comes once, before its samples; a histogram's
/// buckets are cumulative, end with `le="+Inf"`, and agree with its
/// `_count`.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let keyword = words.next().unwrap();
            let name = words.next().expect(&at);
            assert!(valid_name(name, true), "{at}: bad metric name");
            match keyword {
                "HELP" => assert!(words.next().is_some_and(|h| !h.is_empty()), "{at}"),
                "TYPE" => {
                    let kind = words.next().expect(&at);
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{at}: unknown type"
                    );
                    assert!(
                        types.insert(name.to_string(), kind.to_string()).is_none(),
                        "{at}: a second TYPE"
                    );
                    assert!(
                        !samples
                            .iter()
                            .any(|s: &Sample| family(&s.name, &types) == name),
                        "{at}: TYPE after samples"
                    );
                }
                _ => panic!("{at}: unknown comment"),
            }
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "{at}");
        let sample = parse_sample(line).unwrap_or_else(|why| panic!("{at}: {why}"));
        let family = family(&sample.name, &types);
        assert!(types.contains_key(&family), "{at}: no TYPE for {family}");
        samples.push(sample);
    }
    check_histograms(&samples, &types);
    samples
}

/// Whether `name` is a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or a
/// label name (no colons) when `metric` is false.
fn valid_name(name: &str, metric: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (metric && c == ':')
            || (!first && c.is_ascii_digit())
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// The family a sample belongs to: its name, or for a histogram's
/// `_bucket`, `_sum` and `_count`, the name without the suffix.
fn family(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name, true) {
        return Err("bad metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inside.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inside.find('=').ok_or("a label without =")?;
            let label = &inside[..eq];
            if !valid_name(label, false) {
                return Err(format!("bad label name {label:?}"));
            }
            let mut chars = inside[eq + 1..].char_indices();
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("a label value must be quoted".into());
            }
            let mut value = String::new();
            let end = loop {
                match chars.next().ok_or("an unterminated label value")? {
                    (i, '"') => break eq + 1 + i + 1,
                    (_, '\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    (_, '\n') => return Err("a raw line feed in a label value".into()),
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            inside = &inside[end..];
            inside = inside.strip_prefix(',').unwrap_or(inside);
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        value => value
            .parse::<f64>()
            .map_err(|_| format!("bad value {value:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Buckets cumulative, `+Inf` last and equal to `_count`, per series.
fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) {
    for (name, kind) in types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
        {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").expect("a bucket has le");
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le is a number")
            };
            series.entry(labels).or_default().push((bound, s.value));
        }
        for (labels, buckets) in &series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{name}{labels:?}: buckets not cumulative: {buckets:?}"
            );
            assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
            let count = samples
                .iter()
                .find(|s| s.name == format!("{name}_count") && &s.labels == labels)
                .expect("a _count");
            assert_eq!(count.value, buckets.last().unwrap().1);
            assert!(samples
                .iter()
                .any(|s| s.name == format!("{name}_sum") && &s.labels == labels));
        }
    }
}

/// The value of the sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// A gateway with an admin listener: `/api` to `api` (round robin with
/// `dead`, passive health on), `/teapot` to a backend answering 418.
fn config(api: SocketAddr, dead: SocketAddr, teapot: SocketAddr) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         [[route]]\nprefix = \"/api\"\nupstreams = [ {{ addr = \"{api}\" }}, {{ addr = \"{dead}\" }} ]\n\
         [[route]]\nprefix = \"/teapot\"\nupstreams = [ {{ addr = \"{teapot}\" }} ]\n"
    )
}

#[test]
fn metrics_count_requests_by_route_status_and_upstream() {
    run(|| {
        let api = Backend::start(|req| {
            Reply::ok("api").status(if req.target.ends_with("/missing") {
                404
            } else {
                200
            })
        });
        let teapot = Backend::start(|_| Reply::ok("short and stout").status(418));
        let dead = dead_addr();
        let gw = gateway(&config(api.addr, dead, teapot.addr));
        let admin = gw.admin_addr().expect("an admin listener");
        let mut client = Client::connect(gw.server.local_addr());

        // The dead backend is tried once (refused, retried on `api`), then
        // marked down by passive health: every request answers from `api`.
        for _ in 0..4 {
            assert_eq!(client.get("/api/ok").status, 200);
        }
        assert_eq!(client.get("/api/missing").status, 404);
        assert_eq!(client.get("/teapot").status, 418);
        assert_eq!(client.get("/nowhere").status, 404);

        let got = get(admin, "/metrics");
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = got.text();
        let samples = parse_prometheus(&text);
        let requests = |route: &str, status: &str, upstream: &str| {
            value(
                &samples,
                "gateway_requests_total",
                &[("route", route), ("status", status), ("upstream", upstream)],
            )
        };
        let (api_addr, teapot_addr) = (api.addr.to_string(), teapot.addr.to_string());
        assert_eq!(requests("/api", "200", &api_addr), Some(4.0), "{text}");
        assert_eq!(requests("/api", "404", &api_addr), Some(1.0));
        assert_eq!(requests("/teapot", "418", &teapot_addr), Some(1.0));
        assert_eq!(requests("none", "404", "none"), Some(1.0), "no route");
        assert_eq!(requests("/api", "200", &dead.to_string()), None);

        let latency = |upstream: &str, suffix: &str, le: Option<&str>| {
            let mut labels = vec![("route", "/api"), ("upstream", upstream)];
            labels.extend(le.map(|le| ("le", le)));
            value(
                &samples,
                &format!("gateway_upstream_latency_seconds{suffix}"),
                &labels,
            )
        };
        assert_eq!(latency(&api_addr, "_count", None), Some(5.0));
        assert_eq!(latency(&api_addr, "_bucket", Some("+Inf")), Some(5.0));
        assert!(latency(&api_addr, "_sum", None).unwrap() > 0.0);

        assert_eq!(
            value(&samples, "gateway_open_connections", &[]),
            Some(1.0),
            "the one client connection"
        );
        let up = |route: &str, upstream: &str| {
            value(
                &samples,
                "gateway_backend_up",
                &[("route", route), ("upstream", upstream)],
            )
        };
        assert_eq!(up("/api", &api_addr), Some(1.0));
        assert_eq!(up("/api", &dead.to_string()), Some(0.0));
        assert_eq!(up("/teapot", &teapot_addr), Some(1.0));
    });
}

#[test]
fn healthz_reports_every_backend_per_route() {
    run(|| {
        let api = Backend::hello();
        let teapot = Backend::hello();
        let dead = dead_addr();
        let gw = gateway(&config(api.addr, dead, teapot.addr));
        let admin = gw.admin_addr().unwrap();

        let got = get(admin, "/healthz");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(
            got.text(),
            format!(
                "{{\"status\":\"ok\",\"routes\":[\
                 {{\"prefix\":\"/teapot\",\"backends\":[{{\"addr\":\"{}\",\"up\":true}}]}},\
                 {{\"prefix\":\"/api\",\"backends\":[{{\"addr\":\"{}\",\"up\":true}},{{\"addr\":\"{dead}\",\"up\":true}}]}}]}}\n",
                teapot.addr, api.addr
            )
        );

        // Two requests: one of them meets the dead backend first.
        for _ in 0..2 {
            assert_eq!(get(gw.server.local_addr(), "/api").status, 200);
        }
        let text = get(admin, "/healthz").text();
        assert!(text.starts_with("{\"status\":\"degraded\""), "{text}");
        assert!(
            text.contains(&format!("{{\"addr\":\"{dead}\",\"up\":false}}")),
            "{text}"
        );

        let mut client = Client::connect(admin);
        assert_eq!(client.get("/other").status, 404);
        assert_eq!(client.request("POST", "/metrics", &[], b"").status, 405);
        assert_eq!(client.request("HEAD", "/healthz", &[], b"").status, 200);
    });
}
