# shellcheck shell=bash
# lib.sh: shared helpers of the namespace tests. Sourced by every t_*.sh.
#
# Every test builds its own little world and tears it down again:
# - namespaces named $PFX-ROLE, where PFX=atnt-<pid of the test>: unique per
#   run, and a leftover of a killed run is recognised by its dead pid;
# - an underlay: a namespace "ul" holding a bridge, and one veth per
#   namespace created directly inside both namespaces (never in the host's),
#   addresses in 198.18.0.0/24 (the benchmarking range);
# - every step is bounded by `timeout`; `cleanup` (trap on EXIT, INT and TERM)
#   kills what the test started and deletes its namespaces on every path.
# No command here sends a packet anywhere but into namespaces the test made.
#
# Binaries: ATENET_BIN / TOK_BIN, default ${CARGO_TARGET_DIR:-target}/release/{atenet,tok}.
# Logs: target/netns-logs/TEST/ (NETNS_LOG_DIR overrides the parent).

set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/scripts/netns-tests
TOOLS=$HERE/tools
TEST=${TEST:-$(basename "$0" .sh)}
_target=${CARGO_TARGET_DIR:-$ROOT/target}
case $_target in /*) ;; *) _target=$ROOT/$_target ;; esac
ATENET_BIN=${ATENET_BIN:-$_target/release/atenet}
TOK_BIN=${TOK_BIN:-$_target/release/tok}
LOGROOT=${NETNS_LOG_DIR:-$ROOT/target/netns-logs}
LOG=$LOGROOT/$TEST

FAMILY=atnt                 # every namespace, work dir and /etc/netns entry of the tests starts with this
PFX=$FAMILY-$$
DAEMON_T=${DAEMON_T:-600}   # upper bound on the life of anything started in the background
STEP_T=${STEP_T:-20}        # default bound on one foreground step
PORT=7400                   # UDP port every node listens on (passed explicitly)
METRICS=127.0.0.1:9109      # --metrics of every node, on the node namespace's own loopback
UL_NET=198.18.0             # underlay /24
OV_NET=10.77.0              # overlay /24 of the test network
OV_SUBNET=$OV_NET.0/24

declare -a NETNS=()         # full names of namespaces we made
declare -A PID=()           # tag -> pid of the program itself (inside its namespace)
declare -A WRAP=()          # tag -> pid of its `timeout` wrapper (our child)
declare -A NSOF=()          # tag -> short namespace name
declare -A ARGS=()          # tag -> command line (for restarts), NUL-free, %q-quoted

# ---------- output ----------
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
T0=$(now_us)
say() { printf '[%6.2fs] %s\n' "$(awk -v a="$(now_us)" -v b="$T0" 'BEGIN{print (a-b)/1e6}')" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
# check MESSAGE CMD...: run CMD, fail the test with MESSAGE if it fails
check() { local m=$1; shift; "$@" || fail "$m"; }

# ---------- names ----------
nsn() { echo "$PFX-$1"; }                      # short role name -> namespace name
nsx() { local ns=$1; shift; timeout -k 2 "$STEP_T" ip netns exec "$(nsn "$ns")" "$@"; }
nsxt() { local t=$1 ns=$2; shift 2; timeout -k 2 "$t" ip netns exec "$(nsn "$ns")" "$@"; }
ulip() { echo "$UL_NET.$1"; }                  # host number -> underlay address
ovip() { echo "$OV_NET.$1"; }                  # host number -> overlay address

# ---------- waiting ----------
# wait_for SECONDS CMD...: poll CMD (itself bounded) every 0.1 s until it
# succeeds; non-zero when SECONDS pass first. SECONDS may be fractional.
wait_for() {
  local us end; us=$(awk -v s="$1" 'BEGIN{printf "%d", s*1e6}'); shift
  end=$(($(now_us) + us))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    (($(now_us) >= end)) && return 1
    sleep 0.1
  done
}
not() { ! "$@"; }
# count FILE REGEX: number of lines of FILE matching REGEX (0 if none)
count() { local n; n=$(grep -c -- "$2" "$1" 2>/dev/null); echo "${n:-0}"; }
# count_ge N FILE REGEX: at least N matching lines (use with wait_for)
count_ge() { (($(count "$2" "$3") >= $1)); }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }
# owner_alive PID: a running (not zombie) process: the owner of a prefix
owner_alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# ---------- leftovers and cleanup ----------
# Remove what a killed earlier run of any test left: namespaces, work dirs and
# /etc/netns entries of our family whose owning pid is no longer alive.
remove_leftovers() {
  local ns owner p
  for ns in $(timeout 10 ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FAMILY-[0-9]*-"); do
    owner=${ns#"$FAMILY"-}; owner=${owner%%-*}
    owner_alive "$owner" && continue
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null && echo "removed leftover namespace $ns" >&2
  done
  for p in /tmp/"$FAMILY"-[0-9]*.* /etc/netns/"$FAMILY"-[0-9]*-*; do
    [ -e "$p" ] || continue
    owner=${p##*/}; owner=${owner#"$FAMILY"-}; owner=${owner%%[.-]*}
    owner_alive "$owner" || rm -rf "$p"
  done
}

