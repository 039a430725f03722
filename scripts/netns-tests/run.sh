#!/usr/bin/env bash
# run.sh [FILTER]: run every t_*.sh here (those whose name contains FILTER),
# each bounded by `timeout`, as root. Prints one line per test
# (`PASS name (Ns)` / `FAIL name (Ns)`), then `N passed, N failed`, then the
# logs of the failed tests; exits non-zero if any failed.
#
# Env: ATENET_BIN, TOK_BIN (default ${CARGO_TARGET_DIR:-target}/release/...;
#      built with `cargo build --release -p atenet -p tok` when missing),
#      TEST_TIMEOUT (seconds per test, default 300), NETNS_LOG_DIR,
#      NETNS_NO_BUILD=1 (never build).
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FILTER=${1:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

if [ "$(id -u)" != 0 ]; then
  echo "the namespace tests need root (sudo $0)" >&2
  exit 2
fi

target=${CARGO_TARGET_DIR:-$ROOT/target}
case $target in /*) ;; *) target=$ROOT/$target ;; esac
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
export ATENET_BIN TOK_BIN
ATENET_BIN=$(abs "${ATENET_BIN:-$target/release/atenet}")
TOK_BIN=$(abs "${TOK_BIN:-$target/release/tok}")
if { [ ! -x "$ATENET_BIN" ] || [ ! -x "$TOK_BIN" ]; } && [ -z "${NETNS_NO_BUILD:-}" ]; then
  # a failed build is reported by every test that needs the binaries
  echo "building atenet and tok (release)" >&2
  (cd "$ROOT" && timeout 1800 cargo build --release -p atenet -p tok) >&2 || echo "build failed" >&2
fi

export NETNS_RUNNER=1
export NETNS_LOG_DIR=${NETNS_LOG_DIR:-$ROOT/target/netns-logs}
mkdir -p "$NETNS_LOG_DIR"

passed=0 failed=0 failed_names=()
for t in "$HERE"/t_*.sh; do
  name=$(basename "$t" .sh)
  [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && continue
  log=$NETNS_LOG_DIR/$name
  rm -rf "$log"; mkdir -p "$log"
  start=$(date +%s)
  # TERM first (the test's trap removes its namespaces), KILL 30 s later;
  # a KILLed test's leftovers are removed by the next test's start.
  timeout -k 30 "$TEST_TIMEOUT" bash "$t" >"$log/test.log" 2>&1 </dev/null
  rc=$?
  secs=$(($(date +%s) - start))
  if [ $rc = 0 ]; then
    echo "PASS $name (${secs}s)"; passed=$((passed + 1))
  else
    [ $rc = 124 ] && echo "timed out after ${TEST_TIMEOUT}s" >>"$log/test.log"
    echo "FAIL $name (${secs}s)"; failed=$((failed + 1)); failed_names+=("$name")
  fi
done

# nothing of ours may outlive the run (a test killed by timeout -k leaves its namespaces)
(
  TEST=run
  FAMILY=atnt
  for ns in $(timeout 10 ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FAMILY-[0-9]*-"); do
    owner=${ns#"$FAMILY"-}; owner=${owner%%-*}
    [ -r "/proc/$owner/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$owner/stat" && continue
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null && echo "removed leftover namespace $ns" >&2
  done
)

echo "$passed passed, $failed failed"

for name in "${failed_names[@]}"; do
  log=$NETNS_LOG_DIR/$name
  echo
  echo "======== $name: test.log"
  tail -n 150 "$log/test.log"
  for f in "$log"/*; do
    case $f in */test.log | *.pcap | *.pid) continue ;; esac
    [ -f "$f" ] && [ -s "$f" ] || continue
    echo "-------- $name: ${f##*/} (last 60 lines)"
    tail -n 60 "$f"
  done
done
# the summary again as the closing line, after the dumps
((failed == 0)) || { echo; echo "$passed passed, $failed failed"; }
((failed == 0))
