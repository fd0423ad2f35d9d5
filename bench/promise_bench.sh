#!/usr/bin/env bash
# Runs the promise micro kinds for nodeloop, Node, tokio (spawn_local) and
# async-executor (LocalExecutor), ROUNDS times each pinned to CPU 0, and
# prints the median ops/s; spawn_await also runs bench/spawn_floor, the
# leanest executor that keeps the same rules (a measuring stick, not a peer). The programs take turns within each round, so a
# change in the machine's speed hits all of them alike.
#   bench/promise_bench.sh [N]      (default N = 1000000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
N=${1:-1000000}
ROUNDS=${ROUNDS:-5}
build=${BENCH_BUILD:-$HOME/.cache/evloop-bench}
(cd "$root" && cargo build --release --example micro -q)
(cd "$here/tokio_promise" && CARGO_TARGET_DIR="$build/tokio-promise-target" cargo build --release -q)
(cd "$here/smol_promise" && CARGO_TARGET_DIR="$build/smol-promise-target" cargo build --release -q)
(cd "$here/spawn_floor" && CARGO_TARGET_DIR="$build/spawn-floor-target" cargo build --release -q)
ours="$root/target/release/examples/micro"
tokio="$build/tokio-promise-target/release/tokio_promise"
smol="$build/smol-promise-target/release/smol_promise"
floor="$build/spawn-floor-target/release/spawn_floor"
pin() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
# median, min and max of the rounds, as ops/s
stats() { sort -n | awk '{a[NR]=$1} END {printf "%14.0f %14.0f %14.0f\n", a[int((NR+1)/2)], a[1], a[NR]}'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-14s %-8s %14s %14s %14s\n' kind program median_ops_s min max
for kind in promise_chain spawn_await; do
  progs=(ours node tokio smol)
  if [ "$kind" = spawn_await ]; then progs+=(floor); fi
  for ((r = 0; r < ROUNDS; r++)); do
    for prog in "${progs[@]}"; do
      case $prog in
        ours) cmd=("$ours" "$kind" "$N") ;;
        node) cmd=(node "$here/promise_micro.js" "$kind" "$N") ;;
        tokio) cmd=("$tokio" "$kind" "$N") ;;
        smol) cmd=("$smol" "$kind" "$N") ;;
        floor) cmd=("$floor" "$kind" "$N") ;;
      esac
      pin "${cmd[@]}" | sed -n 's/.*ops_per_sec=\([0-9.]*\).*/\1/p' >>"$tmp/$kind-$prog"
    done
  done
  for prog in "${progs[@]}"; do
    printf '%-14s %-8s %s\n' "$kind" "$prog" "$(stats <"$tmp/$kind-$prog")"
  done
done
