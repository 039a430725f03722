#!/usr/bin/env bash
# NAT to the node's network, DNS through the gateway, port publishing
# (issue 6). Topology:
#
#   c1 (tok connect --dhcp) --underlay 198.18.0.0/24-- n1 (atenet, as nobody,
#   no capabilities) --wan0 198.18.1.0/24-- inet ("the internet": dnsmasq,
#   HTTP, iperf3, UDP echo; no route anywhere but to n1's wan address)
#
# n1's default route points into inet and its resolv.conf at inet's dnsmasq.
# From c1 (default route and DNS = the gateway, from DHCP): curl by name
# (DNS through the gateway, TCP NAT), ping, UDP echo, iperf3 5 s, 200
# concurrent TCP connections, then the flow table drains (tok status).
# Denied by default: n1's own address and n1's loopback; `tok network set t
# nat-allow ...` opens them. Published ports: inet reaches an HTTP server
# on c1 through n1's tcp host port 8080 and a UDP echo on c1 through udp
# 8080; unpublished, it does not any more.
#
# Env: NAT_NODE_ARGS: extra `atenet serve` arguments (e.g. short NAT timeouts);
#      NAT_DRAIN_S: bound on the flow table drain (default 60 s);
#      NAT_PLUMBING_ONLY=1: stop after the topology and servers are checked.
. "$(dirname "$0")/lib.sh"
. "$HERE/lib_nat.sh"
need_bins
need_tools ping iperf3 dnsmasq setpriv getent

GW=$(ovip 1)
NODE_SVC_PORT=8001     # a service of n1 on every address (loopback and wan)
PUB_PORT=8080          # n1's published host port
underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_add inet
resolv inet "$INET_IP"
resolv n1 "$INET_IP"   # the node's resolvers: inet's dnsmasq only
resolv c1 "$GW"        # before tok's DHCP client (which rewrites it with the DHCP DNS server)
inet_attach n1 inet
inet_services inet

# ---------- plumbing: the internet as the node sees it ----------
check "n1 does not resolve $TEST_NAME through inet's dnsmasq" wait_for 5 resolves_in n1 "$TEST_NAME" "$INET_IP"
check "n1 cannot fetch http://$TEST_NAME:$HTTP_PORT/" http_ok n1 "http://$TEST_NAME:$HTTP_PORT/"
check "inet reaches more than n1's wan address" nsx inet sh -c "! ip route get $(ulip 11) >/dev/null 2>&1"
bg n1 node-svc python3 "$NAT_TOOL" http-serve 0.0.0.0 "$NODE_SVC_PORT" "$WORK/www"
wait_for 10 port_listening n1 "$NODE_SVC_PORT" || fail "n1's own service does not listen"
check "n1's own service does not answer on loopback" http_ok n1 "http://127.0.0.1:$NODE_SVC_PORT/"
say "plumbing: n1 resolves $TEST_NAME and fetches from inet; n1 serves :$NODE_SVC_PORT on loopback and $NODE_WAN"
if [ -n "${NAT_PLUMBING_ONLY:-}" ]; then say "PASS (NAT_PLUMBING_ONLY: topology and servers only)"; exit 0; fi

# ---------- the node, unprivileged ----------
D=$WORK/data
nat_data_dir "$D"
ntok network create t --subnet "$OV_SUBNET" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok network create: $(tail -3 "$LOG/tok-admin.log")"
KEY=$(ntok key issue t --data-dir "$D" 2>>"$LOG/tok-admin.log" | grep -o 'ate1[A-Za-z0-9_-]*' | head -1)
[ -n "$KEY" ] || fail "tok key issue printed no key: $(tail -3 "$LOG/tok-admin.log")"
# shellcheck disable=SC2086
# Short NAT timers (a hidden flag of atenet serve) so the drain is quick.
nat_node_start n1 1 "$D" ${NAT_NODE_ARGS:---nat-idle 5}

# ---------- the client, by DHCP ----------
tok_start_bare c1 1 "$KEY" tok0 --dhcp
wait_for 20 grep -q '^.*leased ' "$LOG/tok-c1.err" || fail "tok --dhcp in c1 got no lease: $(tail -5 "$LOG/tok-c1.err")"
say "c1: $(grep -m1 'leased ' "$LOG/tok-c1.err" | sed 's/.*\(leased .*\)/\1/')"
CIP=$(nsx c1 ip -4 -o addr show dev tok0 | awk '{print $4}' | cut -d/ -f1 | head -1)
[ -n "$CIP" ] || fail "tok0 in c1 has no IPv4 address"
nsx c1 ip route show default | grep -q "via $GW dev tok0" || fail "c1's default route is not via the gateway: $(nsx c1 ip route show default)"
grep -q "^nameserver $GW" "/etc/netns/$(nsn c1)/resolv.conf" || fail "c1's resolv.conf does not name the gateway: $(cat "/etc/netns/$(nsn c1)/resolv.conf")"
reach c1 "$GW" 10

