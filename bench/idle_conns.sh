#!/bin/sh
# Memory per idle connection: ours, Node, tokio and libuv echo servers, each
# measured ROUNDS times (default 3) by examples/idle_conns.rs with CONNS
# connections (default 10000); prints every run and the median per server.
# Needs the benchmark kit built (/work/shared/bench/run.sh build).
set -eu
cd "$(dirname "$0")/.."
KIT=${KIT:-/work/shared/bench}
B=${BENCH_BUILD:-$HOME/.cache/evloop-bench}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-10000}
cargo build -q --release --example echo_server --example idle_conns
IDLE=target/release/examples/idle_conns
for entry in "ours:target/release/examples/echo_server" "node:node $KIT/peers/node/echo.js" \
             "tokio:$B/tokio-target/release/echo" "libuv:$B/libuv/echo"; do
  name=${entry%%:*}; cmd=${entry#*:}
  vals=""
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    # shellcheck disable=SC2086 # the command is split on purpose
    line=$($IDLE --conns "$CONNS" -- $cmd)
    echo "$name round $r: $line"
    vals="$vals $(echo "$line" | sed 's/.*bytes_per_conn=\([0-9]*\).*/\1/')"
    r=$((r + 1))
  done
  med=$(echo $vals | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "MEDIAN $name bytes_per_conn=$med"
done
