# shellcheck shell=bash
# lib_nat.sh: the "internet" of the NAT tests and an unprivileged node.
# Source after lib.sh.
#
# - inet_attach NODE INET: a veth NODE/wan0 <-> INET/eth0 (created directly
#   inside both namespaces), NODE = $WAN_NET.1, INET = $WAN_NET.2, and the
#   node's default route via INET. INET gets no other link and no default
#   route: it reaches the node's wan address and nothing else, and with
#   ip_forward off (a new namespace's default) it forwards nothing. So the
#   node's "outside" is INET, and no packet of the test ever leaves the
#   test's namespaces.
# - inet services (all bound to the INET address, bounded by DAEMON_T):
#   dnsmasq answering only the test name (no upstream: --no-resolv, no
#   /etc/hosts, no config file), an HTTP server, an iperf3 server, a UDP echo.
# - the node runs as $NAT_USER:$NAT_GROUP without any capability (setpriv),
#   with its data dir owned by that user; tok admin commands that write the
#   chain run as the same user so that every file stays the node's.

WAN_NET=198.18.1            # node <-> internet /24
NODE_WAN=$WAN_NET.1
INET_IP=$WAN_NET.2
TEST_NAME=test.example      # the name dnsmasq answers (with $INET_IP)
HTTP_PORT=8000              # inet HTTP server
UDP_PORT=7777               # inet UDP echo
NAT_USER=nobody
NAT_GROUP=nogroup
NAT_TOOL=$TOOLS/nat_tool.py

# as_nat_user CMD...: CMD as $NAT_USER, no supplementary groups, no capabilities
# (inheritable and bounding sets emptied, no_new_privs)
as_nat_user() {
  setpriv --reuid="$NAT_USER" --regid="$NAT_GROUP" --clear-groups --inh-caps=-all \
    --bounding-set=-all --no-new-privs -- "$@"
}

# inet_attach NODE INET
inet_attach() {
  local node=$1 inet=$2
  veth "$node" wan0 "$inet" eth0
  nsx "$node" ip addr add "$NODE_WAN/24" dev wan0 || fail "address $NODE_WAN on $node/wan0"
  nsx "$inet" ip addr add "$INET_IP/24" dev eth0 || fail "address $INET_IP on $inet/eth0"
  nsx "$node" ip route add default via "$INET_IP" dev wan0 || fail "default route of $node"
  nsx "$inet" sysctl -qw net.ipv4.ip_forward=0
  # ARP resolved both ways before anything is timed
  wait_for 5 ping_ok "$node" "$INET_IP" || fail "$node cannot ping $INET_IP over wan0"
}

# udp_listening ROLE PORT: a UDP socket bound to PORT in ROLE
udp_listening() { [ -n "$(nsx "$1" ss -Hlun "sport = :$2")" ]; }

# inet_services INET: dnsmasq, HTTP, iperf3 and UDP echo on $INET_IP; returns
# once each answers (or listens).
inet_services() {
  local inet=$1
  mkdir -p "$WORK/www"
  echo "hello from the internet namespace $PFX" >"$WORK/www/index.html"
  head -c 1048576 /dev/zero >"$WORK/www/1m.bin"
  chmod -R a+rX "$WORK/www"
  bg "$inet" dnsmasq dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
    --address="/$TEST_NAME/$INET_IP" --listen-address="$INET_IP" --bind-interfaces \
    --except-interface=lo --pid-file="$WORK/dnsmasq.pid" --log-queries --log-facility=- \
    --user=root --group=root --cache-size=0
  bg "$inet" http-inet python3 "$NAT_TOOL" http-serve "$INET_IP" "$HTTP_PORT" "$WORK/www"
  bg "$inet" iperf3-inet iperf3 -s -B "$INET_IP"
  bg "$inet" udp-echo python3 "$NAT_TOOL" udp-echo "$INET_IP" "$UDP_PORT"
  wait_for 10 udp_listening "$inet" 53 || fail "dnsmasq in $inet does not listen: $(tail -3 "$LOG/dnsmasq.err")"
  wait_for 10 port_listening "$inet" "$HTTP_PORT" || fail "HTTP server in $inet does not listen: $(tail -3 "$LOG/http-inet.err")"
  wait_for 10 port_listening "$inet" 5201 || fail "iperf3 server in $inet does not listen: $(tail -3 "$LOG/iperf3-inet.err")"
  wait_for 10 udp_listening "$inet" "$UDP_PORT" || fail "UDP echo in $inet does not listen: $(tail -3 "$LOG/udp-echo.err")"
  say "internet namespace $inet: dnsmasq ($TEST_NAME -> $INET_IP), http :$HTTP_PORT, iperf3 :5201, udp echo :$UDP_PORT"
}

