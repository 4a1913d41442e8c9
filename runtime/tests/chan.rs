//! Channels and select with Go's semantics, mostly as ports of Go's classic
//! channel programs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use grt::chan::{self, RecvError, SendError, TryRecvError, TrySendError};
use grt::RuntimeBuilder;

/// Go's concurrent prime sieve: a generator and a chain of filter tasks,
/// one per prime, connected by unbuffered channels.
fn sieve(n: usize) -> Vec<u64> {
    let (tx, mut rx) = chan::bounded::<u64>(0);
    grt::go(move || {
        for i in 2.. {
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let mut primes = Vec::with_capacity(n);
    for _ in 0..n {
        let prime = rx.recv().unwrap();
        primes.push(prime);
        let (next_tx, next_rx) = chan::bounded(0);
        let input = std::mem::replace(&mut rx, next_rx);
        grt::go(move || {
            for v in input.iter() {
                if v % prime != 0 && next_tx.send(v).is_err() {
                    break;
                }
            }
        });
    }
    primes
}

#[test]
fn prime_sieve_finds_the_first_thousand_primes() {
    let primes = RuntimeBuilder::new().max_procs(2).run(|| sieve(1000));
    let expected: Vec<u64> = (2..)
        .filter(|&n: &u64| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .take(1000)
        .collect();
    assert_eq!(primes, expected);
    assert_eq!(primes[999], 7919);
}

#[test]
fn ping_pong_over_unbuffered_channels() {
    let rounds = RuntimeBuilder::new().max_procs(2).run(|| {
        let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
        let ponger = grt::go(move || {
            for ball in ping_rx.iter() {
                pong_tx.send(ball + 1).unwrap();
            }
        });
        let mut ball = 0;
        for _ in 0..10_000 {
            ping_tx.send(ball).unwrap();
            ball = pong_rx.recv().unwrap();
        }
        drop(ping_tx);
        ponger.join().unwrap();
        ball
    });
    assert_eq!(rounds, 10_000);
}

#[test]
fn unbuffered_send_waits_for_its_receiver() {
    RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        assert!(
            matches!(tx.try_send(1), Err(TrySendError::Full(1))),
            "no receiver yet"
        );
        let sender = grt::go(move || tx.send(7));
        while sender.task().state() != grt::TaskState::Waiting {
            grt::yield_now();
        }
        assert_eq!(sender.task().wait_reason(), grt::WaitReason::ChanSend);
        assert_eq!(rx.len(), 0, "a rendezvous channel buffers nothing");
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(sender.join().unwrap(), Ok(()));
    });
}

#[test]
fn buffered_channel_keeps_fifo_order_through_blocked_senders() {
    let received = RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = chan::bounded::<u32>(4);
        // One producer filling past capacity: later sends park and must
        // still arrive in order (their values move into the buffer's tail).
        let producer = grt::go(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let received: Vec<u32> = rx.iter().collect();
        producer.join().unwrap();
        received
    });
    assert_eq!(received, (0..1000).collect::<Vec<_>>());
}

#[test]
fn close_drains_the_buffer_then_reports_closed() {
    RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx, rx) = chan::bounded::<&str>(3);
        tx.send("a").unwrap();
        tx.send("b").unwrap();
        assert!(tx.close());
        assert!(!tx.close(), "closing twice is reported, not fatal");
        assert_eq!(tx.send("c"), Err(SendError("c")), "the value comes back");
        assert_eq!(rx.recv(), Ok("a"));
        assert_eq!(rx.try_recv(), Ok("b"));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn close_wakes_every_parked_receiver_and_sender() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let receivers: Vec<_> = (0..10)
            .map(|_| {
                let rx = rx.clone();
                grt::go(move || rx.recv())
            })
            .collect();
        for r in &receivers {
            while r.task().state() != grt::TaskState::Waiting {
                grt::yield_now();
            }
        }
        tx.close();
        for r in receivers {
            assert_eq!(r.join().unwrap(), Err(RecvError));
        }

        let (tx, rx) = chan::bounded::<u32>(0);
        let senders: Vec<_> = (0..10)
            .map(|i| {
                let tx = tx.clone();
                grt::go(move || tx.send(i))
            })
            .collect();
        for s in &senders {
            while s.task().state() != grt::TaskState::Waiting {
                grt::yield_now();
            }
        }
        tx.close();
        let returned: HashSet<u32> = senders
            .into_iter()
            .map(|s| s.join().unwrap().unwrap_err().0)
            .collect();
        assert_eq!(
            returned,
            (0..10).collect(),
            "every parked sender gets its own value back"
        );
        drop(rx);
    });
}

