#!/usr/bin/env bash
# Failover: `tok connect A,B`; SIGKILL node A; the client's ping resumes
# through node B within 5 s.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

two_nodes
tok_start c1 1,2 "$KEY" 11     # A = n1 first, then B = n2
tok_start c2 2 "$KEY" 12
reach c1 "$(ovip 12)" 20
wait_for 5 metric_ge n1 atenet_clients "" 1 || fail "c1 is not attached to n1 (its first node): $(metrics n1 | grep '^atenet_clients')"
say "c1 is attached to n1"

kill -KILL "${PID[node-n1]}"
t0=$(now_us)
say "SIGKILLed n1"
wait_for 10 gone "${PID[node-n1]}" || fail "n1 survived SIGKILL?"
ping_quick() { nsx "$1" ping -n -q -c 1 -W 0.5 "$2" >/dev/null 2>&1; }
ok=0
while (($(now_us) - t0 < 5000000)); do
  if ping_quick c1 "$(ovip 12)"; then ok=1; break; fi
done
ms=$((($(now_us) - t0) / 1000))
((ok)) || fail "c1's ping did not resume within 5 s of n1's SIGKILL; tok: $(tail -3 "$LOG/tok-c1.err")"
say "c1's ping resumed through n2 $ms ms after n1 was killed"
check "c1 pings c2 through n2" nsx c1 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 12)"
check "c1 is attached to n2" metric_ge n2 atenet_clients "" 2
say "PASS"