# ---------- outbound: ICMP echo, DNS + TCP, UDP, iperf3 ----------
wait_for 10 ping_ok c1 "$INET_IP" || nat_fail "c1 cannot ping the internet host $INET_IP through the node"
out=$(nsx c1 ping -n -c 3 -i 0.2 -W 1 "$INET_IP" 2>&1) || fail "ping $INET_IP from c1: $(tail -2 <<<"$out" | tr '\n' ' ')"
say "c1 pings $INET_IP (ICMP echo NAT, unprivileged ping socket): $(grep -o 'rtt.*' <<<"$out")"

wait_for 10 resolves_in c1 "$TEST_NAME" "$INET_IP" || nat_fail "c1 does not resolve $TEST_NAME through the gateway"
body=$(http_get c1 "http://$TEST_NAME:$HTTP_PORT/" 10) || nat_fail "curl http://$TEST_NAME:$HTTP_PORT/ from c1 failed"
grep -q "hello from the internet namespace $PFX" <<<"$body" || fail "unexpected body from $TEST_NAME: $body"
grep -q "query.*$TEST_NAME from $NODE_WAN" "$LOG/dnsmasq.err" || fail "dnsmasq did not see the query come from the node: $(tail -3 "$LOG/dnsmasq.err")"
say "c1: curl http://$TEST_NAME:$HTTP_PORT/ by name works (DNS through the gateway, TCP NAT)"
http_get c1 "http://$INET_IP:$HTTP_PORT/1m.bin" 10 | cmp -s - "$WORK/www/1m.bin" || fail "1 MiB download through the NAT is not intact"
say "c1: 1 MiB download intact"

ans=$(nsx c1 python3 "$NAT_TOOL" udp-ask "$INET_IP" "$UDP_PORT" "echo-$PFX") || nat_fail "UDP echo from c1 via $INET_IP:$UDP_PORT failed: $ans"
say "c1: UDP echo: $ans"
ans=$(nsx c1 python3 "$NAT_TOOL" udp-refused "$INET_IP" 9) || nat_fail "UDP to a closed port of $INET_IP: the client saw no port unreachable ($ans)"
say "c1: UDP to a closed port of $INET_IP: $ans (ICMP port unreachable relayed)"

if ! nsxt 60 c1 iperf3 -c "$INET_IP" -t 5 --connect-timeout 5000 -J >"$LOG/iperf3-c1.json" 2>"$LOG/iperf3-c1.client.err"; then
  fail "the 5-second iperf3 run c1 -> $INET_IP did not complete: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error",""))' "$LOG/iperf3-c1.json" 2>/dev/null) $(tail -2 "$LOG/iperf3-c1.client.err")"
fi
say "c1 -> internet: iperf3 5 s: $(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.3f Gbit/s received, %d retransmits" % (e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", 0)))' "$LOG/iperf3-c1.json")"
if ! nsxt 60 c1 iperf3 -c "$INET_IP" -t 5 -R --connect-timeout 5000 -J >"$LOG/iperf3-c1-R.json" 2>"$LOG/iperf3-c1-R.client.err"; then
  fail "the 5-second reverse iperf3 run $INET_IP -> c1 did not complete: $(tail -2 "$LOG/iperf3-c1-R.client.err")"
fi
say "internet -> c1: iperf3 -R 5 s: $(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.3f Gbit/s received" % (e["sum_received"]["bits_per_second"]/1e9))' "$LOG/iperf3-c1-R.json")"

# ---------- 200 concurrent TCP connections, then the flow table drains ----------
res=$(nsxt 90 c1 python3 "$NAT_TOOL" many-tcp "http://$INET_IP:$HTTP_PORT/" 200 200) \
  || fail "200 concurrent TCP connections through the NAT did not all complete: $res"
