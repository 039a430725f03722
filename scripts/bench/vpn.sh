#!/usr/bin/env bash
# vpn.sh: the end-to-end benchmark suite (issue 8). In one run, on one set of
# namespaces, it measures five paths between the same two client namespaces:
#   atenet1  tok (a) -> atenet (n) -> tok (b)                 one node
#   atenet2  tok (a) -> atenet (n) -> atenet (m) -> tok (b)   two nodes, one chain
#   wg       wireguard-go a <-> b
#   tinc     tinc 1.0, Mode = switch (tap), a <-> b
#   vxlan    kernel VXLAN a <-> b (no crypto: the ceiling of the set-up)
# For each: iperf3 TCP 1 and 4 streams, iperf3 UDP loss at a fixed offered
# rate, ping p50/p99 idle and under a saturating TCP 1-stream load, and the
# CPU seconds per GB of the VPN's own processes (tok, atenet, wireguard-go,
# tincd; never iperf3) over the TCP 1-stream run. Also the atenet nodes' RSS
# before and after their runs, the CPU split by process, UDP receive-buffer
# drops by namespace, toks that lost their node and reconnected, and the CPU
# that other work on the host took during each TCP 1-stream run (a shared
# machine lowers every figure). Not a test: prints a markdown table with
# ratio rows (atenet 1 node against wireguard-go, tinc and the better of the
# two; atenet 2 nodes against 1) after a header line (date, kernel, nproc,
# CPU model and its aes/sha_ni/vaes flags). Benchmarks are never CI tests.
#
#   sudo scripts/bench/vpn.sh
#   sudo ONLY="atenet1 wg" T_TCP=5 OUT=/tmp/e2e.md scripts/bench/vpn.sh
#
# Topology (all inside namespaces this script makes and removes; names
# atnb-<pid>-ROLE, a leftover of a killed run is removed by the next run):
#   n (198.18.0.1)   --+
#   m (198.18.0.2)   --+-- bridge br0 in namespace "ul"
#   a (198.18.0.11)  --+
#   b (198.18.0.12)  --+
# Overlays: atenet1 10.99.1.0/24, atenet2 10.99.2.0/24, wg 10.98.0.0/24,
# tinc 10.97.0.0/24, vxlan 10.96.0.0/24; a is .11, b is .12. The iperf3
# server and the ping target are in b, the clients in a. No traffic leaves
# the namespaces: none has a default route or a link to the host; the
# underlay is 198.18.0.0/24 only. Every command runs under `timeout`; a trap
# removes namespaces, processes and wireguard-go's UAPI sockets on every exit.
#
# Env: ONLY="atenet1 atenet2 wg tinc vxlan" (the paths to run, in this order)
#      T_TCP=8 (s per TCP run), T_UDP=5, UDP_RATE=500M (iperf3 -b), UDP_LEN=1300
#      (iperf3 -l, fits the inner MTU), PING_N=100, PING_I=0.02 (ping -c, -i),
#      INNER_MTU=1380 (tok's default tap MTU; set on every path),
#      TINC_CIPHER=aes-256-cbc TINC_DIGEST=sha256 TINC_MACLEN=16 (empty: tinc's
#      own defaults, blowfish/sha1/4), INSTALL=1 (apt-get install missing
#      tools), ATENET_BIN/TOK_BIN (default: cargo build --release into
#      ${CARGO_TARGET_DIR:-target}), KEEP_LOGS=DIR (copy logs and iperf3 JSON
#      there on exit), OUT=FILE (also write the report there).
# shellcheck disable=SC2317 # functions run from traps and as "run_$path"
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FAMILY=atnb
P=$FAMILY-$$
ALL_PATHS="atenet1 atenet2 wg tinc vxlan"
ONLY=${ONLY:-$ALL_PATHS}
T_TCP=${T_TCP:-8}
T_UDP=${T_UDP:-5}
UDP_RATE=${UDP_RATE:-500M}
UDP_LEN=${UDP_LEN:-1300}
PING_N=${PING_N:-100}
PING_I=${PING_I:-0.02}
INNER_MTU=${INNER_MTU:-1380}
TINC_CIPHER=${TINC_CIPHER-aes-256-cbc}
TINC_DIGEST=${TINC_DIGEST-sha256}
TINC_MACLEN=${TINC_MACLEN-16}
INSTALL=${INSTALL:-1}
OUT=${OUT:-}
DAEMON_T=1800               # upper bound on the life of anything started in the background
PORT=7400                   # atenet's UDP port
UL=198.18.0
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
chmod 700 "$WORK"
WRAPS=() NETNS=() SOCKS=()
declare -A PID=()           # tag -> pid of the program itself (inside its namespace)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for v in T_TCP T_UDP PING_N INNER_MTU UDP_LEN; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $PING_I =~ ^[0-9]*\.?[0-9]+$ ]] || die "PING_I must be a number of seconds"
for v in $ONLY; do [[ " $ALL_PATHS " == *" $v "* ]] || die "unknown path '$v' in ONLY (known: $ALL_PATHS)"; done

