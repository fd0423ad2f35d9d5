#!/usr/bin/env bash
# Records what Node prints for each promise-timing program here into
# NAME.expected (or with --check, compares). Each program is run RUNS times
# (default 5); all runs must agree. tests/promise_conformance.rs holds the
# Rust twin of each program and compares its trace with these files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-5}
check=0
if [[ ${1:-} == --check ]]; then check=1; shift; fi
status=0
for js in "$here"/*.js; do
  name=$(basename "$js" .js)
  first=$(node "$js" 2>/dev/null)
  for ((i = 1; i < RUNS; i++)); do
    again=$(node "$js" 2>/dev/null)
    if [[ "$again" != "$first" ]]; then
      echo "$name: unstable under Node" >&2
      status=1
      continue 2
    fi
  done
  if ((check)); then
    if ! diff <(printf '%s\n' "$first") "$here/$name.expected" >/dev/null; then
      echo "$name: Node's output differs from $name.expected" >&2
      status=1
    fi
  else
    printf '%s\n' "$first" >"$here/$name.expected"
    echo "recorded $name ($(wc -l <"$here/$name.expected") lines)"
  fi
done
exit $status
