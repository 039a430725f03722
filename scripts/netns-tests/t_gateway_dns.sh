#!/usr/bin/env bash
# DNS on the gateway's virtual host, over UDP and TCP (issue 13, item 5).
# Topology as t_nat's, without the published ports:
#
#   c1 (tok connect --dhcp) --underlay 198.18.0.0/24-- n1 (atenet, as nobody,
#   no capabilities) --wan0 198.18.1.0/24-- inet (dnsmasq answering only
#   $TEST_NAME; no route anywhere but to n1's wan address)
#
# n1's resolv.conf names inet's dnsmasq. From c1: `dig @GATEWAY` (UDP) and
# `dig +tcp @GATEWAY` (TCP, RFC 7766) resolve the test name; 200 TCP
# connections to GATEWAY:53 are all open at once and each gets its answer
# (the virtual host holds 200 concurrent connections); several queries
# pipelined on one connection all come back. The node's counters show the
# TCP queries were served by the virtual host, not NATed to the resolver.
. "$(dirname "$0")/lib.sh"
. "$HERE/lib_nat.sh"
need_bins
need_tools dig dnsmasq setpriv python3
DNS_TOOL=$TOOLS/dns_tool.py

GW=$(ovip 1)
underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_add inet
resolv inet "$INET_IP"
resolv n1 "$INET_IP"   # the node's resolvers: inet's dnsmasq only
resolv c1 "$GW"
inet_attach n1 inet
inet_services inet

D=$WORK/data
nat_data_dir "$D"
ntok network create t --subnet "$OV_SUBNET" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok network create: $(tail -3 "$LOG/tok-admin.log")"
KEY=$(ntok key issue t --data-dir "$D" 2>>"$LOG/tok-admin.log" | grep -o 'ate1[A-Za-z0-9_-]*' | head -1)
[ -n "$KEY" ] || fail "tok key issue printed no key: $(tail -3 "$LOG/tok-admin.log")"
nat_node_start n1 1 "$D"

tok_start_bare c1 1 "$KEY" tok0 --dhcp
wait_for 20 grep -q '^.*leased ' "$LOG/tok-c1.err" || fail "tok --dhcp in c1 got no lease: $(tail -5 "$LOG/tok-c1.err")"
reach c1 "$GW" 10

# ---------- dig over UDP and over TCP ----------
dig_a() { nsx c1 dig "$@" +time=2 +tries=2 +short "@$GW" "$TEST_NAME" A 2>&1; }
wait_for 10 sh -c "[ \"\$(ip netns exec $(nsn c1) dig +time=1 +tries=1 +short @$GW $TEST_NAME A)\" = $INET_IP ]" \
  || nat_fail "dig @$GW $TEST_NAME (UDP) from c1 did not answer $INET_IP: $(dig_a)"
say "c1: dig @$GW $TEST_NAME (UDP): $(dig_a)"
ans=$(dig_a +tcp)
[ "$ans" = "$INET_IP" ] || nat_fail "dig +tcp @$GW $TEST_NAME from c1 answered '$ans', not $INET_IP"
say "c1: dig +tcp @$GW $TEST_NAME (TCP): $ans"
ans=$(nsx c1 dig +tcp +time=2 +tries=1 "@$GW" no-such.example A 2>&1)
# dnsmasq (no upstream) refuses names it does not know: the refusal must
# come through as dnsmasq sent it, not as the forwarder's own SERVFAIL.
grep -q 'status: REFUSED' <<<"$ans" || fail "dig +tcp for a name dnsmasq does not know: its REFUSED did not come through: $(grep status <<<"$ans")"
say "c1: dig +tcp for an unknown name: the resolver's REFUSED passed through"

# ---------- 200 concurrent TCP connections to the virtual host ----------
res=$(nsxt 90 c1 python3 "$DNS_TOOL" many-tcp "$GW" "$TEST_NAME" 200) \
  || nat_fail "200 concurrent TCP connections to $GW:53 did not all get their answer: $res"
say "c1: 200 concurrent TCP connections to $GW:53: $res"
res=$(nsxt 30 c1 python3 "$DNS_TOOL" pipelined "$GW" "$TEST_NAME" 8) \
  || nat_fail "8 queries pipelined on one TCP connection to $GW:53: $res"
say "c1: pipelined queries on one connection: $res"

# ---------- the virtual host served them (not the NAT) ----------
m=$(metrics n1)
tcp_accepted=$(awk '$1 ~ /^atenet_vhost_events_total\{.*event="tcp_accepted"/ {s+=$2} END {print s+0}' <<<"$m")
((tcp_accepted >= 202)) || nat_fail "the virtual host counts $tcp_accepted TCP connections accepted, expected >= 202: $(grep -E 'atenet_(vhost|dns)' <<<"$m" | tr '\n' ';')"
answered_tcp=$(awk '$1 ~ /^atenet_dns_events_total\{.*event="answered_tcp"/ {s+=$2} END {print s+0}' <<<"$m")
((answered_tcp >= 209)) || nat_fail "the DNS forwarder counts $answered_tcp answers over TCP, expected >= 209"
grep -q "query.*$TEST_NAME from $NODE_WAN" "$LOG/dnsmasq.err" || fail "dnsmasq did not see the queries come from the node: $(tail -3 "$LOG/dnsmasq.err")"
say "n1: virtual host accepted $tcp_accepted TCP connections, DNS answered $answered_tcp over TCP"
say PASS