#[test]
fn dropping_the_last_sender_closes_and_the_last_receiver_fails_sends() {
    RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx, rx) = chan::unbounded::<u32>();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "a sender remains");
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);

        let (tx, rx) = chan::bounded::<u32>(0);
        let parked = {
            let tx = tx.clone();
            grt::go(move || tx.send(5))
        };
        while parked.task().state() != grt::TaskState::Waiting {
            grt::yield_now();
        }
        drop(rx);
        assert_eq!(parked.join().unwrap(), Err(SendError(5)));
        assert_eq!(tx.try_send(6), Err(TrySendError::Closed(6)));
    });
}

#[test]
fn unbounded_sends_never_block() {
    let n = RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx, rx) = chan::unbounded::<usize>();
        for i in 0..100_000 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.capacity(), None);
        drop(tx);
        rx.iter().count()
    });
    assert_eq!(n, 100_000);
}

#[test]
fn plain_threads_and_tasks_talk_both_ways() {
    let (to_task_tx, to_task_rx) = chan::bounded::<u32>(0);
    let (to_thread_tx, to_thread_rx) = chan::bounded::<u32>(0);
    let thread = std::thread::spawn(move || {
        // Blocks this OS thread, not an M.
        for i in 0..100 {
            to_task_tx.send(i).unwrap();
            assert_eq!(to_thread_rx.recv(), Ok(i * 2));
        }
    });
    RuntimeBuilder::new().max_procs(2).run(move || {
        for v in to_task_rx.iter() {
            to_thread_tx.send(v * 2).unwrap();
        }
    });
    thread.join().unwrap();
}

#[test]
fn select_with_default_does_not_block() {
    RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let took_default = grt::select! {
            recv(rx) -> _ => false,
            default => true,
        };
        assert!(took_default, "nothing to receive");
        let full_send = grt::select! {
            send(tx, 1) -> _ => false,
            default => true,
        };
        assert!(full_send, "nobody to receive");
        let (btx, brx) = chan::bounded::<u8>(1);
        btx.send(9).unwrap();
        let got = grt::select! {
            recv(brx) -> v => v.ok(),
            default => None,
        };
        assert_eq!(got, Some(9));
    });
}

#[test]
fn select_chooses_uniformly_among_ready_arms() {
    const ROUNDS: usize = 20_000;
    let counts = RuntimeBuilder::new().max_procs(1).run(|| {
        let (tx_a, rx_a) = chan::unbounded::<()>();
        let (tx_b, rx_b) = chan::unbounded::<()>();
        let (tx_c, rx_c) = chan::unbounded::<()>();
        let mut counts = [0usize; 3];
        for _ in 0..ROUNDS {
            // All three always ready.
            tx_a.send(()).unwrap();
            tx_b.send(()).unwrap();
            tx_c.send(()).unwrap();
            let i = grt::select! {
                recv(rx_a) -> _ => 0,
                recv(rx_b) -> _ => 1,
                recv(rx_c) -> _ => 2,
            };
            counts[i] += 1;
            // Drain the two that lost, so every round starts level.
            for rx in [&rx_a, &rx_b, &rx_c] {
                let _ = rx.try_recv();
            }
        }
        counts
    });
    // Each arm: mean ROUNDS/3, standard deviation ~67; allow 6 sigma.
    let expected = ROUNDS / 3;
    for c in counts {
        assert!(c.abs_diff(expected) < 400, "unfair choice: {counts:?}");
    }
}

#[test]
fn blocked_select_completes_exactly_one_arm() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        for _ in 0..200 {
            let (tx_a, rx_a) = chan::bounded::<u32>(0);
            let (tx_b, rx_b) = chan::bounded::<u32>(0);
            let selector = grt::go(move || {
                grt::select! {
                    recv(rx_a) -> v => ("a", v.unwrap()),
                    recv(rx_b) -> v => ("b", v.unwrap()),
                }
            });
            // Both senders race; exactly one must be received, the other
            // must stay undelivered (its try_send fails or it is refused).
            let a = grt::go(move || tx_a.send(1).is_ok());
            let b = grt::go(move || tx_b.send(2).is_ok());
            let (arm, value) = selector.join().unwrap();
            // The loser's channel has no receiver left: its send fails.
            let (sent_a, sent_b) = (a.join().unwrap(), b.join().unwrap());
            assert!(
                sent_a ^ sent_b,
                "exactly one send may succeed: {sent_a} {sent_b}"
            );
            assert_eq!((arm == "a", value), (sent_a, if sent_a { 1 } else { 2 }));
        }
    });
}

#[test]
fn select_send_arm_and_a_select_on_both_ends_of_one_channel() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let receiver = grt::go(move || rx.recv());
        let res = grt::select! {
            send(tx, 42) -> r => r,
        };
        assert_eq!(res, Ok(()));
        assert_eq!(receiver.join().unwrap(), Ok(42));

        // A select may not complete with itself: send and recv on the same
        // unbuffered channel, with nobody else around, must take the other
        // arm once it becomes ready.
        let (tx, rx) = chan::bounded::<u32>(0);
        let (other_tx, other_rx) = chan::bounded::<u32>(0);
        let feeder = grt::go(move || other_tx.send(3));
        let got = grt::select! {
            send(tx, 1) -> _ => None,
            recv(rx) -> _ => None,
            recv(other_rx) -> v => v.ok(),
        };
        assert_eq!(got, Some(3));
        feeder.join().unwrap().unwrap();
    });
}

