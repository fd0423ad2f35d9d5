#!/usr/bin/env bash
# Instructions per operation of the promise micro kinds under callgrind:
# the difference between runs at 2N and N, divided by N, so start-up and
# the loop's fixed costs cancel. Noise-free, unlike wall-clock on a shared
# machine; used to decide which optimisations to keep.
#   bench/promise_callgrind.sh [N]      (default N = 100000)
#   MICRO=/path/to/micro bench/promise_callgrind.sh   (compare another build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
N=${1:-100000}
if [[ -z "${MICRO:-}" ]]; then
  (cd "$root" && cargo build --release --example micro -q)
  MICRO="$root/target/release/examples/micro"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
instr() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$MICRO" "$1" "$2" \
    >/dev/null 2>"$tmp/err"
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err"
}
printf '%-14s %12s\n' kind instr_per_op
for kind in promise_chain spawn_await; do
  a=$(instr "$kind" "$N")
  b=$(instr "$kind" $((2 * N)))
  printf '%-14s %12d\n' "$kind" $(((b - a) / N))
done
