#!/usr/bin/env bash
# dhcp.sh: the DHCP benchmark (issue 13). Not a test, never CI. In one run:
#
#   atenet  `atenet serve` in namespace n with one network (DHCP on, a /16
#           pool); benchkit's `dhcp-load` in namespace l drives it with
#           CLIENTS distinct clients, each its own vswitch session (Noise
#           handshake under an access key, keepalives: what `tok connect`
#           does) and its own MAC, CONCURRENCY four-way exchanges
#           (DISCOVER/OFFER/REQUEST/ACK) in flight at most. perfdhcp cannot
#           drive the node: it sends many chaddrs from one MAC, which the node
#           rightly drops as spoofing (chaddr must be the frame's source MAC).
#   kea     kea-dhcp4-server (Debian, memfile lease file) in namespace k on a
#           veth to namespace p with a /16 pool; `perfdhcp` in p, KEA_CLIENTS
#           distinct chaddrs (-R), a sweep of offered rates (-r KEA_RATES),
#           each bounded by -p KEA_T seconds; the best rate with <= 1 %
#           exchanges unanswered is Kea's figure.
#
# Prints both workloads, leases/s, p50/p99 of the four-way exchange and the
# ratio atenet/kea. dhcp-load's exchange time is DISCOVER sent -> ACK
# received; perfdhcp's is its DO delay + RA delay per exchange (-x t timers).
#
#   sudo scripts/bench/dhcp.sh
#   sudo CLIENTS=500 CONCURRENCY=128 OUT=/tmp/dhcp.md scripts/bench/dhcp.sh
#
# Topology (namespaces atdh-<pid>-ROLE, removed on exit; a leftover of a
# killed run is removed by the next one):
#   n 198.18.0.1/24 ==veth== l 198.18.0.11.. (one address per 50 clients or
#                                6 handshakes/s: the node allows 64 sessions
#                                and 8 inits/s per source)
#   k 198.18.2.1/24, 198.19.0.1/16 ==veth== p 198.18.2.2/24, 198.19.0.2/16
# atenet's overlay 10.200.0.0/16; kea's subnet 198.19.0.0/16 (perfdhcp, as a
# relay with giaddr 198.19.0.2, sends to 198.19.0.1). No namespace has a
# default route or a link to the host: nothing leaves them. Every step runs
# under `timeout`; a trap removes namespaces and processes on every exit.
#
# Env: CLIENTS=1000 CONCURRENCY=256 HS_RATE=100 (handshakes/s; the node answers
#      128/s) TIMEOUT=60 (s, DHCP phase of dhcp-load), KEA_CLIENTS=$CLIENTS,
#      KEA_RATES="500 1000 2000 4000 8000 16000" (perfdhcp -r sweep), KEA_T=5,
#      ONLY="atenet kea", INSTALL=1 (apt-get install missing Debian packages),
#      ATENET_BIN/TOK_BIN/LOAD_BIN (default: cargo build --release),
#      NODE_LOG=warn (the node's RUST_LOG; its log is $WORK/node.log),
#      KEEP_LOGS=DIR, OUT=FILE (also write the report there).
# shellcheck disable=SC2317 # functions run from traps
set -u
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FAMILY=atdh
P=$FAMILY-$$
CLIENTS=${CLIENTS:-1000}
CONCURRENCY=${CONCURRENCY:-256}
HS_RATE=${HS_RATE:-100}
TIMEOUT=${TIMEOUT:-60}
KEA_CLIENTS=${KEA_CLIENTS:-$CLIENTS}
KEA_RATES=${KEA_RATES:-500 1000 2000 4000 8000 16000}
KEA_T=${KEA_T:-5}
ONLY=${ONLY:-atenet kea}
INSTALL=${INSTALL:-1}
OUT=${OUT:-}
PER_SOURCE=50
PER_KEY=8
PORT=7400
DAEMON_T=900
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
chmod 700 "$WORK"
WRAPS=() NETNS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for v in CLIENTS CONCURRENCY HS_RATE TIMEOUT KEA_CLIENTS KEA_T; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
for v in $KEA_RATES; do [[ $v =~ ^[1-9][0-9]*$ ]] || die "KEA_RATES: '$v' is not a positive integer"; done
((CLIENTS <= 50 * 200)) || die "CLIENTS at most 10000 (source addresses 198.18.0.11..210)"
((HS_RATE <= 6 * 200)) || die "HS_RATE at most 1200 (6/s per source address, 200 of them)"
for v in $ONLY; do [[ " atenet kea " == *" $v "* ]] || die "unknown workload '$v' in ONLY (known: atenet kea)"; done

