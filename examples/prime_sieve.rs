//! prime_sieve: Go's concurrent prime sieve, on grt.
//!
//! The program from the Go tour and Go's test suite: a generator task sends
//! 2, 3, 4, ... down an unbuffered channel; each prime found gets a filter
//! task that passes on only the numbers it does not divide. A chain of
//! hundreds of tasks, each blocked on a rendezvous channel most of the time:
//! every number is handed directly from one task to the next (Go's
//! "direct hand-off": the sender gives the value straight to the parked
//! receiver and readies it into its P's `runnext`).
//!
//!     cargo run --release --example prime_sieve -- 1000
//!     GRT_MAXPROCS=1 cargo run --release --example prime_sieve
//!
//! Watch how `runnext` keeps each hand-off on one P: the steal count stays
//! small even with two Ps, because the readied receiver runs next, warm.

use grt::chan::{self, Receiver};

/// Sends 2, 3, 4, ... until the receiver goes away.
fn generate() -> Receiver<u64> {
    let (tx, rx) = chan::bounded(0);
    grt::go(move || {
        for n in 2.. {
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    rx
}

/// Passes on the numbers from `input` that `prime` does not divide.
fn filter(input: Receiver<u64>, prime: u64) -> Receiver<u64> {
    let (tx, rx) = chan::bounded(0);
    grt::go(move || {
        for n in input.iter() {
            if n % prime != 0 && tx.send(n).is_err() {
                return;
            }
        }
    });
    rx
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map_or(100, |a| a.parse().expect("a count of primes"));
    let (primes, stats) = grt::run(move || {
        let mut numbers = generate();
        let mut primes = Vec::with_capacity(count);
        for _ in 0..count {
            let prime = numbers.recv().expect("the generator never stops");
            primes.push(prime);
            numbers = filter(numbers, prime);
        }
        (primes, grt::stats())
    });
    let shown: Vec<String> = primes
        .iter()
        .rev()
        .take(10)
        .rev()
        .map(u64::to_string)
        .collect();
    println!("the first {count} primes end with: ... {}", shown.join(" "));
    println!(
        "{} tasks spawned, {} parks, {} steals (moving {} tasks)",
        stats.spawned, stats.parks, stats.steals, stats.tasks_stolen
    );
}
