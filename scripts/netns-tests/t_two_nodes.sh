#!/usr/bin/env bash
# Two nodes sharing one data dir, each in its own namespace, one client each:
# ping across the nodes, both ways.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

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
# each node holds a session with the other (it joined the chain with its address)
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer: $(metrics n1 | grep '^atenet_peers')"
wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 1 || fail "n2 has no reachable peer: $(metrics n2 | grep '^atenet_peers')"
say "the nodes see each other"

tok_start c1 1 "$KEY" 11
tok_start c2 2 "$KEY" 12
reach c1 "$(ovip 12)" 20
check "ping c1 -> c2 across the nodes" nsx c1 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 12)"
check "ping c2 -> c1 across the nodes" nsx c2 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 11)"
# a full-size frame crosses too (tap MTU 1380: 1352 bytes of ICMP payload)
check "1380-byte packets across the nodes" nsx c1 ping -n -q -c 3 -i 0.2 -W 1 -M do -s 1352 "$(ovip 12)"
say "PASS"
