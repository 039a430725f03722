#!/usr/bin/env bash
# vpn.sh: end-to-end throughput and latency of atenet (tok -> atenet -> tok)
# against wireguard-go between the same pair of namespaces, in one run.
# Not a test: prints a markdown table with both and the ratio.
#
#   sudo scripts/bench/vpn.sh
#
# Topology (all inside namespaces this script makes and removes):
#   a (198.18.0.11) --+
#   b (198.18.0.12) --+-- bridge in namespace "ul"
#   n (198.18.0.1)  --+   (atenet serve; wireguard-go does not use it)
# atenet overlay 10.99.0.1 (tok in a) <-> 10.99.0.2 (tok in b), via the node in n.
# wireguard-go overlay 10.98.0.1 (a) <-> 10.98.0.2 (b), directly.
# No traffic leaves the namespaces: none has a default route or a link to the host.
#
# Env: T_TCP=10 (seconds per iperf3 run), PING_N=20, WG_MTU=1380 (same inner
#      MTU as tok's default), INSTALL=1 (apt-get install missing tools),
#      ATENET_BIN/TOK_BIN (default: build with cargo, ${CARGO_TARGET_DIR:-target}/release),
#      KEEP_LOGS=DIR (copy logs there on exit).
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FAMILY=atnb
P=$FAMILY-$$
T_TCP=${T_TCP:-10}
PING_N=${PING_N:-20}
WG_MTU=${WG_MTU:-1380}
INSTALL=${INSTALL:-1}
DAEMON_T=900
PORT=7400
UL=198.18.0
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
PIDS=() NETNS=() SOCKS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"