_cleaned=0
cleanup() {
  local rc=$? ns p tag i
  ((_cleaned)) && return; _cleaned=1
  trap - EXIT INT TERM
  # programs first (atenet gets SIGTERM: its clean shutdown is part of what we run;
  # a program a test froze with SIGSTOP gets SIGCONT so that it sees the TERM)
  for tag in "${!PID[@]}"; do kill -TERM "${PID[$tag]}" 2>/dev/null; kill -CONT "${PID[$tag]}" 2>/dev/null; done
  for ns in "${NETNS[@]}"; do
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  done
  for ((i = 0; i < 30; i++)); do
    p=0
    for ns in "${NETNS[@]}"; do [ -n "$(timeout 5 ip netns pids "$ns" 2>/dev/null)" ] && p=1; done
    ((p)) || break
    sleep 0.1
  done
  for ns in "${NETNS[@]}"; do
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for tag in "${!WRAP[@]}"; do kill -KILL "${WRAP[$tag]}" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "${NETNS[@]}"; do
    timeout 10 ip netns del "$ns" 2>/dev/null || echo "cleanup: could not delete namespace $ns" >&2
    rm -rf "/etc/netns/$ns"
  done
  rm -rf "$WORK"
  NETNS=()
  exit "$rc"
}

# ---------- namespaces and links ----------
# ns_add ROLE: make namespace $PFX-ROLE with lo up and IPv6 off (no router
# solicitations or MLD reports in the counts of a test).
ns_add() {
  local n; n=$(nsn "$1")
  timeout 10 ip netns add "$n" || fail "ip netns add $n"
  NETNS+=("$n")
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# veth NS_A IF_A NS_B IF_B: a veth pair created directly inside both namespaces.
veth() {
  timeout 10 ip link add name "$2" netns "$(nsn "$1")" type veth peer name "$4" netns "$(nsn "$3")" \
    || fail "veth $1/$2 <-> $3/$4"
  nsx "$1" ip link set "$2" up
  nsx "$3" ip link set "$4" up
}

# underlay: namespace "ul" with bridge br0; ul_attach ROLE HOST [HOST...] gives
# ROLE an interface ul0 on it with 198.18.0.HOST/24 (several HOSTs: aliases).
underlay() {
  ns_add ul
  nsx ul ip link add br0 type bridge || fail "bridge"
  nsx ul ip link set br0 type bridge stp_state 0 forward_delay 0 2>/dev/null
  nsx ul ip link set br0 up
}
ul_attach() {
  local role=$1 h; shift
  veth "$role" ul0 ul "v-$role"
  nsx ul ip link set "v-$role" master br0
  for h; do nsx "$role" ip addr add "$(ulip "$h")/24" dev ul0 || fail "address $(ulip "$h") on $role"; done
}
# ns_with_ul ROLE HOST...: namespace + underlay interface in one go
ns_with_ul() { ns_add "$1"; ul_attach "$@"; }

# resolv ROLE IP: /etc/netns/NS/resolv.conf pointing inside the test (before any DHCP client)
resolv() {
  mkdir -p "/etc/netns/$(nsn "$1")"
  echo "nameserver $2" >"/etc/netns/$(nsn "$1")/resolv.conf"
}

# ---------- background programs ----------
# bg ROLE TAG CMD...: start CMD in namespace ROLE, bounded by DAEMON_T, stdout
# and stderr appended to $LOG/TAG.out / TAG.err. PID[TAG] is the program's own
# pid (so a signal reaches it, not a wrapper), WRAP[TAG] its timeout wrapper.
bg() {
  local role=$1 tag=$2; shift 2
  local pidf=$WORK/$tag.pid
  rm -f "$pidf"
  ARGS[$tag]=$(printf '%q ' "$@")
  NSOF[$tag]=$role
  timeout -k 5 "$DAEMON_T" ip netns exec "$(nsn "$role")" \
    sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" >>"$LOG/$tag.out" 2>>"$LOG/$tag.err" </dev/null &
  WRAP[$tag]=$!
  wait_for 5 test -s "$pidf" || fail "could not start $tag: $*"
  PID[$tag]=$(cat "$pidf")
}
# bg_exit TAG: wait for the wrapper of TAG and return the program's exit status
bg_exit() { local rc=0; wait "${WRAP[$1]}" 2>/dev/null || rc=$?; unset 'PID[$1]' 'WRAP[$1]'; return $rc; }
# stop TAG [SIGNAL]: signal TAG, wait (bounded) until it is gone
stop() {
  local tag=$1 sig=${2:-TERM}
  [ -n "${PID[$tag]:-}" ] || return 0
  kill "-$sig" "${PID[$tag]}" 2>/dev/null
  wait_for 10 gone "${PID[$tag]}" || { kill -KILL "${PID[$tag]}" 2>/dev/null; wait_for 5 gone "${PID[$tag]}"; }
  bg_exit "$tag"
}

# ---------- captures ----------
# cap_text ROLE IF TAG FILTER...: tcpdump -l -n text lines into $LOG/TAG.out
# cap_pcap ROLE IF TAG FILTER...: tcpdump pcap into $LOG/TAG.pcap
# Both return once tcpdump says it is listening. Stop with cap_stop TAG (flushes).
# --immediate-mode: without it libpcap hands packets over in blocks up to a
# second late, and the ones still in the ring when tcpdump is stopped are lost.
cap_text() {
  local role=$1 ifc=$2 tag=$3; shift 3
  : >"$LOG/$tag.err"
  : >"$LOG/$tag.out"
  bg "$role" "$tag" tcpdump -l -n --immediate-mode -i "$ifc" -B 4096 "$@"
  wait_for 10 grep -q "listening on" "$LOG/$tag.err" || fail "tcpdump $tag did not start: $(cat "$LOG/$tag.err")"
}
cap_pcap() {
  local role=$1 ifc=$2 tag=$3; shift 3
  : >"$LOG/$tag.err"
  bg "$role" "$tag" tcpdump -n -U --immediate-mode -i "$ifc" -B 8192 -s 2048 -w "$LOG/$tag.pcap" "$@"
  wait_for 10 grep -q "listening on" "$LOG/$tag.err" || fail "tcpdump $tag did not start: $(cat "$LOG/$tag.err")"
}
cap_stop() {
  local tag=$1
  stop "$tag" INT
  if grep -q "[1-9][0-9]* packets* dropped by kernel" "$LOG/$tag.err"; then
    fail "capture $tag lost packets: $(grep 'dropped by kernel' "$LOG/$tag.err")"
  fi
}

# ---------- atenet and tok ----------
atenet() { "$ATENET_BIN" "$@"; }
tok() { timeout -k 2 "$STEP_T" "$TOK_BIN" "$@"; }

# node_start ROLE HOST DATA_DIR [EXTRA...]: `atenet serve` in namespace ROLE
# listening on 198.18.0.HOST:PORT, metrics on the namespace's loopback. Tag
# node-ROLE. Returns once the UDP port is bound and metrics answer.
node_start() {
  local role=$1 host=$2 dir=$3; shift 3
  bg "$role" "node-$role" env RUST_LOG="${RUST_LOG:-info}" "$ATENET_BIN" serve --data-dir "$dir" \
    --listen "$(ulip "$host"):$PORT" --metrics "$METRICS" "$@"
  wait_for 15 node_ready "$role" "$host" || fail "node $role did not come up; stderr: $(tail -5 "$LOG/node-$role.err")"
  say "node $role up on $(ulip "$host"):$PORT (pid ${PID[node-$role]})"
}
node_ready() {
  alive "${PID[node-$1]:-}" || return 1
  [ -n "$(nsx "$1" ss -Hlun "sport = :$PORT")" ] || return 1
  nsx "$1" curl -sf -o /dev/null "http://$METRICS/metrics"
}
node_restart() { # node_restart ROLE: SIGTERM, wait, start again with the same command line
  local role=$1 cmd; cmd=${ARGS[node-$1]}
  stop "node-$role" TERM
  eval "bg $role node-$role $cmd"
  wait_for 15 node_ready "$role" x || fail "node $role did not come back"
}
# metrics ROLE: the node's Prometheus text
metrics() { nsx "$1" curl -sf "http://$METRICS/metrics"; }
# drops ROLE: JSON {reason: count} of the node's packet drops
drops() { metrics "$1" | python3 "$TOOLS/hostile.py" drops; }

# first_run_key ROLE: the key from the `tok connect ...` line a first run prints
first_run_key() {
  wait_for 10 grep -q '^tok connect ' "$LOG/node-$1.out" || fail "node $1 printed no 'tok connect' line"
  grep -m1 '^tok connect ' "$LOG/node-$1.out" | grep -o 'ate1[A-Za-z0-9_-]*' | head -1
}
# net_create DIR NAME SUBNET; key_issue DIR NAME -> prints the ate1 key
net_create() {
  tok network create "$2" --subnet "$3" --data-dir "$1" >>"$LOG/tok-admin.log" 2>&1 \
    || fail "tok network create $2 failed: $(tail -3 "$LOG/tok-admin.log")"
}
key_issue() {
  local out; out=$(tok key issue "$2" --data-dir "$1" 2>>"$LOG/tok-admin.log") \
    || fail "tok key issue $2 failed: $(tail -3 "$LOG/tok-admin.log")"
  echo "$out" >>"$LOG/tok-admin.log"
  grep -o 'ate1[A-Za-z0-9_-]*' <<<"$out" | head -1
}
# make_net DIR: data dir DIR with network "t" on 10.77.0.0/24 (before any node
# starts on it, so no first-run network "default" is made)
make_net() { mkdir -p -m 700 "$1"; net_create "$1" t "$OV_SUBNET"; }
# two_nodes: nodes n1 (198.18.0.1) and n2 (.2) serving network "t" from one
# data dir $D, client namespaces c1 (.11) and c2 (.12), one key in $KEY;
# returns once each node holds a session with the other (it joined the
# chain with its address).
two_nodes() {
  underlay
  ns_with_ul n1 1
  ns_with_ul n2 2
  ns_with_ul c1 11
  ns_with_ul c2 12
  D=$WORK/data
  make_net "$D"
  KEY=$(key_issue "$D" t)
  [ -n "$KEY" ] || fail "tok key issue printed no key"
  node_start n1 1 "$D"
  node_start n2 2 "$D"
  wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer: $(metrics n1 | grep '^atenet_peers')"
  wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 1 || fail "n2 has no reachable peer: $(metrics n2 | grep '^atenet_peers')"
}
# metric ROLE NAME [LABELS]: the value of one sample of the node's metrics
metric() {
  local n=$2; [ -n "${3:-}" ] && n="$2{$3}"
  metrics "$1" | awk -v n="$n" '$1 == n {print $2; f=1} END {if (!f) exit 1}'
}
metric_ge() { local v; v=$(metric "$1" "$2" "$3") && awk -v v="$v" -v m="$4" 'BEGIN{exit !(v >= m)}'; }
# key_id KEY: the 8-hex-digit key id inside an ate1 key
key_id() { python3 "$TOOLS/hostile.py" key "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])'; }

# tok_start ROLE NODES KEY HOST [EXTRA...]: `tok connect NODES` in ROLE, tap0
# with 10.77.0.HOST/24. NODES: comma-separated host numbers of nodes. Tag tok-ROLE.
tok_start() {
  local role=$1 nodes=$2 key=$3 host=$4 addrs="" n; shift 4
  for n in ${nodes//,/ }; do addrs+="${addrs:+,}$(ulip "$n"):$PORT"; done
  bg "$role" "tok-$role" env RUST_LOG="${RUST_LOG:-info}" "$TOK_BIN" connect "$addrs" --key "$key" \
    --tap tap0 --address "$(ovip "$host")/24" "$@"
  wait_for 10 tap_ready "$role" "$(ovip "$host")" \
    || fail "tok in $role made no tap0 with $(ovip "$host"); stderr: $(tail -5 "$LOG/tok-$role.err")"
  say "tok in $role connecting to $addrs as $(ovip "$host") (pid ${PID[tok-$role]})"
}
tap_ready() { alive "${PID[tok-$1]:-}" && nsx "$1" ip -o addr show dev tap0 up | grep -q " $2/"; }

# tok_start_at ROLE NODES KEY CIDR [EXTRA...]: like tok_start, with any address
# (e.g. another network's subnet), tap0. Tag tok-ROLE.
tok_start_at() {
  local role=$1 nodes=$2 key=$3 cidr=$4 addrs="" n; shift 4
  for n in ${nodes//,/ }; do addrs+="${addrs:+,}$(ulip "$n"):$PORT"; done
  bg "$role" "tok-$role" env RUST_LOG="${RUST_LOG:-info}" "$TOK_BIN" connect "$addrs" --key "$key" \
    --tap tap0 --address "$cidr" "$@"
  wait_for 10 tap_ready "$role" "${cidr%/*}" \
    || fail "tok in $role made no tap0 with $cidr; stderr: $(tail -5 "$LOG/tok-$role.err")"
  say "tok in $role connecting to $addrs as $cidr (pid ${PID[tok-$role]})"
}
# tok_start_bare ROLE NODES KEY TAP [EXTRA...]: `tok connect` without an address
# (a DHCP client configures the tap). A tap TAP that exists already (see
# tap_precreate) is attached to as it is. Tag tok-ROLE.
tok_start_bare() {
  local role=$1 nodes=$2 key=$3 tap=$4 addrs="" n; shift 4
  for n in ${nodes//,/ }; do addrs+="${addrs:+,}$(ulip "$n"):$PORT"; done
  bg "$role" "tok-$role" env RUST_LOG="${RUST_LOG:-info}" "$TOK_BIN" connect "$addrs" --key "$key" \
    --tap "$tap" "$@"
  wait_for 10 tap_up "$role" "$tap" \
    || fail "tok in $role brought no tap $tap up; stderr: $(tail -5 "$LOG/tok-$role.err")"
  say "tok in $role connecting to $addrs on tap $tap without an address (pid ${PID[tok-$role]})"
}
tap_up() { alive "${PID[tok-$1]:-}" && nsx "$1" ip -o link show dev "$2" up | grep -q ',UP'; }
# tap_precreate ROLE TAP MAC: a persistent tap with a chosen MAC, for tok to attach to
tap_precreate() {
  nsx "$1" ip tuntap add dev "$2" mode tap || fail "ip tuntap add $2 in $1"
  nsx "$1" ip link set dev "$2" address "$3" || fail "MAC $3 on $1/$2"
}

# ping_ok ROLE IP: one echo answered within 1 s
ping_ok() { nsx "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
# reach ROLE IP [SECS]: wait until ROLE can ping IP
reach() { wait_for "${3:-15}" ping_ok "$1" "$2" || fail "$1 cannot ping $2 within ${3:-15} s"; say "$1 reaches $2"; }

# port_listening ROLE PORT: a TCP listener on PORT in ROLE
port_listening() { [ -n "$(nsx "$1" ss -Hltn "sport = :$2")" ]; }

# udp_rcvbuf_errors ROLE: the namespace's UDP RcvbufErrors (kernel drops before the node reads)
udp_rcvbuf_errors() { nsx "$1" awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; }

need_tools() {
  local t miss=()
  for t in "$@"; do command -v "$t" >/dev/null || miss+=("$t"); done
  ((${#miss[@]} == 0)) || fail "missing tools: ${miss[*]}"
}
need_bins() {
  [ -x "$ATENET_BIN" ] || fail "no atenet binary at $ATENET_BIN (cargo build --release -p atenet -p tok)"
  [ -x "$TOK_BIN" ] || fail "no tok binary at $TOK_BIN"
}

# ---------- start of every test ----------
[ "$(id -u)" = 0 ] || { echo "namespace tests need root" >&2; exit 1; }
remove_leftovers
[ -n "${NETNS_RUNNER:-}" ] || rm -rf "$LOG"   # run.sh clears it itself (and already logs into it)
mkdir -p "$LOG"
WORK=$(mktemp -d "/tmp/$PFX.XXXX")
chmod 700 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
need_tools ip timeout tcpdump python3 curl ss
say "test $TEST, namespaces $PFX-*, logs in $LOG"
