#!/usr/bin/env bash
# Smoke run of the grt-vs-tokio benchmarks, for CI: every benchmark's work
# runs on both runtimes at a tenth of its size (GRT_BENCH_QUICK=1), the
# callgrind driver once per benchmark and runtime, then `bench-all
# --quick`, every part of the comparison in its smoke version: the
# criterion groups for 0.1 s each (estimates kept apart, in
# target/bench-results/criterion-quick), the memory harness at 1,000
# tasks, and netbench's quick run (each socket server, grt, tokio and
# hyper, under 10 connections for 0.3 s per workload; every echo, and
# every grt and tokio HTTP response, checked byte for byte, hyper's
# parsed), chatbench's quick run (grt's chat and the same hub on tokio
# under examples/chat's chat-load, 20 clients, a burst and a closed loop;
# every message must reach every client), and gatewaybench's quick run
# (the grt gateway, nginx, the tokio/hyper proxy and, if `go` is
# installed, Go's httputil in front of two nginx backends, wrk with 10 connections for 1 s each;
# every proxy's answer checked, and wrk's errors counted; nginx and wrk
# are needed, .ci/run installs them); last, the summary of their figures
# (target/bench-results/summary.md, nothing into docs/).
# It checks that they run, finish, answer correctly and record their
# figures; it asserts nothing about speed.
#
#     bash benches/smoke.sh
#
# Takes a release build (a few minutes from cold) plus about a minute.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GRT_BENCH_QUICK=1

cargo build --release -q -p grt-benches --bin repeat --bin bench-all
target="${CARGO_TARGET_DIR:-target}/release"
for runtime in grt tokio; do
    for bench in spawn_many yield_many chained_spawn mutex_contended timers_many; do
        "$target/repeat" "$runtime" "$bench" 3
    done
    for bench in ping_pong switch chan_round_trip chan_throughput; do
        "$target/repeat" "$runtime" "$bench" 1000
    done
done

# Builds the tools it runs (chatbench builds the chat binaries,
# gatewaybench the gateway); fails if any part fails.
"$target/bench-all" --quick
echo "bench smoke: done (nothing about speed is asserted)"