# ---------- hygiene ----------
remove_leftovers() { # namespaces and files of a killed earlier run (owner pid gone)
  local ns owner p
  for ns in $(timeout 10 ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FAMILY-[0-9]*-"); do
    owner=${ns#"$FAMILY"-}; owner=${owner%%-*}
    [ -r "/proc/$owner/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$owner/stat" && continue
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null && log "removed leftover namespace $ns"
  done
  for p in /tmp/"$FAMILY"-[0-9]*.*; do
    [ -e "$p" ] || continue
    owner=${p##*/}; owner=${owner#"$FAMILY"-}; owner=${owner%%.*}
    [ -r "/proc/$owner/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$owner/stat" || rm -rf "$p"
  done
}
cleanup() {
  local p ns i busy
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
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
    timeout 10 ip netns del "$ns" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  for p in "${SOCKS[@]}"; do rm -f "$p"; done
  [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp -r "$WORK"/. "$KEEP_LOGS"/ 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
remove_leftovers

# ---------- prerequisites ----------
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v wireguard-go >/dev/null || need+=(wireguard-go)
command -v wg >/dev/null || need+=(wireguard-tools)
if ((${#need[@]})); then
  [ "$INSTALL" = 1 ] || die "missing: ${need[*]} (apt-get install ${need[*]})"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >"$WORK/apt.log" 2>&1
  timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${need[@]}" >>"$WORK/apt.log" 2>&1 \
    || die "apt-get install failed: $(tail -1 "$WORK/apt.log")"
fi
target=${CARGO_TARGET_DIR:-$ROOT/target}
case $target in /*) ;; *) target=$ROOT/$target ;; esac
if [ -z "${ATENET_BIN:-}" ] || [ -z "${TOK_BIN:-}" ]; then
  log "cargo build --release -p atenet -p tok"
  (cd "$ROOT" && timeout 1800 cargo build --release -q -p atenet -p tok) >&2 || die "build failed"
fi
ATENET_BIN=${ATENET_BIN:-$target/release/atenet}
TOK_BIN=${TOK_BIN:-$target/release/tok}

# ---------- namespaces ----------
nsn() { echo "$P-$1"; }
nsx() { local ns=$1; shift; timeout -k 2 60 ip netns exec "$(nsn "$ns")" "$@"; }
bg() { # bg NS TAG CMD...: bounded background program, log in $WORK/TAG.log
  local ns=$1 tag=$2; shift 2
  timeout -k 5 "$DAEMON_T" ip netns exec "$(nsn "$ns")" "$@" >"$WORK/$tag.log" 2>&1 </dev/null &
  PIDS+=($!)
}
wait_for() { # wait_for SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do ((SECONDS >= end)) && return 1; sleep 0.1; done
}
ns_add() {
  timeout 10 ip netns add "$(nsn "$1")" || die "ip netns add"
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
attach a 11
attach b 12

# ---------- measurement ----------
declare -A R1 R4 RP RA ERR MTU
gbps() { python3 -c 'import json,sys
try: print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception: print("fail")'; }
iperf() { # iperf DST ARGS...: server in b, client in a; prints Gbit/s
  local dst=$1 srv; shift
  timeout 60 ip netns exec "$(nsn b)" iperf3 -s -1 -B "$dst" >/dev/null 2>&1 &
  srv=$!; PIDS+=("$srv")
  wait_for 5 sh -c "ip netns exec $(nsn b) ss -Hltn 'sport = :5201' | grep -q ." || { echo fail; return; }
  nsx a iperf3 -c "$dst" -J -t "$T_TCP" "$@" 2>/dev/null | gbps
  wait "$srv" 2>/dev/null
}
measure() { # measure TAG DST
  local t=$1 dst=$2 out
  out=$(nsx a ping -n -c "$PING_N" -i 0.2 -W 1 "$dst" 2>/dev/null)
  RP[$t]=$(sed -n 's/.*time=\([0-9.]*\).*/\1/p' <<<"$out" | sort -g |
    awk '{v[NR]=$1} END{ if (NR==0) print "fail"; else if (NR%2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2 }')
  RA[$t]=$(sed -n 's|^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$out"); RA[$t]=${RA[$t]:-fail}
  R1[$t]=$(iperf "$dst")
  R4[$t]=$(iperf "$dst" -P 4)
  log "$t: ping p50 ${RP[$t]} ms (avg ${RA[$t]}), TCP 1 stream ${R1[$t]} Gbit/s, 4 streams ${R4[$t]} Gbit/s"
}
stop_all() { # end every program in a, b and n (between the two VPNs)
  local ns p
  for ns in a b n; do for p in $(timeout 5 ip netns pids "$(nsn "$ns")" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done; done
  wait_for 5 sh -c "[ -z \"\$(ip netns pids $(nsn a))\$(ip netns pids $(nsn b))\$(ip netns pids $(nsn n))\" ]" || true
  for ns in a b n; do for p in $(timeout 5 ip netns pids "$(nsn "$ns")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; done
}

# ---------- atenet: tok (a) -> atenet (n) -> tok (b) ----------
run_atenet() {
  local d=$WORK/data key
  mkdir -p -m 700 "$d"
  timeout 20 "$TOK_BIN" network create bench --subnet 10.99.0.0/24 --data-dir "$d" >"$WORK/tok-admin.log" 2>&1 \
    || { ERR[atenet]="tok network create failed: $(tail -1 "$WORK/tok-admin.log")"; return 1; }
  key=$(timeout 20 "$TOK_BIN" key issue bench --data-dir "$d" 2>>"$WORK/tok-admin.log" | grep -o 'ate1[A-Za-z0-9_-]*' | head -1)
  [ -n "$key" ] || { ERR[atenet]="tok key issue printed no key"; return 1; }
  bg n atenet "$ATENET_BIN" serve --data-dir "$d" --listen "$UL.1:$PORT"
  wait_for 10 sh -c "ip netns exec $(nsn n) ss -Hlun 'sport = :$PORT' | grep -q ." || { ERR[atenet]="atenet did not listen: $(tail -2 "$WORK/atenet.log")"; return 1; }
  bg a tok-a "$TOK_BIN" connect "$UL.1:$PORT" --key "$key" --tap tap0 --address 10.99.0.1/24
  bg b tok-b "$TOK_BIN" connect "$UL.1:$PORT" --key "$key" --tap tap0 --address 10.99.0.2/24
  wait_for 20 nsx a ping -c 1 -W 1 10.99.0.2 || { ERR[atenet]="10.99.0.2 unreachable: $(tail -2 "$WORK/tok-a.log")"; return 1; }
  MTU[atenet]=$(nsx a cat /sys/class/net/tap0/mtu)
  measure atenet 10.99.0.2
}

# ---------- wireguard-go between a and b (interface names are host-wide: UAPI sockets) ----------
run_wg() {
  local ia="wg$$a" ib="wg$$b" d=$WORK/wg
  ia=${ia:0:15} ib=${ib:0:15}
  mkdir -p "$d"
  SOCKS+=("/var/run/wireguard/$ia.sock" "/var/run/wireguard/$ib.sock")
  (umask 077; wg genkey >"$d/a.key"; wg genkey >"$d/b.key")
  wg pubkey <"$d/a.key" >"$d/a.pub"; wg pubkey <"$d/b.key" >"$d/b.pub"
  bg a wg-a env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ia"
  bg b wg-b env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$ib"
  wait_for 5 test -S "/var/run/wireguard/$ia.sock" -a -S "/var/run/wireguard/$ib.sock" || { ERR[wireguard-go]="wireguard-go did not start: $(tail -2 "$WORK/wg-a.log")"; return 1; }
  nsx a wg set "$ia" private-key "$d/a.key" listen-port 51820 peer "$(cat "$d/b.pub")" endpoint "$UL.12:51820" allowed-ips 10.98.0.2/32 || { ERR[wireguard-go]="wg set failed"; return 1; }
  nsx b wg set "$ib" private-key "$d/b.key" listen-port 51820 peer "$(cat "$d/a.pub")" endpoint "$UL.11:51820" allowed-ips 10.98.0.1/32 || { ERR[wireguard-go]="wg set failed"; return 1; }
  nsx a ip addr add 10.98.0.1/24 dev "$ia"; nsx b ip addr add 10.98.0.2/24 dev "$ib"
  nsx a ip link set "$ia" mtu "$WG_MTU" up; nsx b ip link set "$ib" mtu "$WG_MTU" up
  wait_for 20 nsx a ping -c 1 -W 1 10.98.0.2 || { ERR[wireguard-go]="10.98.0.2 unreachable"; return 1; }
  MTU[wireguard-go]=$WG_MTU
  measure wireguard-go 10.98.0.2
}

log "atenet: tok -> atenet -> tok"
run_atenet || log "atenet: ${ERR[atenet]}"
stop_all
log "wireguard-go"
run_wg || log "wireguard-go: ${ERR[wireguard-go]}"
stop_all

# ---------- report ----------
ratio() { awk -v x="$1" -v r="$2" 'BEGIN{ if (x !~ /^[0-9.]+$/ || r !~ /^[0-9.]+$/ || r+0 == 0) print "n/a"; else printf "%.2f", x/r }'; }
echo
echo "Host: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d); iperf3 TCP -t $T_TCP (1 and 4 streams), ping -c $PING_N -i 0.2."
echo "atenet: tok (a) -> atenet (n) -> tok (b), two UDP hops; wireguard-go: a -> b, one hop. Inner MTU: atenet ${MTU[atenet]:-?}, wireguard-go ${MTU[wireguard-go]:-?}."
echo
echo "| path | TCP 1 stream Gbit/s | TCP 4 streams Gbit/s | ping p50 ms | ping avg ms |"
echo "|---|---|---|---|---|"
for v in atenet wireguard-go; do
  if [ -n "${ERR[$v]:-}" ]; then echo "| $v | failed | failed | failed | failed |"; continue; fi
  echo "| $v | ${R1[$v]} | ${R4[$v]} | ${RP[$v]} | ${RA[$v]} |"
done
echo "| atenet / wireguard-go | $(ratio "${R1[atenet]:-}" "${R1[wireguard-go]:-}") | $(ratio "${R4[atenet]:-}" "${R4[wireguard-go]:-}") | $(ratio "${RP[atenet]:-}" "${RP[wireguard-go]:-}") | $(ratio "${RA[atenet]:-}" "${RA[wireguard-go]:-}") |"
for v in atenet wireguard-go; do [ -n "${ERR[$v]:-}" ] && echo "- $v: ${ERR[$v]}"; done
exit 0
