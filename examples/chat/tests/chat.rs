//! The chat's behaviour as clients see it: rooms, history, slow clients,
//! limits, close codes, shutdown.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Chat, Seen, TestServers, PATIENCE};
use grt_chat::Config;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message;

/// A message goes to everyone in its room, the sender included, and to
/// nobody in another room, on the same server or on another server (its
/// own hub) in the same process.
#[test]
fn broadcast_reaches_the_room_and_no_other() {
    let both = TestServers::start(vec![Config::default(), Config::default()]);
    let (addr, other_addr) = (both.servers[0].local_addr(), both.servers[1].local_addr());
    let mut red1 = Chat::join(addr, Some("red"));
    let mut red2 = Chat::join(addr, Some("red"));
    let mut blue = Chat::join(addr, Some("blue"));
    let mut lobby = Chat::join(addr, None);
    let mut elsewhere = Chat::join(other_addr, Some("red"));
    both.wait_for("five clients", |s| s.hub.clients == 4);

    red1.say("hello red");
    assert_eq!(red1.line(), "hello red");
    assert_eq!(red2.line(), "hello red");

    // The hub has delivered "hello red" (red2 has it), so had it been
    // queued for anyone else, it would be ahead of their own echo.
    blue.say("hello blue");
    assert_eq!(blue.line(), "hello blue");
    lobby.say("hello lobby");
    assert_eq!(lobby.line(), "hello lobby");
    elsewhere.say("hello from the other hub");
    assert_eq!(elsewhere.line(), "hello from the other hub");

    red2.say("second");
    assert_eq!(red1.line(), "second");
    assert_eq!(red2.line(), "second");

    let stats = both.stats();
    assert_eq!((stats.hub.clients, stats.hub.rooms), (4, 3));
    assert_eq!(both.servers[1].stats().hub.clients, 1);
}

/// Messages are tidied as gorilla does: newlines become spaces (they
/// separate messages in a batch), surrounding space goes, empty ones are
/// dropped.
#[test]
fn messages_are_tidied() {
    let server = TestServers::one(Config::default());
    let mut chat = Chat::join(server.addr(), Some("tidy"));
    chat.say("  two\nlines  ");
    chat.say(" \n ");
    chat.say("after");
    assert_eq!(chat.line(), "two lines");
    assert_eq!(chat.line(), "after");
}

/// A newcomer gets the room's last `history` messages, oldest first, then
/// the live conversation; a newcomer to another room gets none of them.
#[test]
fn history_is_replayed_to_newcomers_in_order() {
    let config = Config {
        history: 5,
        ..Config::default()
    };
    let server = TestServers::one(config);
    let mut talker = Chat::join(server.addr(), Some("history"));
    for i in 0..8 {
        talker.say(&format!("m{i}"));
    }
    for i in 0..8 {
        assert_eq!(talker.line(), format!("m{i}"));
    }

    let mut newcomer = Chat::join(server.addr(), Some("history"));
    for i in 3..8 {
        assert_eq!(newcomer.line(), format!("m{i}"));
    }
    talker.say("live");
    assert_eq!(newcomer.line(), "live", "history holds only the last 5");
    assert_eq!(talker.line(), "live", "no replay for those already there");

    let mut stranger = Chat::join(server.addr(), Some("elsewhere"));
    stranger.say("anyone?");
    assert_eq!(stranger.line(), "anyone?");

    // A room keeps its history once everyone has left.
    drop((talker, newcomer));
    server.wait_for("the room to empty", |s| s.hub.clients == 1);
    let mut returning = Chat::join(server.addr(), Some("history"));
    for want in ["m4", "m5", "m6", "m7", "live"] {
        assert_eq!(returning.line(), want);
    }
}

/// A client that stops reading fills its queue and is dropped by the hub
/// (close code 1008) while everyone else in the room keeps receiving
/// every message, in order.
#[test]
fn a_slow_client_is_dropped_and_the_room_goes_on() {
    let config = Config {
        send_buffer: 16,
        history: 0,
        ..Config::default()
    };
    let server = TestServers::one(config);
    let addr = server.addr();

    // The slow client advertises a small receive window, so the server's
    // writes to it block sooner; it reads nothing until it is dropped.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut slow = Chat::over(TcpStream::from(socket), addr, Some("busy"));

    // The observer reads everything, on a thread of its own.
    let mut observer = Chat::join(addr, Some("busy"));
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let observer_thread = std::thread::spawn(move || {
        while let Seen::Line(line) = observer.next() {
            if seen_tx.send(line).is_err() {
                return;
            }
        }
    });

    let mut talker = Chat::join(addr, Some("busy"));
    server.wait_for("three clients", |s| s.hub.clients == 3);
    let padding = "x".repeat(400);
    let mut sent = 0;
    // Says 8 messages, then waits until both the talker and the observer
    // have them all, in order: whatever the machine's scheduling, neither
    // is ever more than 8 behind, half its queue.
    let mut say_batch = || {
        for i in sent..sent + 8 {
            talker.say(&format!("{i:06} {padding}"));
        }
        for i in sent..sent + 8 {
            let want = format!("{i:06} ");
            assert!(talker.line().starts_with(&want), "the talker's echo {i}");
            let seen = seen_rx
                .recv_timeout(PATIENCE)
                .expect("the observer keeps receiving");
            assert!(
                seen.starts_with(&want),
                "message {i} out of order: {seen:.20}"
            );
        }
        sent += 8;
        sent
    };
    let deadline = Instant::now() + PATIENCE;
    let mut dropped_after = 0;
    while server.stats().hub.clients == 3 {
        assert!(
            Instant::now() < deadline,
            "the slow client was never dropped"
        );
        dropped_after = say_batch();
    }
    // The others go on.
    for _ in 0..4 {
        say_batch();
    }
    assert_eq!(server.stats().hub.clients, 2);

    // Reading at last, the slow client finds a prefix of the conversation,
    // then the hub's verdict.
    let mut next = 0;
    let frame = loop {
        match slow.next() {
            Seen::Line(line) => {
                assert!(line.starts_with(&format!("{next:06} ")));
                next += 1;
            }
            Seen::Close(frame) => break frame,
            Seen::Gone(why) => panic!("expected a close frame, the connection ended: {why}"),
        }
    };
    assert!(
        next <= dropped_after,
        "it got {next} of {dropped_after} before its drop"
    );
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Policy));
    assert!(slow.finish(), "the closing handshake completes");

    drop(talker);
    server.server().shutdown(); // which ends the observer's connection
    observer_thread.join().unwrap();
}