say "c1: 200 concurrent TCP connections: $res"
nat_flows "$D" >/dev/null || fail "tok status --json has no NAT flow count: $(tok status --json --data-dir "$D" 2>&1 | head -c 600)"
say "NAT flows right after: $(nat_flows "$D")"
# every connection was closed by both ends: TCP flows go after TIME-WAIT;
# UDP and echo flows after their idle timeouts; --nat-idle 5 caps both
# (defaults: 10 s TIME-WAIT, 60 s UDP, 30 s echo)
wait_for 30 nat_flows_le "$D" 0 tcp,tcp_time_wait || nat_fail "TCP NAT flows did not drain within 30 s of the 200 connections closing: $(nat_flows "$D" tcp,tcp_time_wait) left"
say "TCP NAT flows drained (tok status: $(nat_flows "$D" tcp,tcp_time_wait) tcp flows, $(nat_flows "$D") in all)"
DRAIN_S=${NAT_DRAIN_S:-60}
wait_for "$DRAIN_S" nat_flows_le "$D" 0 || fail "the NAT flow table did not drain within $DRAIN_S s: $(nat_flows "$D") flows left"
say "the NAT flow table drained (tok status: $(nat_flows "$D") flows)"
tok status --data-dir "$D" >"$LOG/tok-status.txt" 2>&1 || fail "tok status failed: $(tail -3 "$LOG/tok-status.txt")"
grep -q '^NAT FLOWS' "$LOG/tok-status.txt" || fail "tok status shows no NAT FLOWS section: $LOG/tok-status.txt"
grep -Eq 'nat\.opened_tcp +[0-9]{3}' "$LOG/tok-status.txt" || fail "tok status does not count the 200 TCP flows opened: $(grep 'nat\.' "$LOG/tok-status.txt" | tr -s ' ' | tr '\n' ';')"
grep -Eq 'dns\.answered +[1-9]' "$LOG/tok-status.txt" || fail "tok status counts no DNS answers: $(grep 'dns\.' "$LOG/tok-status.txt" | tr -s ' ' | tr '\n' ';')"
say "tok status: $(grep -E 'nat\.opened_tcp|dns\.answered' "$LOG/tok-status.txt" | tr -s ' ' | tr '\n' ';')"

# ---------- denied by default: the node's own address and loopback ----------
GW_MAC=$(nsx c1 ip neigh show "$GW" dev tok0 | awk '/lladdr/ {print $3}' | head -1)
[ -n "$GW_MAC" ] || fail "no ARP entry for the gateway in c1"
if http_get c1 "http://$NODE_WAN:$NODE_SVC_PORT/" 3 >/dev/null 2>"$LOG/curl-denied.err"; then
  fail "c1 reached the node's own address $NODE_WAN:$NODE_SVC_PORT without nat-allow"
fi
say "denied: c1 -> $NODE_WAN:$NODE_SVC_PORT (the node's own address): $(tail -1 "$LOG/curl-denied.err")"
probe=$(nsx c1 python3 "$NAT_TOOL" syn-probe tok0 "$GW_MAC" "$CIP" 127.0.0.1 "$NODE_SVC_PORT") || fail "syn-probe failed: $probe"
[ "$probe" != synack ] || fail "a SYN to 127.0.0.1:$NODE_SVC_PORT through the gateway was answered with SYN-ACK without nat-allow"
say "denied: c1 -> 127.0.0.1:$NODE_SVC_PORT via the gateway (node loopback): $probe"

if err=$(ntok network set t nat-allow "$NODE_WAN/24" --data-dir "$D" 2>&1); then fail "nat-allow $NODE_WAN/24 (host bits set) was accepted"; fi
grep -q "did you mean $WAN_NET.0/24" <<<"$err" || fail "nat-allow $NODE_WAN/24: the error does not suggest $WAN_NET.0/24: $err"
ntok network set t nat-allow "$NODE_WAN/32,127.0.0.0/8" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 \
  || fail "tok network set t nat-allow: $(tail -3 "$LOG/tok-admin.log")"
say "tok network set t nat-allow $NODE_WAN/32,127.0.0.0/8"
wait_for 10 http_ok c1 "http://$NODE_WAN:$NODE_SVC_PORT/" || fail "c1 cannot reach $NODE_WAN:$NODE_SVC_PORT within 10 s of nat-allow"
say "allowed: c1 -> $NODE_WAN:$NODE_SVC_PORT"
loop_open() { [ "$(nsx c1 python3 "$NAT_TOOL" syn-probe tok0 "$GW_MAC" "$CIP" 127.0.0.1 "$NODE_SVC_PORT")" = synack ]; }
wait_for 10 loop_open || fail "a SYN to 127.0.0.1:$NODE_SVC_PORT is not answered with SYN-ACK after nat-allow 127.0.0.0/8 (last: $(nsx c1 python3 "$NAT_TOOL" syn-probe tok0 "$GW_MAC" "$CIP" 127.0.0.1 "$NODE_SVC_PORT"))"
say "allowed: c1 -> 127.0.0.1:$NODE_SVC_PORT via the gateway answers SYN-ACK"
ntok network set t nat-allow none --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok network set t nat-allow none"
wait_for 10 not http_ok c1 "http://$NODE_WAN:$NODE_SVC_PORT/" || fail "c1 still reaches $NODE_WAN:$NODE_SVC_PORT 10 s after nat-allow none"
say "nat-allow none: denied again"