# ---------- hygiene ----------
owner_alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
remove_leftovers() {
  local ns owner p
  for ns in $(timeout 10 ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FAMILY-[0-9]*-"); do
    owner=${ns#"$FAMILY"-}; owner=${owner%%-*}
    owner_alive "$owner" && continue
    for p in $(timeout 5 ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    timeout 10 ip netns del "$ns" 2>/dev/null && log "removed leftover namespace $ns"
  done
  for p in /tmp/"$FAMILY"-[0-9]*.*; do
    [ -e "$p" ] || continue
    owner=${p##*/}; owner=${owner#"$FAMILY"-}; owner=${owner%%.*}
    owner_alive "$owner" || rm -rf "$p"
  done
}
cleanup() {
  local rc=$? p ns i busy
  trap - EXIT INT TERM HUP
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
command -v ss >/dev/null || need+=(iproute2)
if [[ " $ONLY " == *" kea "* ]]; then
  command -v kea-dhcp4 >/dev/null || need+=(kea-dhcp4-server)
  command -v perfdhcp >/dev/null || need+=(kea-admin)
fi
if ((${#need[@]})); then
  [ "$INSTALL" = 1 ] || die "missing: ${need[*]} (apt-get install ${need[*]}, or INSTALL=1)"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >"$WORK/apt.log" 2>&1
  timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${need[@]}" >>"$WORK/apt.log" 2>&1 \
    || die "apt-get install failed: $(tail -1 "$WORK/apt.log")"
fi
if [[ " $ONLY " == *" atenet "* ]]; then
  target=${CARGO_TARGET_DIR:-$ROOT/target}
  case $target in /*) ;; *) target=$ROOT/$target ;; esac
  if [ -z "${ATENET_BIN:-}" ] || [ -z "${TOK_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ]; then
    log "cargo build --release -p atenet -p tok -p benchkit"
    (cd "$ROOT" && timeout 3000 cargo build --release -q -p atenet -p tok -p benchkit) >&2 || die "build failed"
  fi
  ATENET_BIN=${ATENET_BIN:-$target/release/atenet}
  TOK_BIN=${TOK_BIN:-$target/release/tok}
  LOAD_BIN=${LOAD_BIN:-$target/release/dhcp-load}
  for b in "$ATENET_BIN" "$TOK_BIN" "$LOAD_BIN"; do [ -x "$b" ] || die "no binary at $b"; done
fi

# ---------- namespaces ----------
nsn() { echo "$P-$1"; }
nsx() { local ns=$1; shift; timeout -k 2 60 ip netns exec "$(nsn "$ns")" "$@"; }
nsxt() { local t=$1 ns=$2; shift 2; timeout -k 2 "$t" ip netns exec "$(nsn "$ns")" "$@"; }
wait_for() { # wait_for SECONDS CMD...: poll CMD every 0.1 s
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do ((SECONDS >= end)) && return 1; sleep 0.1; done
}
bg() { # bg NS TAG CMD...: CMD in NS, bounded by DAEMON_T, output in $WORK/TAG.log
  local ns=$1 tag=$2; shift 2
  timeout -k 5 "$DAEMON_T" ip netns exec "$(nsn "$ns")" "$@" >"$WORK/$tag.log" 2>&1 </dev/null &
  WRAPS+=($!)
}
ns_add() {
  timeout 10 ip netns add "$(nsn "$1")" || die "ip netns add $(nsn "$1")"
  NETNS+=("$(nsn "$1")")
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
pair() { # pair NS_A NS_B: veth eth0 in each, up
  timeout 10 ip link add name eth0 netns "$(nsn "$1")" type veth peer name eth0 netns "$(nsn "$2")" || die "veth $1-$2"
  nsx "$1" ip link set eth0 up
  nsx "$2" ip link set eth0 up
}
udp_listening() { [ -n "$(nsx "$1" ss -Hlun "sport = :$2")" ]; }
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
HEADER="$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, $cpu_model"

# ---------- atenet ----------
declare -A RES=()
run_atenet() {
  # enough source addresses for the node's caps: 64 sessions and 8 inits/s
  # (burst 16) per source address; 6/s each at most here
  local sources=$(((CLIENTS + PER_SOURCE - 1) / PER_SOURCE)) keys=$(((CLIENTS + PER_KEY - 1) / PER_KEY))
  ((sources < (HS_RATE + 5) / 6)) && sources=$(((HS_RATE + 5) / 6))
  local i srcs="" d=$WORK/data line
  ns_add n
  ns_add l
  pair n l
  nsx n ip addr add 198.18.0.1/24 dev eth0
  for ((i = 0; i < sources; i++)); do
    nsx l ip addr add "198.18.0.$((11 + i))/24" dev eth0 || die "address on l"
    srcs+="${srcs:+,}198.18.0.$((11 + i))"
  done
  mkdir -p -m 700 "$d"
  timeout 30 "$TOK_BIN" network create bench --subnet 10.200.0.0/16 --data-dir "$d" >>"$WORK/tok.log" 2>&1 \
    || die "tok network create: $(tail -2 "$WORK/tok.log")"
  log "atenet: issuing $keys keys ($PER_KEY clients per key: the node's cap)"
  : >"$WORK/keys"
  for ((i = 0; i < keys; i++)); do
    line=$(timeout 30 "$TOK_BIN" key issue bench --data-dir "$d" 2>>"$WORK/tok.log") || die "tok key issue: $(tail -2 "$WORK/tok.log")"
    grep -o 'ate1[A-Za-z0-9_-]*' <<<"$line" | head -1 >>"$WORK/keys"
  done
  bg n node env RUST_LOG=${NODE_LOG:-warn} "$ATENET_BIN" serve --data-dir "$d" --listen "198.18.0.1:$PORT" --metrics 127.0.0.1:9370
  wait_for 20 udp_listening n "$PORT" || die "atenet did not listen: $(tail -5 "$WORK/node.log")"
  sleep 1 # the first chain poll: the network's services
  log "atenet: dhcp-load, $CLIENTS clients from $sources source addresses, $CONCURRENCY in flight"
  nsxt $((TIMEOUT + CLIENTS / HS_RATE + 90)) l "$LOAD_BIN" --node "198.18.0.1:$PORT" --keys "$WORK/keys" \
    --per-key "$PER_KEY" --sources "$srcs" --clients "$CLIENTS" --concurrency "$CONCURRENCY" \
    --handshake-rate "$HS_RATE" --setup-timeout $((CLIENTS / HS_RATE + 60)) --timeout "$TIMEOUT" \
    >"$WORK/load.out" 2>"$WORK/load.err"
  line=$(grep '^dhcp-load ' "$WORK/load.out" | tail -1)
  [ -n "$line" ] || die "dhcp-load printed no summary: $(tail -5 "$WORK/load.err")"
  log "atenet: $line"
  RES[atenet_line]=$line
  RES[atenet_rate]=$(sed -n 's/.* leases_per_s=\([^ ]*\).*/\1/p' <<<"$line")
  RES[atenet_p50]=$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<<"$line")
  RES[atenet_p99]=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$line")
  RES[atenet_leased]=$(sed -n 's/.* leased=\([^ ]*\).*/\1/p' <<<"$line")
  local pid ticks
  # shellcheck disable=SC2016
  RES[atenet_rcvbuf]="node $(nsx n awk '/^Udp:/ && ++k == 2 {print $6}' /proc/net/snmp), load $(nsx l awk '/^Udp:/ && ++k == 2 {print $6}' /proc/net/snmp)"
  pid=$(timeout 5 ip netns pids "$(nsn n)" | head -1)
  ticks=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null)
  RES[atenet_cpu]=$(awk -v t="${ticks:-0}" -v h="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/h}')
  nsx n curl -sf http://127.0.0.1:9370/metrics >"$WORK/metrics.txt" 2>/dev/null
  RES[atenet_metrics]=$(cat "$WORK/metrics.txt" |
    grep -E '^atenet_(chain_appends_total|dhcp_events_total|dhcp_dropped_total|frames_forwarded_total|packets_sent_total|packets_received_total|send_calls_total|leases|service_frames_unsent_total|send_errors_total|frames_dropped_total)' |
    awk '$2 != 0' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
}

# ---------- kea ----------
run_kea() {
  local c=$WORK/kea-dhcp4.conf line
  ns_add k
  ns_add p
  pair k p
  nsx k ip addr add 198.18.2.1/24 dev eth0
  nsx k ip addr add 198.19.0.1/16 dev eth0
  nsx p ip addr add 198.18.2.2/24 dev eth0
  nsx p ip addr add 198.19.0.2/16 dev eth0
  mkdir -p "$WORK/kea"
  cat >"$c" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "eth0/198.19.0.1" ], "dhcp-socket-type": "udp" },
  "control-socket": { "socket-type": "unix", "socket-name": "$WORK/kea/ctrl.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea/leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
  "subnet4": [ { "id": 1, "subnet": "198.19.0.0/16", "pools": [ { "pool": "198.19.0.10 - 198.19.255.250" } ],
                 "option-data": [ { "name": "routers", "data": "198.19.0.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$WORK/kea/kea.log" } ], "severity": "WARN" } ]
} }
EOF
  nsx k env KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea" kea-dhcp4 -t "$c" >"$WORK/kea-check.log" 2>&1 \
    || die "kea config rejected: $(tail -3 "$WORK/kea-check.log")"
  bg k kea env KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea" kea-dhcp4 -c "$c"
  wait_for 20 udp_listening k 67 || die "kea did not listen: $(tail -5 "$WORK/kea.log")"
  # a sweep of offered rates (perfdhcp -r, each for KEA_T s): the figure is
  # the best reported 4-way rate among runs whose exchanges got an ACK for
  # all but at most 1 %
  local r rate drop best=0
  RES[kea_sweep]=""
  for r in $KEA_RATES; do
    nsxt $((KEA_T + 30)) p perfdhcp -4 -l 198.19.0.2 -r "$r" -R "$KEA_CLIENTS" -p "$KEA_T" \
      -x t 198.19.0.1 >"$WORK/perfdhcp-$r.out" 2>"$WORK/perfdhcp-$r.err"
    line=$(python3 "$ROOT/scripts/bench/perfdhcp_summary.py" "$WORK/perfdhcp-$r.out")
    log "kea: -r $r: $line"
    RES[kea_sweep]+="    - -r $r: $line"$'\n'
    rate=$(sed -n 's/^rate=\([^ ]*\).*/\1/p' <<<"$line")
    drop=$(sed -n 's/.* drop_pct=\([^ ]*\).*/\1/p' <<<"$line")
    if awk -v r="$rate" -v d="$drop" -v b="$best" 'BEGIN{ exit !(r + 0 > b + 0 && d + 0 <= 1) }'; then
      best=$rate
      RES[kea_line]="-r $r: $line"
      RES[kea_p50]=$(sed -n 's/.* fourway_p50_ms=\([^ ]*\).*/\1/p' <<<"$line")
      RES[kea_p99]=$(sed -n 's/.* fourway_p99_ms=\([^ ]*\).*/\1/p' <<<"$line")
    fi
  done
  RES[kea_rate]=$best
  RES[kea_leases]=$(grep -c . "$WORK/kea/leases4.csv" 2>/dev/null)
}

for w in $ONLY; do "run_$w"; done

# ---------- report ----------
{
  echo "## DHCP: $HEADER"
  echo
  if [[ " $ONLY " == *" atenet "* ]]; then
    echo "- atenet: dhcp-load, $CLIENTS distinct clients (own MAC and vswitch session each: handshake, keepalives), $CONCURRENCY exchanges in flight, one DORA each; file store (fdatasync per append)"
    echo "  - ${RES[atenet_line]}"
    echo "  - node CPU (user+sys, whole life: setup and DHCP): ${RES[atenet_cpu]:-?} s; UDP receive-buffer drops (RcvbufErrors) ${RES[atenet_rcvbuf]:-?}; metrics: ${RES[atenet_metrics]:-?}"
  fi
  if [[ " $ONLY " == *" kea "* ]]; then
    echo "- kea: perfdhcp -R $KEA_CLIENTS (distinct chaddrs from one MAC, as a relay) -p $KEA_T at offered rates -r $KEA_RATES against kea-dhcp4 $(kea-dhcp4 -v 2>/dev/null) (memfile, lease file persisted); best rate with <= 1 % unanswered:"
    echo "  - ${RES[kea_line]:-none within 1 % drops} (lease file lines: ${RES[kea_leases]:-?})"
    printf '%s' "${RES[kea_sweep]}"
  fi
  if [ -n "${RES[atenet_rate]:-}" ] && [ -n "${RES[kea_rate]:-}" ]; then
    echo "- ratio atenet/kea leases/s: $(awk -v a="${RES[atenet_rate]}" -v k="${RES[kea_rate]}" 'BEGIN{ if (k + 0 > 0) printf "%.3f", a/k; else print "n/a" }')"
  fi
} | tee "$WORK/report.md"
[ -n "$OUT" ] && cp "$WORK/report.md" "$OUT"
exit 0