/// Over the size limit: the connection is closed with 1009. At the limit:
/// delivered.
#[test]
fn a_message_over_the_limit_closes_with_1009() {
    let server = TestServers::one(Config::default());
    let mut chat = Chat::join(server.addr(), Some("limits"));
    let at_limit = "a".repeat(512);
    chat.say(&at_limit);
    assert_eq!(chat.line(), at_limit);
    chat.say(&"b".repeat(513));
    let frame = chat.close_frame().expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(
        chat.finish(),
        "the server half-closes after its close frame"
    );
    // It lingers, reading, until we hang up (read_pump.rs).
    drop(chat);
    server.wait_for("the client to be gone", |s| {
        s.hub.clients == 0 && s.connections == 0
    });
}

/// A text frame that is not UTF-8 is closed with 1007; a binary message
/// with 1003. (tungstenite reports the first as an error and leaves the
/// close frame to us; so read_pump.rs picks the code.)
#[test]
fn bad_payloads_close_with_their_codes() {
    let server = TestServers::one(Config::default());
    let mut chat = Chat::join(server.addr(), None);
    let not_utf8 = Frame::message(vec![b'h', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    chat.ws.send(Message::Frame(not_utf8)).unwrap();
    assert_eq!(chat.close_frame().map(|f| f.code), Some(CloseCode::Invalid));

    let mut chat = Chat::join(server.addr(), None);
    chat.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(
        chat.close_frame().map(|f| f.code),
        Some(CloseCode::Unsupported)
    );
}

/// A client's close frame is answered with the same code, and the server
/// then closes the TCP connection.
#[test]
fn a_client_close_is_answered() {
    let server = TestServers::one(Config::default());
    let mut chat = Chat::join(server.addr(), None);
    chat.ws.close(None).unwrap();
    match chat.next() {
        Seen::Close(frame) => assert_eq!(frame, None),
        other => panic!("expected the close reply, saw {other:?}"),
    }
    assert!(chat.finish());
    server.wait_for("the client to be gone", |s| s.hub.clients == 0);
}

/// The server pings every ping period; a client that answers (tungstenite
/// does when it reads, as browsers do) stays connected however long it is
/// quiet, and one that never answers is dropped after the pong wait.
#[test]
fn pongs_keep_a_client_and_silence_drops_it() {
    let pong_wait = Duration::from_millis(600);
    let config = Config {
        // Three pings per pong wait, so a loaded machine's delays do not
        // cost the answering client its place.
        ping_period: pong_wait / 3,
        ..Config::default().with_pong_wait(pong_wait)
    };
    let server = TestServers::one(config);
    let addr = server.addr();
    let mut answering = Chat::join(addr, Some("quiet"));
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || loop {
        let seen = answering.next();
        let done = !matches!(seen, Seen::Line(_));
        if seen_tx.send(seen).is_err() || done {
            return;
        }
    });
    let silent = Chat::join(addr, Some("quiet"));
    server.wait_for("two clients", |s| s.hub.clients == 2);
    let start = Instant::now();
    server.wait_for("the silent client to be dropped", |s| s.hub.clients == 1);
    assert!(start.elapsed() >= pong_wait / 2, "dropped too early");

    // What is under test is a span of time: three more pong waits.
    std::thread::sleep(pong_wait * 3);
    assert_eq!(server.stats().hub.clients, 1);
    let mut talker = Chat::join(addr, Some("quiet"));
    talker.say("still there?");
    assert_eq!(
        seen_rx.recv_timeout(PATIENCE).unwrap(),
        Seen::Line("still there?".into())
    );
    drop((silent, talker, seen_rx));
    drop(server);
    reader.join().unwrap();
}

/// Shutdown sends every client 1001 (going away), completes the closing
/// handshakes (well before the write wait runs out), and stops listening.
#[test]
fn shutdown_says_going_away_to_everyone() {
    let server = TestServers::one(Config::default());
    let addr = server.addr();
    let clients: Vec<Chat> = (0..3)
        .map(|i| Chat::join(addr, Some(&format!("r{i}"))))
        .collect();
    server.wait_for("three clients", |s| s.hub.clients == 3);

    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut chat| {
            std::thread::spawn(move || {
                let frame = chat.close_frame();
                (frame, chat.finish())
            })
        })
        .collect();
    let start = Instant::now();
    server.server().shutdown();
    let took = start.elapsed();
    for reader in readers {
        let (frame, clean) = reader.join().unwrap();
        assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
        assert!(clean, "the closing handshake completes");
    }
    assert!(took < Duration::from_secs(5), "shutdown waited {took:?}");
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}