# ---------- hygiene ----------
owner_alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
remove_leftovers() { # namespaces, work dirs and UAPI sockets of a killed earlier run (owner pid gone)
  local ns owner p
  for ns in $(timeout 10 ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FAMILY-[0-9]*-"); do
    owner=${ns#"$FAMILY"-}; owner=${owner%%-*}
    owner_alive "$owner" && continue
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null && log "removed leftover namespace $ns"
  done
  for p in /tmp/"$FAMILY"-[0-9]*.* /var/run/wireguard/"$FAMILY"[0-9]*[ab].sock; do
    [ -e "$p" ] || continue
    owner=${p##*/}; owner=${owner#"$FAMILY"}; owner=${owner#-}; owner=${owner%%[.ab]*}
    owner_alive "$owner" || rm -rf "$p"
  done
}
cleanup() {
  local rc=$? p ns i busy
  trap - EXIT INT TERM HUP
  for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ns in "${NETNS[@]}"; do
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  done
  for ((i = 0; i < 30; i++)); do
    busy=0
    for ns in "${NETNS[@]}"; do [ -n "$(timeout 5 ip netns pids "$ns" 2>/dev/null)" ] && busy=1; done
    ((busy)) || break
    sleep 0.1
  done
  for ns in "${NETNS[@]}"; do
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null || log "cleanup: could not delete namespace $ns"
  done
  for p in "${WRAPS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  for p in "${SOCKS[@]}"; do rm -f "$p"; done
  [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp -r "$WORK"/. "$KEEP_LOGS"/ 2>/dev/null
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
remove_leftovers

# ---------- prerequisites ----------
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ss >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
for v in $ONLY; do
  case $v in
    wg) command -v wireguard-go >/dev/null || need+=(wireguard-go)
        command -v wg >/dev/null || need+=(wireguard-tools) ;;
    tinc) command -v tincd >/dev/null || need+=(tinc) ;;
  esac
done
if ((${#need[@]})); then
  [ "$INSTALL" = 1 ] || die "missing: ${need[*]} (apt-get install ${need[*]}, or INSTALL=1)"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >"$WORK/apt.log" 2>&1
  timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${need[@]}" >>"$WORK/apt.log" 2>&1 \
    || die "apt-get install failed: $(tail -1 "$WORK/apt.log")"
fi
if [[ " $ONLY " == *" atenet"* ]]; then
  target=${CARGO_TARGET_DIR:-$ROOT/target}
  case $target in /*) ;; *) target=$ROOT/$target ;; esac
  if [ -z "${ATENET_BIN:-}" ] || [ -z "${TOK_BIN:-}" ]; then
    log "cargo build --release -p atenet -p tok"
    (cd "$ROOT" && timeout 3000 cargo build --release -q -p atenet -p tok) >&2 || die "build failed"
  fi
  ATENET_BIN=${ATENET_BIN:-$target/release/atenet}
  TOK_BIN=${TOK_BIN:-$target/release/tok}
  [ -x "$ATENET_BIN" ] || die "no atenet binary at $ATENET_BIN"
  [ -x "$TOK_BIN" ] || die "no tok binary at $TOK_BIN"
fi

# ---------- namespaces ----------
nsn() { echo "$P-$1"; }
nsx() { local ns=$1; shift; timeout -k 2 60 ip netns exec "$(nsn "$ns")" "$@"; }
nsxt() { local t=$1 ns=$2; shift 2; timeout -k 2 "$t" ip netns exec "$(nsn "$ns")" "$@"; }
wait_for() { # wait_for SECONDS CMD...: poll CMD every 0.1 s
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do ((SECONDS >= end)) && return 1; sleep 0.1; done
}
# bg NS TAG CMD...: CMD in namespace NS, bounded by DAEMON_T, output in
# $WORK/TAG.log; PID[TAG] is the program's own pid (what /proc is read of).
bg() {
  local ns=$1 tag=$2 pidf=$WORK/$2.pid; shift 2
  rm -f "$pidf"
  # shellcheck disable=SC2016
  timeout -k 5 "$DAEMON_T" ip netns exec "$(nsn "$ns")" \
    sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" >"$WORK/$tag.log" 2>&1 </dev/null &
  WRAPS+=($!)
  wait_for 5 test -s "$pidf" || return 1
  PID[$tag]=$(cat "$pidf")
}
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
listening() { [ -n "$(nsx "$1" ss -Hl"$2"n "sport = :$3")" ]; } # listening NS t|u PORT
ns_add() {
  timeout 10 ip netns add "$(nsn "$1")" || die "ip netns add $(nsn "$1")"
  NETNS+=("$(nsn "$1")")
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
attach() { # attach NS HOST: veth made inside NS and ul, on the bridge
  ns_add "$1"
  timeout 10 ip link add name ul0 netns "$(nsn "$1")" type veth peer name "v-$1" netns "$(nsn ul)" || die "veth $1"
  nsx ul ip link set "v-$1" master br0 up
  nsx "$1" ip addr add "$UL.$2/24" dev ul0
  nsx "$1" ip link set ul0 up
}
ns_add ul
nsx ul ip link add br0 type bridge || die bridge
nsx ul ip link set br0 type bridge stp_state 0 forward_delay 0
nsx ul ip link set br0 up
attach n 1
attach m 2
attach a 11
attach b 12

# ---------- measurement ----------
declare -A NAME MTU R1 R4 RU RUR PI PL RL CPU SPLIT RSS ERR
NAME=([atenet1]=atenet-1node [atenet2]=atenet-2node [wg]=wireguard-go [tinc]=tinc [vxlan]=vxlan)

# jget FILE KEY...: fields of a JSON file (dotted paths), one line, "fail" where missing
jget() {
  python3 - "$@" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    d = {}
out = []
for k in sys.argv[2:]:
    v = d
    try:
        for p in k.split("."):
            v = v[p]
        out.append(str(v))
    except Exception:
        out.append("fail")
print(" ".join(out))
EOF
}
gbit() { awk -v x="$1" 'BEGIN{ if (x ~ /^[0-9.e+-]+$/) printf "%.2f", x/1e9; else print "fail" }'; }
# iperf_start DST: a one-shot iperf3 server in b on DST; SRV is its wrapper's pid
iperf_start() {
  timeout -k 2 $((T_TCP + T_UDP + 60)) ip netns exec "$(nsn b)" iperf3 -s -1 -B "$1" >>"$WORK/iperf3-server.log" 2>&1 </dev/null &
  SRV=$!; WRAPS+=("$SRV")
  wait_for 5 listening b t 5201
}
# run_iperf FILE DST SECS ARGS...: client in a, JSON into FILE
run_iperf() {
  local f=$1 dst=$2 s=$3; shift 3
  iperf_start "$dst" || { echo '{}' >"$f"; return 1; }
  nsxt $((s + 30)) a iperf3 -c "$dst" -J -t "$s" "$@" >"$f" 2>>"$WORK/iperf3-client.log"
  wait "$SRV" 2>/dev/null
  return 0
}
# pings DST: "p50 p99 lost%" of PING_N echoes from a (nearest-rank percentiles)
pings() {
  local t
  t=$(awk -v n="$PING_N" -v i="$PING_I" 'BEGIN{printf "%d", n*i + 15}')
  nsxt "$t" a ping -n -c "$PING_N" -i "$PING_I" -W 1 "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -g |
    awk -v n="$PING_N" '{v[NR]=$1} END{ if (NR == 0) { print "fail fail 100"; exit }
      i50 = int((50*NR + 99)/100); i99 = int((99*NR + 99)/100)
      printf "%.3f %.3f %d\n", v[i50], v[i99], (n - NR)*100/n }'
}
pcell() { # pcell "p50 p99 lost": table cell "p50 / p99" (+ loss if any)
  local a b l; read -r a b l <<<"$1"
  if [ "$a" = fail ]; then echo fail; elif [ "${l:-0}" != 0 ]; then echo "$a / $b ($l% lost)"; else echo "$a / $b"; fi
}
cpu_ticks() { # utime+stime+cutime+cstime of PID, in clock ticks (all its threads)
  awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$1/stat" 2>/dev/null
}
# cpu_split: "ALL MINE" clock ticks (utime+stime+cutime+cstime) of every user-space process
# on the host, and of this script's own process tree. Time of a process that exits
# moves into its parent's cutime, so the deltas between two calls are the CPU used
# in between; ALL - MINE is other work sharing the machine (kernel threads left out).
cpu_split() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root=$$ '
    { pid = $1; l = $0; sub(/^.*\) /, "", l); split(l, f, " "); P[pid] = f[2]; T[pid] = f[12] + f[13] + f[14] + f[15] }
    END {
      for (p in P) {
        if (p == 2 || P[p] == 2) continue
        all += T[p]
        for (q = p; q != "" && q > 1; q = P[q]) if (q == root) { mine += T[p]; break }
      }
      print all + 0, mine + 0
    }'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
mib() { awk -v k="${1:-}" 'BEGIN{ if (k ~ /^[0-9]+$/) printf "%.1f", k/1024; else print "?" }'; }
# shellcheck disable=SC2016
udp_drops() { nsx "$1" awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; } # RcvbufErrors
declare -A DROP0 SILENT
# silences TAG...: how often the toks among TAGs found their node silent for 3 s (and reconnected)
silences() {
  local tag n=0 c
  for tag; do
    [[ $tag == *tok* ]] || continue
    c=$(grep -c 'silent for' "$WORK/$tag.log" 2>/dev/null); n=$((n + ${c:-0}))
  done
  echo "$n"
}
# phase PATH NAME TAG...: note NAME in SILENT[PATH] when a tok lost its node during it
phase() {
  local t=$1 name=$2 n; shift 2
  n=$(silences "$@")
  if ((n > ${SIL0:-0})); then
    SILENT[$t]+="${SILENT[$t]:+, }$((n - SIL0)) during $name"
    log "$t: a tok found its node silent for 3 s and reconnected during $name"
  fi
  SIL0=$n
}

# measure PATH DST TAG...: the whole set of runs against DST; TAGs are the
# VPN's processes whose CPU time is counted over the TCP 1-stream run.
measure() {
  local t=$1 dst=$2 tag f bytes secs bps total=0 split="" tl ns; shift 2
  local -A c0=()
  for ns in n m a b; do DROP0[$ns]=$(udp_drops "$ns"); done
  SIL0=$(silences "$@")
  PI[$t]=$(pings "$dst")
  phase "$t" "the idle ping" "$@"
  log "$t: ping idle p50/p99/lost% ${PI[$t]}"

  f=$WORK/$t.tcp1.json
  local o0 o1
  o0=$(cpu_split)
  for tag; do c0[$tag]=$(cpu_ticks "${PID[$tag]}"); done
  run_iperf "$f" "$dst" "$T_TCP"
  o1=$(cpu_split)
  OTHER[$t]=$(awk -v a="$o0" -v b="$o1" -v h="$CLK_TCK" 'BEGIN{ split(a, x, " "); split(b, y, " "); v = ((y[1] - x[1]) - (y[2] - x[2]))/h; printf "%.1f", v < 0 ? 0 : v }')
  phase "$t" "TCP 1 stream" "$@"
  for tag; do
    tl=$(cpu_ticks "${PID[$tag]}")
    if [ -z "$tl" ] || [ -z "${c0[$tag]}" ]; then ERR[$t]="${ERR[$t]:-}$tag exited during the TCP run; "; continue; fi
    c0[$tag]=$((tl - c0[$tag])); total=$((total + c0[$tag]))
  done
  read -r bytes secs bps <<<"$(jget "$f" end.sum_received.bytes end.sum_received.seconds end.sum_received.bits_per_second)"
  R1[$t]=$(gbit "$bps")
  if (($#)) && [[ $bytes =~ ^[0-9]+$ ]] && ((bytes > 0)); then
    CPU[$t]=$(awk -v c="$total" -v h="$CLK_TCK" -v b="$bytes" 'BEGIN{printf "%.2f", c/h/(b/1e9)}')
    for tag; do
      split+="${split:+, }${tag#a[12]-} $(awk -v c="${c0[$tag]}" -v h="$CLK_TCK" -v b="$bytes" 'BEGIN{printf "%.2f", c/h/(b/1e9)}')"
    done
    SPLIT[$t]="$split (total $(awk -v c="$total" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", c/h}') CPU s over ${secs%.*} s, $(awk -v b="$bytes" 'BEGIN{printf "%.2f", b/1e9}') GB)"
  elif (($#)); then CPU[$t]=fail
  else CPU[$t]="kernel"
  fi
  log "$t: TCP 1 stream ${R1[$t]} Gbit/s, CPU ${CPU[$t]} s/GB${SPLIT[$t]:+: ${SPLIT[$t]}}; other work on the host ${OTHER[$t]} CPU s"

  run_iperf "$WORK/$t.tcp4.json" "$dst" "$T_TCP" -P 4
  phase "$t" "TCP 4 streams" "$@"
  R4[$t]=$(gbit "$(jget "$WORK/$t.tcp4.json" end.sum_received.bits_per_second)")
  log "$t: TCP 4 streams ${R4[$t]} Gbit/s"

  run_iperf "$WORK/$t.udp.json" "$dst" "$T_UDP" -u -b "$UDP_RATE" -l "$UDP_LEN"
  phase "$t" "UDP $UDP_RATE" "$@"
  read -r f bps <<<"$(jget "$WORK/$t.udp.json" end.sum.lost_percent end.sum_received.bits_per_second)"
  RU[$t]=$(awk -v x="$f" 'BEGIN{ if (x ~ /^[0-9.e+-]+$/) printf "%.1f", x; else print "fail" }')
  RUR[$t]=$(gbit "$bps")
  log "$t: UDP $UDP_RATE offered: ${RU[$t]} % lost, ${RUR[$t]} Gbit/s received"

  # ping under load: TCP 1 stream running for the whole ping, started 1 s before
  local lt
  lt=$(awk -v n="$PING_N" -v i="$PING_I" 'BEGIN{printf "%d", n*i + 4}')
  iperf_start "$dst" || true
  nsxt $((lt + 30)) a iperf3 -c "$dst" -J -t "$lt" >"$WORK/$t.load.json" 2>>"$WORK/iperf3-client.log" &
  WRAPS+=($!); local cl=$!
  sleep 1
  PL[$t]=$(pings "$dst")
  wait "$cl" 2>/dev/null; wait "$SRV" 2>/dev/null
  phase "$t" "the loaded ping" "$@"
  RL[$t]=$(gbit "$(jget "$WORK/$t.load.json" end.sum_received.bits_per_second)")
  log "$t: ping under load p50/p99/lost% ${PL[$t]} (load ${RL[$t]} Gbit/s)"
  local d=""
  for ns in n m a b; do
    tl=$(udp_drops "$ns")
    [[ $tl =~ ^[0-9]+$ && ${DROP0[$ns]} =~ ^[0-9]+$ ]] && ((tl > DROP0[$ns])) && d+="${d:+, }$ns $((tl - DROP0[$ns]))"
  done
  [ -n "$d" ] && DROPS[$t]=$d && log "$t: UDP receive-buffer drops (RcvbufErrors) by namespace: $d"
}
declare -A DROPS OTHER

stop_all() { # end every program in n, m, a and b (between two paths)
  local ns p
  for ns in n m a b; do for p in $(timeout 5 ip netns pids "$(nsn "$ns")" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done; done
  wait_for 10 sh -c "[ -z \"\$(ip netns pids $(nsn n))\$(ip netns pids $(nsn m))\$(ip netns pids $(nsn a))\$(ip netns pids $(nsn b))\" ]" || true
  for ns in n m a b; do for p in $(timeout 5 ip netns pids "$(nsn "$ns")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done
  PID=()
}
reach() { wait_for "$2" nsx a ping -n -c 1 -W 1 "$1"; }

# ---------- atenet ----------
# net_key DIR NAME SUBNET: a network in data dir DIR; prints a key for it
net_key() {
  local out
  mkdir -m 700 "$1" || return 1
  timeout 20 "$TOK_BIN" network create "$2" --subnet "$3" --data-dir "$1" >>"$WORK/tok-admin.log" 2>&1 || return 1
  out=$(timeout 20 "$TOK_BIN" key issue "$2" --data-dir "$1" 2>>"$WORK/tok-admin.log") || return 1
  echo "$out" >>"$WORK/tok-admin.log"
  grep -o 'ate1[A-Za-z0-9_-]*' <<<"$out" | head -1
}
node_up() { # node_up NS HOST DIR TAG
  bg "$1" "$4" "$ATENET_BIN" serve --data-dir "$3" --listen "$UL.$2:$PORT" || return 1
  wait_for 15 listening "$1" u "$PORT"
}
tok_up() { # tok_up NS NODEHOST KEY CIDR TAG
  bg "$1" "$5" "$TOK_BIN" connect "$UL.$2:$PORT" --key "$3" --tap tap0 --address "$4" --mtu "$INNER_MTU"
}
declare -A RSS0
rss_before() { local tag; for tag; do RSS0[$tag]=$(rss_kb "${PID[$tag]}"); done; }
rss_after() { # rss_after PATH TAG...: "node-n 6.7 -> 6.8 MiB" per node into RSS[PATH]
  local t=$1 tag; shift
  for tag; do RSS[$t]+="${RSS[$t]:+, }${tag#a[12]-} $(mib "${RSS0[$tag]:-}") -> $(mib "$(rss_kb "${PID[$tag]}")") MiB"; done
}

run_atenet1() {
  local d=$WORK/atenet1 key net=10.99.1
  key=$(net_key "$d" bench1 "$net.0/24")
  [ -n "$key" ] || { ERR[atenet1]="tok network create / key issue failed: $(tail -1 "$WORK/tok-admin.log")"; return 1; }
  node_up n 1 "$d" a1-node-n || { ERR[atenet1]="atenet did not listen: $(tail -2 "$WORK/a1-node-n.log")"; return 1; }
  if ! tok_up a 1 "$key" "$net.11/24" a1-tok-a || ! tok_up b 1 "$key" "$net.12/24" a1-tok-b; then ERR[atenet1]="tok did not start"; return 1; fi
  reach "$net.12" 30 || { ERR[atenet1]="$net.12 unreachable: $(tail -2 "$WORK/a1-tok-a.log")"; return 1; }
  MTU[atenet1]=$(nsx a cat /sys/class/net/tap0/mtu)/$(nsx b cat /sys/class/net/tap0/mtu)
  rss_before a1-node-n
  measure atenet1 "$net.12" a1-tok-a a1-node-n a1-tok-b
  rss_after atenet1 a1-node-n
}

# Two nodes of one network share its chain: both serve the same data dir (as
# scripts/netns-tests/t_two_nodes.sh does); each joins it with its --listen
# address and the other finds it there. tok in a knows only n, tok in b only m.
run_atenet2() {
  local d=$WORK/atenet2 key net=10.99.2
  key=$(net_key "$d" bench2 "$net.0/24")
  [ -n "$key" ] || { ERR[atenet2]="tok network create / key issue failed: $(tail -1 "$WORK/tok-admin.log")"; return 1; }
  node_up n 1 "$d" a2-node-n || { ERR[atenet2]="node n did not listen: $(tail -2 "$WORK/a2-node-n.log")"; return 1; }
  node_up m 2 "$d" a2-node-m || { ERR[atenet2]="node m did not listen: $(tail -2 "$WORK/a2-node-m.log")"; return 1; }
  if ! tok_up a 1 "$key" "$net.11/24" a2-tok-a || ! tok_up b 2 "$key" "$net.12/24" a2-tok-b; then ERR[atenet2]="tok did not start"; return 1; fi
  reach "$net.12" 40 || { ERR[atenet2]="$net.12 unreachable across the nodes: $(tail -2 "$WORK/a2-tok-a.log")"; return 1; }
  MTU[atenet2]=$(nsx a cat /sys/class/net/tap0/mtu)/$(nsx b cat /sys/class/net/tap0/mtu)
  rss_before a2-node-n a2-node-m
  measure atenet2 "$net.12" a2-tok-a a2-node-n a2-node-m a2-tok-b
  rss_after atenet2 a2-node-n a2-node-m
}

# ---------- wireguard-go (interface names are host-wide: UAPI sockets) ----------
run_wg() {
  local ia=$FAMILY$$a ib=$FAMILY$$b d=$WORK/wg net=10.98.0
  mkdir -p "$d"
  SOCKS+=("/var/run/wireguard/$ia.sock" "/var/run/wireguard/$ib.sock")
  (umask 077; timeout 5 wg genkey >"$d/a.key"; timeout 5 wg genkey >"$d/b.key")
  timeout 5 wg pubkey <"$d/a.key" >"$d/a.pub"; timeout 5 wg pubkey <"$d/b.key" >"$d/b.pub"
  if ! bg a wg-a env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ia" || ! bg b wg-b env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ib"; then
    ERR[wg]="wireguard-go did not start"; return 1
  fi
  wait_for 5 test -S "/var/run/wireguard/$ia.sock" -a -S "/var/run/wireguard/$ib.sock" || { ERR[wg]="wireguard-go made no UAPI socket: $(tail -2 "$WORK/wg-a.log")"; return 1; }
  nsx a wg set "$ia" private-key "$d/a.key" listen-port 51820 peer "$(cat "$d/b.pub")" endpoint "$UL.12:51820" allowed-ips "$net.12/32" || { ERR[wg]="wg set failed"; return 1; }
  nsx b wg set "$ib" private-key "$d/b.key" listen-port 51820 peer "$(cat "$d/a.pub")" endpoint "$UL.11:51820" allowed-ips "$net.11/32" || { ERR[wg]="wg set failed"; return 1; }
  nsx a ip addr add "$net.11/24" dev "$ia"; nsx b ip addr add "$net.12/24" dev "$ib"
  nsx a ip link set "$ia" mtu "$INNER_MTU" up; nsx b ip link set "$ib" mtu "$INNER_MTU" up
  reach "$net.12" 20 || { ERR[wg]="$net.12 unreachable"; return 1; }
  MTU[wg]=$(nsx a cat "/sys/class/net/$ia/mtu")/$(nsx b cat "/sys/class/net/$ib/mtu")
  measure wg "$net.12" wg-a wg-b
}

# ---------- tinc 1.0, switch mode ----------
run_tinc() {
  local d=$WORK/tinc net=10.97.0 h x
  for x in a b; do
    mkdir -p "$d/$x/hosts"
    h=11; [ "$x" = b ] && h=12
    {
      echo "Name = node$x"
      echo "Mode = switch"
      echo "DeviceType = tap"
      echo "Interface = tinc0"
      echo "AddressFamily = ipv4"
      echo "BindToAddress = $UL.$h"
      echo "Port = 655"
      [ "$x" = a ] && echo "ConnectTo = nodeb"
    } >"$d/$x/tinc.conf"
    # shellcheck disable=SC2016
    printf '#!/bin/sh\nip link set "$INTERFACE" mtu %s up\nip addr add %s/24 dev "$INTERFACE"\n' "$INNER_MTU" "$net.$h" >"$d/$x/tinc-up"
    chmod +x "$d/$x/tinc-up"
    {
      echo "Address = $UL.$h"
      echo "Port = 655"
      [ -n "$TINC_CIPHER" ] && echo "Cipher = $TINC_CIPHER"
      [ -n "$TINC_DIGEST" ] && echo "Digest = $TINC_DIGEST"
      [ -n "$TINC_MACLEN" ] && echo "MACLength = $TINC_MACLEN"
    } >"$d/$x/hosts/node$x"
    timeout 60 tincd -c "$d/$x" -K 2048 </dev/null >"$WORK/tinc-$x.keygen.log" 2>&1 || { ERR[tinc]="tincd -K failed: $(tail -1 "$WORK/tinc-$x.keygen.log")"; return 1; }
  done
  cp "$d/a/hosts/nodea" "$d/b/hosts/"; cp "$d/b/hosts/nodeb" "$d/a/hosts/"
  bg b tinc-b tincd -c "$d/b" -D -d1 --pidfile="$d/b.pid" || { ERR[tinc]="tincd did not start"; return 1; }
  wait_for 10 listening b u 655
  bg a tinc-a tincd -c "$d/a" -D -d1 --pidfile="$d/a.pid" || { ERR[tinc]="tincd did not start"; return 1; }
  reach "$net.12" 30 || { ERR[tinc]="$net.12 unreachable: $(tail -2 "$WORK/tinc-a.log")"; return 1; }
  MTU[tinc]=$(nsx a cat /sys/class/net/tinc0/mtu)/$(nsx b cat /sys/class/net/tinc0/mtu)
  measure tinc "$net.12" tinc-a tinc-b
}

# ---------- kernel VXLAN (no crypto, no process) ----------
run_vxlan() {
  local net=10.96.0 x h r
  for x in a b; do
    h=11 r=12; [ "$x" = b ] && h=12 r=11
    nsx "$x" ip link add vx0 type vxlan id 42 local "$UL.$h" remote "$UL.$r" dstport 4789 dev ul0 || { ERR[vxlan]="ip link add vxlan failed"; return 1; }
    nsx "$x" ip link set vx0 mtu "$INNER_MTU" up
    nsx "$x" ip addr add "$net.$h/24" dev vx0
  done
  reach "$net.12" 10 || { ERR[vxlan]="$net.12 unreachable"; return 1; }
  MTU[vxlan]=$(nsx a cat /sys/class/net/vx0/mtu)/$(nsx b cat /sys/class/net/vx0/mtu)
  measure vxlan "$net.12"
  nsx a ip link del vx0; nsx b ip link del vx0
}

# ---------- run ----------
yn() { grep -qw "$1" /proc/cpuinfo && echo yes || echo no; }
HEADER="$(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), nproc $(nproc), CPU $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
HEADER+=" (aes $(yn aes), sha_ni $(yn sha_ni), vaes $(yn vaes)), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
log "$HEADER"
awk '{exit !($1 > 1.0)}' /proc/loadavg && log "warning: load average $(cut -d' ' -f1 /proc/loadavg) before the runs: other work shares the CPUs and lowers every path"
for v in $ONLY; do
  log "== ${NAME[$v]} (load average $(cut -d" " -f1 /proc/loadavg))"
  "run_$v" || log "${NAME[$v]}: ${ERR[$v]}"
  stop_all
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------- report ----------
num() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
ratio() { if num "${1:-}" && num "${2:-}" && awk -v r="$2" 'BEGIN{exit !(r > 0)}'; then awk -v x="$1" -v r="$2" 'BEGIN{printf "%.2f", x/r}'; else echo n/a; fi; }
pts() { if num "${1:-}" && num "${2:-}"; then awk -v x="$1" -v r="$2" 'BEGIN{printf "%+.1f pt", x - r}'; else echo n/a; fi; } # loss: difference
best() { # best max|min A B: the better of two numbers (either may be missing)
  if num "${2:-}" && num "${3:-}"; then awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN{ print ((m == "max") == (a+0 >= b+0)) ? a : b }'
  elif num "${2:-}"; then echo "$2"; else echo "${3:-}"; fi
}
field() { local a; read -ra a <<<"${1:-}"; echo "${a[$2]:-x}"; } # field "x y z" N ("x": missing)
cell() { # the table row of PATH
  local t=$1
  if [ -n "${ERR[$t]:-}" ] && [ -z "${R1[$t]:-}" ]; then echo "| ${NAME[$t]} | failed | | | | | | |"; return; fi
  echo "| ${NAME[$t]} | ${MTU[$t]:-?} | ${R1[$t]:-} | ${R4[$t]:-} | ${RU[$t]:-} | $(pcell "${PI[$t]:-fail}") | $(pcell "${PL[$t]:-fail}") | ${CPU[$t]:-} |"
}
ratio_row() { # ratio_row LABEL X-PATH values of the reference: TCP1 TCP4 LOSS PI50 PI99 PL50 PL99 CPU
  local t=$1 label=$2; shift 2
  echo "| $label | | $(ratio "${R1[$t]:-}" "$1") | $(ratio "${R4[$t]:-}" "$2") | $(pts "${RU[$t]:-}" "$3") |" \
    "$(ratio "$(field "${PI[$t]:-}" 0)" "$4") / $(ratio "$(field "${PI[$t]:-}" 1)" "$5") |" \
    "$(ratio "$(field "${PL[$t]:-}" 0)" "$6") / $(ratio "$(field "${PL[$t]:-}" 1)" "$7") | $(ratio "${CPU[$t]:-}" "$8") |"
}
refs() { # refs PATH: its values in ratio_row order
  local t=$1
  echo "${R1[$t]:-x} ${R4[$t]:-x} ${RU[$t]:-x} $(field "${PI[$t]:-}" 0) $(field "${PI[$t]:-}" 1) $(field "${PL[$t]:-}" 0) $(field "${PL[$t]:-}" 1) ${CPU[$t]:-x}"
}
report() {
  local v a w tn i k
  echo "End-to-end benchmark (scripts/bench/vpn.sh): $HEADER, at end $LOAD_END."
  echo "atenet $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?); $(command -v wireguard-go >/dev/null && echo "wireguard-go $(wireguard-go --version 2>/dev/null | grep -o 'v[0-9.]*' | head -1)"); $(command -v tincd >/dev/null && tincd --version 2>/dev/null | head -1 | sed 's/ (.*//') (cipher ${TINC_CIPHER:-default}, digest ${TINC_DIGEST:-default}, MAC ${TINC_MACLEN:-default}); $(iperf3 --version | head -1 | cut -d' ' -f1-2)."
  echo "iperf3 TCP -t $T_TCP (1 and 4 streams); UDP -b $UDP_RATE -l $UDP_LEN -t $T_UDP; ping -c $PING_N -i $PING_I idle and during a TCP 1-stream run (p50/p99, nearest rank);"
  echo "CPU s/GB: utime+stime (+children) of the VPN's own processes over the TCP 1-stream run / GB received. Inner MTU a/b as read off the interfaces."
  echo
  echo "| path | inner MTU | TCP 1 Gbit/s | TCP 4 Gbit/s | UDP $UDP_RATE loss % | ping idle p50 / p99 ms | ping loaded p50 / p99 ms | CPU s/GB |"
  echo "|---|---|---|---|---|---|---|---|"
  for v in $ONLY; do cell "$v"; done
  if [[ " $ONLY " == *" atenet1 "* ]]; then
    # shellcheck disable=SC2046
    [[ " $ONLY " == *" wg "* ]] && ratio_row atenet1 "atenet-1node / wireguard-go" $(refs wg)
    # shellcheck disable=SC2046
    [[ " $ONLY " == *" tinc "* ]] && ratio_row atenet1 "atenet-1node / tinc" $(refs tinc)
    if [[ " $ONLY " == *" wg "* && " $ONLY " == *" tinc "* ]]; then
      read -ra w <<<"$(refs wg)"; read -ra tn <<<"$(refs tinc)"
      k=()
      for i in 0 1 2 3 4 5 6 7; do
        if ((i < 2)); then k+=("$(best max "${w[$i]}" "${tn[$i]}")"); else k+=("$(best min "${w[$i]}" "${tn[$i]}")"); fi
      done
      ratio_row atenet1 "atenet-1node / best of (wireguard-go, tinc)" "${k[@]}"
    fi
    # shellcheck disable=SC2046
    [[ " $ONLY " == *" atenet2 "* ]] && ratio_row atenet2 "atenet-2node / atenet-1node" $(refs atenet1)
  fi
  echo
  echo "Ratio rows: first path / second, except UDP loss: the difference in percentage points. Throughput above 1, latency and CPU below 1 and negative loss favour the first path. Best of: the higher throughput, the lower latency, loss and CPU, column by column."
  for v in $ONLY; do
    [ -n "${SPLIT[$v]:-}" ] && echo "- ${NAME[$v]} CPU s/GB by process: ${SPLIT[$v]}"
  done
  local other=""
  for v in $ONLY; do [ -n "${OTHER[$v]:-}" ] && other+="${other:+, }${NAME[$v]} ${OTHER[$v]}"; done
  [ -n "$other" ] && echo "- CPU s used by other work on the host (outside this script) during each TCP 1-stream run of $T_TCP s (of $(($(nproc) * T_TCP)) available; near 0 on a quiet machine): $other"
  for v in $ONLY; do
    [ -n "${RSS[$v]:-}" ] && echo "- ${NAME[$v]} node RSS (VmRSS) before -> after its runs: ${RSS[$v]}"
  done
  for v in $ONLY; do
    [ -n "${RUR[$v]:-}" ] && echo "- ${NAME[$v]}: UDP received ${RUR[$v]} Gbit/s; TCP load during the loaded ping ${RL[$v]:-?} Gbit/s${DROPS[$v]:+; UDP RcvbufErrors (all sockets, iperf3 too) by namespace: ${DROPS[$v]}}"
  done
  for v in $ONLY; do
    [ -n "${SILENT[$v]:-}" ] && echo "- ${NAME[$v]}: a tok found its node silent for 3 s and reconnected (count, during or just after): ${SILENT[$v]}"
  done
  for v in $ONLY; do [ -n "${ERR[$v]:-}" ] && echo "- ${NAME[$v]}: error: ${ERR[$v]}"; done
  return 0
}
echo
if [ -n "$OUT" ]; then report | tee "$OUT"; else report; fi
exit 0
