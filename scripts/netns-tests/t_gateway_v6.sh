#!/usr/bin/env bash
# The gateway answers IPv6 when the network has an ipv6-prefix (issue 5:
# "IPv6 ND when the network has an ipv6-prefix setting"). Two nodes, the
# network set to `ipv6-prefix fd00:77::/64`; a client on n2:
# 1. SLAAC: once IPv6 restarts on its tap (so the kernel sends Router
#    Solicitations), the gateway's Router Advertisement gives it an address
#    in fd00:77::/64 (no default route: router lifetime 0);
# 2. with a static fd00:77::10/64 it resolves the gateway fd00:77::1 by
#    Neighbor Discovery (the gateway MAC, the same as for IPv4) and pings it,
#    and pings the gateway's link-local address;
# 3. the replies come from n2: no echo-sized frame crosses between the nodes.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

PREFIX=fd00:77::/64
GW6=fd00:77::1
C6=fd00:77::10
SIZE=400                       # ICMPv6 payload: frame 14+40+8+400 = 462 bytes
SEALED=$((37 + 14 + 40 + 8 + SIZE + 16))   # its UDP payload between nodes
underlay
ns_with_ul n1 1
ns_with_ul n2 2
ns_with_ul c2 12

D=$WORK/data
make_net "$D"
tok network set t ipv6-prefix "$PREFIX" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 \
  || fail "tok network set t ipv6-prefix $PREFIX: $(tail -3 "$LOG/tok-admin.log")"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer"
wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 1 || fail "n2 has no reachable peer"
tok_start c2 2 "$KEY" 12
reach c2 "$(ovip 1)" 15
GW_MAC=$(nsx c2 ip neigh show "$(ovip 1)" dev tap0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
[ -n "$GW_MAC" ] || fail "c2 has no ARP entry for the IPv4 gateway"
say "c2 (on n2) reaches the IPv4 gateway, MAC $GW_MAC"

# ---------- 1: SLAAC from the gateway's Router Advertisement ----------
slaac_addr() { nsx c2 ip -6 -o addr show dev tap0 scope global dynamic | grep -q ' fd00:77::'; }
nsx c2 sysctl -qw net.ipv6.conf.tap0.accept_ra=1 net.ipv6.conf.tap0.forwarding=0
nsx c2 sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1
nsx c2 sysctl -qw net.ipv6.conf.tap0.disable_ipv6=0
wait_for 20 slaac_addr \
  || fail "c2 got no SLAAC address in $PREFIX from the gateway's Router Advertisement: $(nsx c2 ip -6 addr show dev tap0 | tr '\n' ' ')"
say "SLAAC: $(nsx c2 ip -6 -o addr show dev tap0 scope global dynamic | awk '{print $4}')"
if nsx c2 ip -6 route show default | grep -q .; then
  fail "the gateway's RA made it a default router (router lifetime must be 0): $(nsx c2 ip -6 route show default)"
fi

# ---------- 2: ND and echo for the gateway's addresses ----------
nsx c2 ip -6 addr add "$C6/64" dev tap0 nodad
ping6_ok() { nsx c2 ping -6 -n -q -c 1 -W 1 "$1" >/dev/null 2>&1; }
wait_for 10 ping6_ok "$GW6" || fail "c2 cannot ping -6 the gateway $GW6"
nsx c2 ping -6 -n -q -c 3 -i 0.2 -W 1 -I "$C6" "$GW6" >>"$LOG/ping.out" 2>&1 \
  || fail "c2 cannot ping -6 $GW6 three times: $(tail -2 "$LOG/ping.out" | tr '\n' ' ')"
ND_MAC=$(nsx c2 ip -6 neigh show "$GW6" dev tap0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
[ "$ND_MAC" = "$GW_MAC" ] || fail "ND resolved $GW6 to '$ND_MAC', not the gateway MAC $GW_MAC"
say "c2 resolved $GW6 to $ND_MAC by ND and pinged it"
# The link-local address: fe80:: + modified EUI-64 of the gateway MAC.
GW_LL=$(python3 -c '
import ipaddress, sys
m = bytes.fromhex(sys.argv[1].replace(":", ""))
iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:6]
print(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))' "$GW_MAC")
nsx c2 ping -6 -n -q -c 3 -i 0.2 -W 1 "$GW_LL%tap0" >>"$LOG/ping.out" 2>&1 \
  || fail "c2 cannot ping -6 the gateway's link-local $GW_LL: $(tail -2 "$LOG/ping.out" | tr '\n' ' ')"
say "c2 pinged the gateway's link-local $GW_LL"

# ---------- 3: answered by n2 ----------
frames_between="udp and host $(ulip 1) and host $(ulip 2) and udp[44] & 0x0f = 3"
cap_text ul br0 peer-frames "$frames_between"
nsx c2 ping -6 -n -q -c 10 -i 0.05 -W 1 -s "$SIZE" "$GW6" >>"$LOG/ping.out" 2>&1 \
  || fail "c2 cannot ping -6 $GW6 with $SIZE bytes: $(tail -2 "$LOG/ping.out" | tr '\n' ' ')"
# End marker: a broadcast ARP of c2 crosses to n1.
before=$(count "$LOG/peer-frames.out" "$(ulip 2).$PORT > $(ulip 1).$PORT")
nsx c2 ip neigh flush dev tap0
nsx c2 ping -n -q -c 1 -W 1 "$(ovip 1)" >/dev/null 2>&1
wait_for 5 count_ge $((before + 1)) "$LOG/peer-frames.out" "$(ulip 2).$PORT > $(ulip 1).$PORT" \
  || fail "c2's ARP broadcast (the end marker) was not seen crossing from n2 to n1"
cap_stop peer-frames
echo_sized=$(count "$LOG/peer-frames.out" "length $SEALED\$")
((echo_sized == 0)) || fail "$echo_sized echo-sized frames crossed between the nodes: the IPv6 gateway was not answered by n2"
say "no IPv6 gateway traffic crossed between the nodes"
say "PASS"
