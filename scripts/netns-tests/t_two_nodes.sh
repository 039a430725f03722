#!/usr/bin/env bash
# Two nodes sharing one data dir, each in its own namespace, one client each:
# ping across the nodes, both ways.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

two_nodes
say "the nodes see each other"

tok_start c1 1 "$KEY" 11
tok_start c2 2 "$KEY" 12
reach c1 "$(ovip 12)" 20
check "ping c1 -> c2 across the nodes" nsx c1 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 12)"
check "ping c2 -> c1 across the nodes" nsx c2 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 11)"
# a full-size frame crosses too (tap MTU 1380: 1352 bytes of ICMP payload)
check "1380-byte packets across the nodes" nsx c1 ping -n -q -c 3 -i 0.2 -W 1 -M do -s 1352 "$(ovip 12)"
say "PASS"
