#!/usr/bin/env bash
# Routing between two networks through their gateways (`tok route add|del`).
# Network a (10.77.0.0/24) and b (10.78.0.0/24), two nodes sharing the chain;
# clients with static addresses and a default route via their gateway:
#   ca: network a on n1;  cb: network b on n2;  cb1: network b on n1.
# Without a route ca cannot reach cb. After `tok route add a b`: ca pings cb
# (TTL 63: one router hop) and a 5-second iperf3 runs ca -> cb across the
# nodes; the same ca -> cb1 on one node. After `tok route del a b` neither
# answers any more.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping iperf3

A_NET=10.77.0
B_NET=10.78.0
GWA=$A_NET.1
GWB=$B_NET.1
CA=$A_NET.11
CB=$B_NET.12
CB1=$B_NET.13
underlay
ns_with_ul n1 1
ns_with_ul n2 2
ns_with_ul ca 11
ns_with_ul cb 12
ns_with_ul cb1 13

D=$WORK/data
mkdir -p -m 700 "$D"
net_create "$D" a "$A_NET.0/24"
net_create "$D" b "$B_NET.0/24"
KA=$(key_issue "$D" a)
KB=$(key_issue "$D" b)
[ -n "$KA" ] && [ -n "$KB" ] || fail "tok key issue printed no key"
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 2 || fail "n1 has not both networks' peer sessions: $(metrics n1 | grep '^atenet_peers')"
wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 2 || fail "n2 has not both networks' peer sessions: $(metrics n2 | grep '^atenet_peers')"

tok_start_at ca 1 "$KA" "$CA/24"
tok_start_at cb 2 "$KB" "$CB/24"
tok_start_at cb1 1 "$KB" "$CB1/24"
for r in ca:$GWA cb:$GWB cb1:$GWB; do
  nsx "${r%%:*}" ip route add default via "${r#*:}" dev tap0 || fail "default route in ${r%%:*}"
  reach "${r%%:*}" "${r#*:}" 15
done

ping_quick() { nsx "$1" ping -n -q -c 1 -W 0.5 "$2" >/dev/null 2>&1; }
# never: no answer in 3 tries
never() { local i; for i in 1 2 3; do ping_quick "$1" "$2" && return 1; done; return 0; }
check "ca reaches cb with no route between the networks" never ca "$CB"
say "no route: ca cannot reach cb"

tok route add a b --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok route add a b failed: $(tail -3 "$LOG/tok-admin.log")"
tok route list --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1
say "tok route add a b"
wait_for 10 ping_ok ca "$CB" || fail "ca cannot ping cb within 10 s of tok route add"

# iperf_run FROM TO_ROLE TO_IP LABEL
iperf_run() {
  local from=$1 to=$2 ip=$3 label=$4 tag=iperf3-$2
  bg "$to" "$tag" iperf3 -s -1 -B "$ip"
  wait_for 5 port_listening "$to" 5201 || fail "iperf3 server in $to did not listen"
  if ! nsxt 60 "$from" iperf3 -c "$ip" -t 5 --connect-timeout 5000 -J >"$LOG/$tag.json" 2>"$LOG/$tag.client.err"; then
    fail "$label: the 5-second iperf3 run did not complete: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error",""))' "$LOG/$tag.json" 2>/dev/null) $(tail -2 "$LOG/$tag.client.err")"
  fi
  say "$label: iperf3 5 s: $(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.3f Gbit/s received, %d retransmits" % (e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", 0)))' "$LOG/$tag.json")"
  bg_exit "$tag" || true
}
# routed ROLE IP LABEL: 5 echoes answered with TTL 63 (one hop through a gateway)
routed() {
  local out
  out=$(nsx "$1" ping -n -c 5 -i 0.2 -W 1 "$2" 2>&1) || fail "$3: ping $2 from $1 failed: $(tail -2 <<<"$out" | tr '\n' ' ')"
  grep -q 'ttl=63' <<<"$out" || fail "$3: replies from $2 do not come through one router hop (TTL 63): $(grep -m1 ttl= <<<"$out")"
}

routed ca "$CB" "a on n1 -> b on n2"
routed cb "$CA" "b on n2 -> a on n1"
iperf_run ca cb "$CB" "a on n1 -> b on n2"
say "across the nodes: ping and iperf3 ca -> cb through the gateways"

wait_for 10 ping_ok ca "$CB1" || fail "ca cannot ping cb1 (same node n1)"
routed ca "$CB1" "a -> b on one node"
routed cb1 "$CA" "b -> a on one node"
iperf_run ca cb1 "$CB1" "a -> b on one node (n1)"
say "on one node: ping and iperf3 ca -> cb1 through the gateways"

tok route del a b --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok route del a b failed: $(tail -3 "$LOG/tok-admin.log")"
say "tok route del a b"
wait_for 10 not ping_quick ca "$CB" || fail "ca still pings cb 10 s after tok route del"
check "ca still reaches cb after tok route del" never ca "$CB"
check "ca still reaches cb1 after tok route del" never ca "$CB1"
check "cb still reaches ca after tok route del" never cb "$CA"
# the networks themselves still work
check "ca cannot ping its gateway after route del" ping_ok ca "$GWA"
check "cb1 cannot ping cb (network b across the nodes)" wait_for 10 ping_ok cb1 "$CB"
say "after route del: no traffic between the networks"
say "PASS"
