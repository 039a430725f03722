#!/usr/bin/env bash
# A client that moves to another node is dropped by the old one within a
# second (issue 4, item 3). `tok connect A,B` on A; then A and the client
# stop hearing each other (static neighbour entries with an unused MAC on
# both sides: their packets are lost silently, A keeps running and keeps its
# peer B). tok goes to B after 3 s of silence; its MAC then shows behind
# peer B at A, and A drops its session.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

two_nodes
tok_start c1 1,2 "$KEY" 11
tok_start c2 2 "$KEY" 12
reach c1 "$(ovip 12)" 20
wait_for 5 metric_ge n1 atenet_clients "" 1 || fail "c1 is not attached to n1"
moved0=$(metric n1 atenet_clients_moved_total) || fail "n1 has no atenet_clients_moved_total"

# cut c1 <-> n1 only
nsx c1 ip neigh replace "$(ulip 1)" lladdr 02:00:5e:00:53:01 dev ul0 nud permanent
nsx n1 ip neigh replace "$(ulip 11)" lladdr 02:00:5e:00:53:01 dev ul0 nud permanent
t0=$(now_us)
say "cut c1 <-> n1"
ping_quick() { nsx "$1" ping -n -q -c 1 -W 0.5 "$2" >/dev/null 2>&1; }
wait_for 10 ping_quick c1 "$(ovip 12)" || fail "c1's ping did not come back through n2 within 10 s: $(tail -3 "$LOG/tok-c1.err")"
t1=$(now_us)
say "c1's ping works again $(((t1 - t0) / 1000)) ms after the cut (tok waits 3 s of silence)"
dropped() { metric_ge n1 atenet_clients_moved_total "" $((moved0 + 1)) && ! metric_ge n1 atenet_clients "" 1; }
wait_for 1.5 dropped || fail "n1 still holds c1 $((($(now_us) - t1) / 1000)) ms after c1 came back through n2: $(metrics n1 | grep -E '^atenet_clients')"
say "n1 dropped c1 $((($(now_us) - t1) / 1000)) ms after c1's ping came back through n2"
wait_for 2 metric_ge n2 atenet_clients "" 2 || fail "n2 does not hold both clients"
check "c2 pings c1 through n2" nsx c2 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 11)"
say "PASS"