# resolves_in ROLE NAME IP: NAME resolves to IP in ROLE (through ROLE's resolv.conf)
resolves_in() { nsx "$1" getent ahostsv4 "$2" | grep -q "^$3 "; }

# nat_data_dir DIR: an empty data dir owned by the node's user (the work dir
# becomes traversable, not readable, for that user)
nat_data_dir() {
  chmod 711 "$WORK"
  mkdir -p -m 700 "$1"
  chown "$NAT_USER:$NAT_GROUP" "$1"
}
# ntok ARGS...: tok as the node's user (admin commands writing the chain)
ntok() { timeout -k 2 "$STEP_T" setpriv --reuid="$NAT_USER" --regid="$NAT_GROUP" --clear-groups -- "$TOK_BIN" "$@"; }

# nat_node_start ROLE HOST DATA_DIR [EXTRA...]: `atenet serve` as $NAT_USER without
# capabilities, in ROLE, with unprivileged ICMP echo sockets allowed for every
# group in ROLE (net.ipv4.ping_group_range is per namespace). Tag node-ROLE.
nat_node_start() {
  local role=$1 host=$2 dir=$3; shift 3
  nsx "$role" sysctl -qw net.ipv4.ping_group_range="0 2147483647" || fail "ping_group_range in $role"
  bg "$role" "node-$role" setpriv --reuid="$NAT_USER" --regid="$NAT_GROUP" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    env RUST_LOG="${RUST_LOG:-info}" "$ATENET_BIN" serve --data-dir "$dir" \
    --listen "$(ulip "$host"):$PORT" --metrics "$METRICS" "$@"
  wait_for 15 node_ready "$role" "$host" || fail "node $role did not come up; stderr: $(tail -5 "$LOG/node-$role.err")"
  local st=/proc/${PID[node-$role]}/status
  grep -q "^Uid:[[:space:]]*$(id -u "$NAT_USER")[[:space:]]" "$st" || fail "node $role does not run as $NAT_USER: $(grep ^Uid "$st")"
  grep -q '^CapEff:[[:space:]]*0*$' "$st" || fail "node $role has capabilities: $(grep ^Cap "$st" | tr '\n' ' ')"
  grep -q '^CapPrm:[[:space:]]*0*$' "$st" || fail "node $role has permitted capabilities: $(grep ^CapPrm "$st")"
  say "node $role up on $(ulip "$host"):$PORT as $NAT_USER, no capabilities (pid ${PID[node-$role]})"
}

# nat_flows DATA_DIR: the NAT flows the nodes of DATA_DIR report in `tok status --json`
# (summed over nodes); fails when the documents have no NAT section
# nat_flows DATA_DIR [KIND,...]: only those kinds (e.g. tcp,tcp_time_wait)
nat_flows() { tok status --json --data-dir "$1" 2>>"$LOG/tok-status.err" | python3 "$NAT_TOOL" nat-flows "${2:-total}"; }
# nat_flows_le DATA_DIR MAX [KIND,...]
nat_flows_le() { local n; n=$(nat_flows "$1" "${3:-total}") && ((n <= $2)); }

# http_get ROLE URL [MAX_SECONDS]: body of URL fetched from ROLE with curl
http_get() { nsxt "$((${3:-5} + 2))" "$1" curl -sS --fail --max-time "${3:-5}" "$2"; }
# http_ok ROLE URL: URL answers 200 within 3 s
http_ok() { http_get "$1" "$2" 3 >/dev/null 2>&1; }

# nat_diag: the node's NAT/DNS metrics and `tok status --json` into $LOG/nat-diag.txt
# (for the failure message's reader); nat_fail MESSAGE: nat_diag, then fail
nat_diag() {
  {
    echo "=== $(date -u +%T) metrics (nat, dns, gateway, drops)"
    metrics n1 2>&1 | grep -Ei 'nat|dns|gateway|drop|publish' | grep -v '^#'
    echo "=== tok status --json"
    tok status --json --data-dir "$D" 2>&1
  } >>"$LOG/nat-diag.txt" 2>&1
}
nat_fail() { nat_diag; fail "$* (NAT metrics and status: $LOG/nat-diag.txt)"; }
