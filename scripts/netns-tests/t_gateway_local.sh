#!/usr/bin/env bash
# The gateway is served by the client's own node. Two nodes; a client on n2
# pings the gateway address (first host of the subnet):
# 1. while a capture on the underlay records every sealed *frame* packet
#    between the nodes (UDP payload byte 36, low nibble = 3, vswitch/WIRE.md;
#    keepalives and control packets are not frames): none of the echo
#    requests or replies crosses (they are sized to be recognisable), no frame
#    at all comes from n1 (it has no clients: anything from it would be its
#    gateway answering), and at most the client's broadcast ARP requests go
#    from n2 to n1;
# 2. with n1 frozen (SIGSTOP), the client's ARP for the gateway and its
#    pings are still answered.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

GW=$(ovip 1)
SIZE=400                       # ICMP payload: frame 14+20+8+400 = 442 bytes
SEALED=$((37 + 14 + 20 + 8 + SIZE + 16))   # its UDP payload between nodes: 495
underlay
ns_with_ul n1 1
ns_with_ul n2 2
ns_with_ul c2 12

D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer"
wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 1 || fail "n2 has no reachable peer"
tok_start c2 2 "$KEY" 12
reach c2 "$GW" 15
say "c2 (on n2) reaches the gateway $GW"

# ---------- 1: nothing of it crosses the underlay between the nodes ----------
frames_between="udp and host $(ulip 1) and host $(ulip 2) and udp[44] & 0x0f = 3"
cap_text ul br0 peer-frames "$frames_between"
nsx c2 ip neigh flush dev tap0
nsx c2 ping -n -q -c 20 -i 0.05 -W 1 -s "$SIZE" "$GW" >>"$LOG/ping.out" 2>&1 \
  || fail "c2 cannot ping the gateway (20 echoes of $SIZE bytes): $(tail -2 "$LOG/ping.out" | tr '\n' ' ')"
# the 20 echoes are answered: what the capture shows is complete once a
# packet sent after them is in it. A broadcast ARP of c2 crosses to n1 (its
# switch floods broadcasts to peers): send one as the end marker.
before=$(count "$LOG/peer-frames.out" "$(ulip 2).$PORT > $(ulip 1).$PORT")
nsx c2 ip neigh flush dev tap0
nsx c2 ping -n -q -c 1 -W 1 "$GW" >/dev/null 2>&1
wait_for 5 count_ge $((before + 1)) "$LOG/peer-frames.out" "$(ulip 2).$PORT > $(ulip 1).$PORT" \
  || fail "c2's ARP broadcast (the end marker) was not seen crossing from n2 to n1: is the capture filter (frame kind at UDP payload byte 36) right? $(head -3 "$LOG/peer-frames.out")"
cap_stop peer-frames
from_n1=$(count "$LOG/peer-frames.out" "$(ulip 1).$PORT > ")
to_n1=$(count "$LOG/peer-frames.out" "$(ulip 2).$PORT > ")
echo_sized=$(count "$LOG/peer-frames.out" "length $SEALED\$")
say "frame packets between the nodes during the pings: n1->n2 $from_n1, n2->n1 $to_n1, echo-sized $echo_sized"
((echo_sized == 0)) || fail "$echo_sized echo-sized frames ($SEALED bytes sealed) crossed between the nodes: gateway traffic left n2: $(grep "length $SEALED" "$LOG/peer-frames.out" | head -3)"
((from_n1 == 0)) || fail "n1 (no clients) sent $from_n1 frames to n2 while c2 pinged the gateway: n1 answered for the gateway? $(head -3 "$LOG/peer-frames.out")"
((to_n1 <= 4)) || fail "n2 sent $to_n1 frames to n1 while c2 pinged the gateway (allowed: c2's two ARP broadcasts and a gratuitous ARP of tok): $(head -5 "$LOG/peer-frames.out")"
say "no gateway traffic crossed between the nodes"

# ---------- 2: with n1 frozen the gateway still answers ----------
kill -STOP "${PID[node-n1]}"
say "n1 frozen (SIGSTOP)"
nsx c2 ip neigh flush dev tap0
nsx c2 ping -n -q -c 5 -i 0.2 -W 1 "$GW" >>"$LOG/ping.out" 2>&1 \
  || fail "with n1 frozen, c2's ping to the gateway is not answered: $(tail -2 "$LOG/ping.out" | tr '\n' ' ')"
nsx c2 ip neigh show "$GW" dev tap0 | grep -q lladdr || fail "c2 has no ARP entry for the gateway"
kill -CONT "${PID[node-n1]}"
say "with n1 frozen, c2 resolved and pinged the gateway through n2 alone"
say "PASS"