# ---------- a published port ----------
# refused publications name the bad value and change nothing
for bad in "tcp 8080 $GW:80|gateway" "tcp 0 $CIP:80|\`0\`" "sctp 8080 $CIP:80|\`sctp\`" "tcp 8080 10.99.0.5:80|outside"; do
  args=${bad%|*} says=${bad#*|}
  # shellcheck disable=SC2086
  if err=$(ntok publish add t $args --data-dir "$D" 2>&1); then fail "tok publish add t $args was accepted"; fi
  grep -q -- "$says" <<<"$err" || fail "tok publish add t $args: the error does not say $says: $err"
done
ntok publish list t --data-dir "$D" 2>&1 | grep -q 'no published ports' || fail "refused publications reached the chain: $(ntok publish list t --data-dir "$D" 2>&1)"
say "tok publish add refuses the gateway address, port 0, sctp and an address outside the subnet"
bg c1 http-c1 python3 "$NAT_TOOL" http-serve 0.0.0.0 80 "$WORK/www"
wait_for 10 port_listening c1 80 || fail "HTTP server in c1 does not listen"
ntok publish add t tcp "$PUB_PORT" "$CIP:80" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 \
  || fail "tok publish add: $(tail -3 "$LOG/tok-admin.log")"
ntok publish list t --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1
say "tok publish add t tcp $PUB_PORT $CIP:80"
wait_for 10 http_ok inet "http://$NODE_WAN:$PUB_PORT/" || fail "inet cannot reach c1's server through $NODE_WAN:$PUB_PORT within 10 s of tok publish add"
grep -q "^$INET_IP " "$LOG/http-c1.err" || fail "c1's server did not see the internet host's address: $(tail -2 "$LOG/http-c1.err")"
say "published: inet -> $NODE_WAN:$PUB_PORT reaches c1's server, which sees $INET_IP"
ntok publish del t tcp "$PUB_PORT" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok publish del: $(tail -3 "$LOG/tok-admin.log")"
wait_for 10 not http_ok inet "http://$NODE_WAN:$PUB_PORT/" || fail "inet still reaches $NODE_WAN:$PUB_PORT 10 s after tok publish del"
say "unpublished: inet no longer reaches it"
ntok publish add t tcp "$((PUB_PORT + 1))" "$CIP:81" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok publish add tcp $((PUB_PORT + 1))"
wait_for 10 port_listening n1 "$((PUB_PORT + 1))" || nat_fail "n1 does not listen on published tcp $((PUB_PORT + 1))"
t0=$(now_us)
if nsxt 15 inet curl -sS --max-time 10 "http://$NODE_WAN:$((PUB_PORT + 1))/" >/dev/null 2>"$LOG/curl-pub-closed.err"; then
  fail "a published port whose client port is closed answered HTTP"
fi
ms=$((($(now_us) - t0) / 1000))
((ms < 5000)) || nat_fail "a published port whose client port is closed took $ms ms to fail: $(tail -1 "$LOG/curl-pub-closed.err")"
say "published to a closed client port: inet fails in $ms ms: $(tail -1 "$LOG/curl-pub-closed.err")"
ntok publish del t tcp "$((PUB_PORT + 1))" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok publish del tcp $((PUB_PORT + 1))"
bg c1 udp-echo-c1 python3 "$NAT_TOOL" udp-echo 0.0.0.0 "$UDP_PORT"
wait_for 10 udp_listening c1 "$UDP_PORT" || fail "UDP echo in c1 does not listen"
ntok publish add t udp "$PUB_PORT" "$CIP:$UDP_PORT" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 \
  || fail "tok publish add udp: $(tail -3 "$LOG/tok-admin.log")"
udp_pub_ok() { nsx inet python3 "$NAT_TOOL" udp-ask "$NODE_WAN" "$PUB_PORT" "pub-$PFX" >>"$LOG/udp-pub.out" 2>&1; }
wait_for 10 udp_pub_ok || nat_fail "inet gets no echo from c1 through udp $NODE_WAN:$PUB_PORT within 10 s of tok publish add"
say "published udp: inet -> $NODE_WAN:$PUB_PORT echoed by c1: $(tail -1 "$LOG/udp-pub.out")"
ntok publish del t udp "$PUB_PORT" "$CIP:$UDP_PORT" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok publish del udp"
wait_for 10 not udp_pub_ok || fail "inet still gets echoes through udp $NODE_WAN:$PUB_PORT 10 s after tok publish del"
say "unpublished udp: no echo any more"

alive "${PID[node-n1]}" || fail "node n1 died"
say "PASS"
