#!/usr/bin/env bash
# Instructions per operation of each benchmark, grt and tokio,
# counted by valgrind's callgrind: repeatable run to run, unlike wall time on
# a shared VM, so a regression can be told from noise.
#
#     bash benches/callgrind.sh            # all benchmarks
#     bash benches/callgrind.sh switch     # some of them
#
# Each benchmark runs twice per runtime under callgrind (the `repeat`
# binary, N1 and then N2 iterations); the difference of the two totals,
# divided by the operations in N2 - N1 iterations, is the steady-state cost
# per operation, with start-up and shutdown cancelled out. Counts include
# every thread (an idle M or worker looking for work costs instructions
# too). valgrind runs one thread at a time, so for mutex_contended and
# timers_many the count is that of valgrind's interleaving. Needs valgrind
# (`apt-get install valgrind`). Prints a markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -q -p grt-benches --bin repeat
target="${CARGO_TARGET_DIR:-target}"
repeat="$target/release/repeat"

# benchmark N1 N2 operations-per-iteration operation
plan=(
    "spawn_many 2 6 10000 spawn"
    "yield_many 1 3 200000 yield"
    "chained_spawn 10 30 1000 spawn"
    "ping_pong 10000 30000 1 round-trip"
    "switch 20000 60000 2 yield"
    "chan_round_trip 10000 30000 1 round-trip"
    "chan_throughput 20000 60000 1 item"
    "mutex_contended 2 6 40000 lock"
    "timers_many 1 3 100000 sleeper"
)
if [ -n "${GRT_BENCH_QUICK:-}" ] && [ "${GRT_BENCH_QUICK}" != 0 ]; then
    echo "callgrind.sh: unset GRT_BENCH_QUICK (the table assumes full sizes)" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions of one run: `repeat RUNTIME BENCH N`.
instructions() {
    local out="$tmp/callgrind.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$repeat" "$@" \
        >/dev/null 2>"$tmp/valgrind.log" || {
        cat "$tmp/valgrind.log" >&2
        return 1
    }
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

echo "| benchmark | operation | grt instr/op | tokio instr/op | grt/tokio |"
echo "|---|---|---:|---:|---:|"
for line in "${plan[@]}"; do
    read -r bench n1 n2 ops op <<<"$line"
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$bench"; then
        continue
    fi
    declare -A per_op=()
    for rt in grt tokio; do
        a=$(instructions "$rt" "$bench" "$n1")
        b=$(instructions "$rt" "$bench" "$n2")
        per_op[$rt]=$(awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) -v k="$ops" \
            'BEGIN { printf "%.0f", (b - a) / (n * k) }')
    done
    ratio=$(awk -v g="${per_op[grt]}" -v t="${per_op[tokio]}" 'BEGIN { printf "%.2f", g / t }')
    echo "| $bench | $op | ${per_op[grt]} | ${per_op[tokio]} | $ratio |"
    unset per_op
done
