#!/usr/bin/env bash
# Runs the promise micro kinds for nodeloop, Node and tokio (spawn_local),
# ROUNDS times each pinned to CPU 0, and prints the median ops/s.
#   bench/promise_bench.sh [N]      (default N = 1000000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
N=${1:-1000000}
ROUNDS=${ROUNDS:-5}
build=${BENCH_BUILD:-$HOME/.cache/evloop-bench}
(cd "$root" && cargo build --release --example micro -q)
(cd "$here/tokio_promise" && CARGO_TARGET_DIR="$build/tokio-promise-target" cargo build --release -q)
ours="$root/target/release/examples/micro"
tokio="$build/tokio-promise-target/release/tokio_promise"
pin() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-14s %-8s %14s\n' kind program median_ops_s
for kind in promise_chain spawn_await; do
  for prog in ours node tokio; do
    case $prog in
      ours) cmd=("$ours" "$kind" "$N") ;;
      node) cmd=(node "$here/promise_micro.js" "$kind" "$N") ;;
      tokio) cmd=("$tokio" "$kind" "$N") ;;
    esac
    m=$(for ((r = 0; r < ROUNDS; r++)); do
      pin "${cmd[@]}" | sed -n 's/.*ops_per_sec=\([0-9.]*\).*/\1/p'
    done | median)
    printf '%-14s %-8s %14.0f\n' "$kind" "$prog" "$m"
  done
done