/// Many tasks on many channels: random selects over sends, selects with
/// timeouts over receives, channels closed at random in mid-stream. Every
/// value whose send succeeded is received exactly once, and every task
/// ends (nobody is left parked).
#[test]
fn stress_random_selects_and_closes_deliver_each_value_once() {
    const CHANNELS: usize = 8;
    const PRODUCERS: usize = 16;
    const SELECTING_CONSUMERS: usize = 8;
    const PER_PRODUCER: u64 = 2_000;
    let (sent, received, live) = RuntimeBuilder::new().max_procs(2).run(|| {
        let chans: Vec<_> = (0..CHANNELS).map(|i| chan::bounded::<u64>(i % 3)).collect();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let producers_left = Arc::new(AtomicUsize::new(PRODUCERS));
        let mut handles = Vec::new();
        for p in 0..PRODUCERS {
            let txs: Vec<_> = chans.iter().map(|(tx, _)| tx.clone()).collect();
            let (sent, left) = (Arc::clone(&sent), Arc::clone(&producers_left));
            handles.push(grt::go(move || {
                let mut rng = p as u64 * 0x9E37_79B9 + 1;
                let mut mine = Vec::new();
                for k in 0..PER_PRODUCER {
                    let value = (p as u64) << 32 | k;
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let (a, b) = (
                        (rng % CHANNELS as u64) as usize,
                        ((rng >> 8) % CHANNELS as u64) as usize,
                    );
                    let ok = grt::select! {
                        send(txs[a], value) -> r => r.is_ok(),
                        send(txs[b], value) -> r => r.is_ok(),
                    };
                    if ok {
                        mine.push(value);
                    }
                    // Now and then, close a channel in mid-stream: sends on
                    // it fail from then on (and do not count as sent),
                    // its readers drain it and move on.
                    if rng % 4_001 == 0 {
                        txs[a].close();
                    }
                    if rng % 97 == 0 {
                        grt::yield_now();
                    }
                }
                sent.lock().unwrap().extend(mine);
                // The last producer out closes every channel.
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    for tx in &txs {
                        tx.close();
                    }
                }
            }));
        }
        // A dedicated reader per channel guarantees progress (without it,
        // every consumer could be waiting on channels no producer is
        // sending to, a real deadlock that Go would report too); the
        // other consumers select over two channels with a timeout arm.
        for (_, rx) in &chans {
            let rx = rx.clone();
            let received = Arc::clone(&received);
            handles.push(grt::go(move || {
                let mine: Vec<u64> = rx.iter().collect();
                received.lock().unwrap().extend(mine);
            }));
        }
        for c in 0..SELECTING_CONSUMERS {
            let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
            let received = Arc::clone(&received);
            handles.push(grt::go(move || {
                let mut mine = Vec::new();
                let mut open: Vec<usize> = (0..CHANNELS).collect();
                let mut turn = c;
                while !open.is_empty() {
                    turn += 1;
                    let a = open[turn % open.len()];
                    let b = open[(turn / 2) % open.len()];
                    let got = grt::select! {
                        recv(rxs[a]) -> v => Some((a, v)),
                        recv(rxs[b]) -> v => Some((b, v)),
                        default(std::time::Duration::from_millis(1)) => None,
                    };
                    match got {
                        Some((_, Ok(v))) => mine.push(v),
                        Some((which, Err(RecvError))) => open.retain(|&i| i != which),
                        None => {}
                    }
                }
                received.lock().unwrap().extend(mine);
            }));
        }
        drop(chans);
        for h in handles {
            h.join().unwrap();
        }
        let sent = std::mem::take(&mut *sent.lock().unwrap());
        let received = std::mem::take(&mut *received.lock().unwrap());
        // A joined task may still be on its way out (its result is
        // delivered just before it exits); wait for the count to settle.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while grt::stats().live_tasks > 1 && std::time::Instant::now() < deadline {
            grt::yield_now();
        }
        (sent, received, grt::stats().live_tasks)
    });
    assert!(
        sent.len() as u64 > PRODUCERS as u64 * PER_PRODUCER / 4,
        "most sends should land before the closes catch up: {}",
        sent.len()
    );
    let mut received_sorted = received.clone();
    received_sorted.sort_unstable();
    let mut sent_sorted = sent;
    sent_sorted.sort_unstable();
    assert_eq!(
        received_sorted, sent_sorted,
        "each sent value received exactly once"
    );
    assert_eq!(live, 1, "only main is left: nobody parked forever");
}
