#!/usr/bin/env bash
# (Re)record the expected traces of the conformance corpus, or check them.
#
#   tests/conformance/record.sh [--check] [NAME | path/NAME.json ...]
#
# With no names, every scenarios/*.json is processed. Each scenario is run by the
# Node oracle RUNS times (default 5) on a quiet machine, then HOG_RUNS times
# (default 3) while HOGS busy-loop processes (default: one per CPU) compete for
# the CPU. A scenario is stable when all those traces are identical; an unstable
# one is reported with a diff and makes the script exit 1. Stable traces are
# written to NAME.expected, or with --check compared against the existing file.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
scenarios=$here/scenarios
oracle=$here/oracle.js
RUNS=${RUNS:-5}
HOG_RUNS=${HOG_RUNS:-3}
HOGS=${HOGS:-$(nproc)}

check=0
if [[ ${1:-} == --check ]]; then check=1; shift; fi

files=()
if [[ $# -eq 0 ]]; then
  files=("$scenarios"/*.json)
else
  for arg in "$@"; do
    case $arg in
      */*|*.json) files+=("$arg") ;;
      *) files+=("$scenarios/$arg.json") ;;
    esac
  done
fi

work=$(mktemp -d)
hog_pids=()
stop_hogs() {
  # Kill only the processes this script started, by pid.
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  hog_pids=()
}
cleanup() { stop_hogs; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_all TAG COUNT: run every scenario COUNT times, traces in $work/STEM.TAG.N
run_all() {
  local tag=$1 count=$2 f stem i
  for f in "${files[@]}"; do
    stem=$(basename "$f" .json)
    for ((i = 1; i <= count; i++)); do
      if ! timeout 60 node "$oracle" "$f" > "$work/$stem.$tag.$i" 2> "$work/$stem.err"; then
        echo "FAIL $stem: oracle exited non-zero:" >&2
        cat "$work/$stem.err" >&2
        exit 1
      fi
      if [[ -s $work/$stem.err ]]; then
        echo "FAIL $stem: oracle wrote to stderr:" >&2
        cat "$work/$stem.err" >&2
        exit 1
      fi
    done
  done
}

# Every scenario must carry a "name" equal to its file stem.
for f in "${files[@]}"; do
  [[ -f $f ]] || { echo "FAIL: no such scenario: $f" >&2; exit 1; }
  stem=$(basename "$f" .json)
  name=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).name))' "$f")
  if [[ $name != "$stem" ]]; then
    echo "FAIL $stem: \"name\" is \"$name\", expected \"$stem\"" >&2
    exit 1
  fi
done

echo "plain runs: $RUNS x ${#files[@]} scenarios" >&2
run_all plain "$RUNS"

echo "runs beside $HOGS CPU hogs: $HOG_RUNS x ${#files[@]} scenarios" >&2
for ((i = 0; i < HOGS; i++)); do
  sh -c 'while :; do :; done' &
  hog_pids+=($!)
done
run_all hog "$HOG_RUNS"
stop_hogs

bad=0
for f in "${files[@]}"; do
  stem=$(basename "$f" .json)
  ref=$work/$stem.plain.1
  stable=1
  for out in "$work/$stem".*.[0-9]*; do
    if ! cmp -s "$ref" "$out"; then
      stable=0
      echo "UNSTABLE $stem: $(basename "$out") differs from first plain run:" >&2
      diff "$ref" "$out" >&2 || true
      break
    fi
  done
  if ((stable == 0)); then bad=1; continue; fi
  expected=${f%.json}.expected
  if ((check)); then
    if ! cmp -s "$ref" "$expected"; then
      echo "MISMATCH $stem: Node's trace differs from $(basename "$expected"):" >&2
      diff "$expected" "$ref" >&2 || true
      bad=1
    fi
  else
    cp "$ref" "$expected"
  fi
done

if ((bad)); then
  echo "record.sh: FAILED (see above)" >&2
  exit 1
fi
echo "record.sh: ${#files[@]} scenarios stable$( ((check)) && echo ', all match .expected')" >&2
