//! `GRT_TRACE`: the timeline file of a run is JSON in Chrome's trace-event
//! format, its slices balance on every track, and it shows the runs,
//! parks and wake-ups that happened.

use std::collections::HashMap;
use std::path::PathBuf;

use grt::chan;
use grt::RuntimeBuilder;
use serde_json::Value;

/// A file in the target directory's temp space, unique to this test.
fn trace_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grt-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn events(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let json: Value = serde_json::from_str(&text).expect("the trace is JSON");
    json.as_array().expect("a JSON array of events").clone()
}

fn ph(event: &Value) -> &str {
    event["ph"].as_str().expect("every event has a phase")
}

#[test]
fn a_traced_ping_pong_shows_every_run_balanced_and_linked() {
    const ROUNDS: u64 = 200;
    let path = trace_path("ping_pong.json");
    let (ping_id, pong_id) = RuntimeBuilder::new().max_procs(1).trace(&path).run(|| {
        let (to_pong, pong_rx) = chan::bounded::<u64>(0);
        let (to_ping, ping_rx) = chan::bounded::<u64>(0);
        let pong = grt::Builder::new()
            .name("pong")
            .spawn(move || {
                while let Ok(n) = pong_rx.recv() {
                    to_ping.send(n + 1).unwrap();
                }
            })
            .unwrap();
        let ping = grt::Builder::new()
            .name("ping")
            .spawn(move || {
                for n in 0..ROUNDS {
                    to_pong.send(n).unwrap();
                    assert_eq!(ping_rx.recv().unwrap(), n + 1);
                }
            })
            .unwrap();
        let ids = (ping.task().id().as_u64(), pong.task().id().as_u64());
        ping.join().unwrap();
        pong.join().unwrap();
        ids
    });
    let events = events(&path);

    // Well-formed: every event has a known phase, a track and a time.
    for event in &events {
        let phase = ph(event);
        assert!(
            ["B", "E", "i", "s", "f", "M"].contains(&phase),
            "unknown phase in {event}"
        );
        assert!(event["pid"].is_u64(), "no pid in {event}");
        if phase != "M" {
            assert!(event["tid"].is_u64(), "no tid in {event}");
            assert!(
                event["ts"].is_f64() || event["ts"].is_u64(),
                "no ts in {event}"
            );
        }
    }

    // Balanced: on each track, slices close in the order they opened and
    // never end before they begin.
    let mut open: HashMap<(u64, u64), Vec<f64>> = HashMap::new();
    for event in events.iter().filter(|e| matches!(ph(e), "B" | "E")) {
        let track = (
            event["pid"].as_u64().unwrap(),
            event["tid"].as_u64().unwrap(),
        );
        let ts = event["ts"].as_f64().unwrap();
        let stack = open.entry(track).or_default();
        if ph(event) == "B" {
            stack.push(ts);
        } else {
            let began = stack
                .pop()
                .unwrap_or_else(|| panic!("an E without a B: {event}"));
            assert!(ts >= began, "a slice ends before it begins: {event}");
        }
    }
    for (track, stack) in &open {
        assert!(stack.is_empty(), "track {track:?} has unclosed slices");
    }

    // The runs: every round trip parks each side once, so each task ran
    // at least once per round; the trace's runs on the M tracks are those
    // of the P tracks too.
    let runs_of = |id: u64, pid: u64| {
        events
            .iter()
            .filter(|e| ph(e) == "B" && e["pid"] == pid && e["args"]["task"] == id)
            .count() as u64
    };
    for (who, id) in [("ping", ping_id), ("pong", pong_id)] {
        let runs = runs_of(id, 1);
        assert!(runs >= ROUNDS, "{who} ran {runs} times for {ROUNDS} rounds");
        assert!(
            runs <= 2 * ROUNDS + 2,
            "{who} ran {runs} times for {ROUNDS} rounds"
        );
        assert_eq!(runs, runs_of(id, 2), "{who}: M and P tracks disagree");
    }
    let parks = events
        .iter()
        .filter(|e| ph(e) == "i" && e["name"] == "park")
        .count() as u64;
    assert!(parks >= 2 * ROUNDS, "{parks} parks for {ROUNDS} rounds");

    // Linked: every arrow that ends at a run started at a wake-up.
    let starts: Vec<u64> = events
        .iter()
        .filter(|e| ph(e) == "s")
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    let ends: Vec<u64> = events
        .iter()
        .filter(|e| ph(e) == "f")
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert!(ends.len() as u64 >= 2 * ROUNDS, "{} arrows", ends.len());
    for id in &ends {
        assert!(starts.contains(id), "arrow {id} ends without a start");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_trace_file_that_cannot_be_created_leaves_the_run_untraced() {
    let path = trace_path("no/such/dir/trace.json");
    let answer = RuntimeBuilder::new().trace(&path).run(|| 42);
    assert_eq!(answer, 42);
    assert!(!path.exists());
}
