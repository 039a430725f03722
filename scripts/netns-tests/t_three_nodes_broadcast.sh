#!/usr/bin/env bash
# Three fully meshed nodes sharing one data dir, one client each. Each client
# in turn broadcasts N ARP requests (arping to an unused address): every
# other client's tap sees each request exactly once, and the sender's tap
# sees only its own N (none comes back): no loop, no duplicate, no loss.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping arping
N=${N_ARP:-5}

underlay
for i in 1 2 3; do ns_with_ul "n$i" "$i"; ns_with_ul "c$i" "1$i"; done

D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
for i in 1 2 3; do node_start "n$i" "$i" "$D"; done
for i in 1 2 3; do
  wait_for 20 metric_ge "n$i" atenet_peers 'state="reachable"' 2 \
    || fail "n$i does not reach both other nodes: $(metrics "n$i" | grep '^atenet_peers')"
done
say "full mesh: every node reaches the other two"
for i in 1 2 3; do tok_start "c$i" "$i" "$KEY" "1$i"; done
reach c1 "$(ovip 12)" 20
reach c1 "$(ovip 13)" 20
reach c2 "$(ovip 13)" 20

for i in 1 2 3; do cap_text "c$i" tap0 "arp-c$i" arp; done

# requests FILE TARGET SENDER: ARP requests for TARGET from SENDER in a text
# capture; total_requests FILE TARGET: from anyone. A tap capture shows both
# directions, so the sender's own tap counts its N outgoing requests, and a
# copy that came back would make it 2N.
requests() { count "$1" "Request who-has $2 tell $3,"; }
total_requests() { count "$1" "Request who-has $2 "; }
all_saw() { local t=$1 s=$2 f; for f in 1 2 3; do (($(total_requests "$LOG/arp-c$f.out" "$t") >= N)) || return 1; done; }

for s in 1 2 3; do
  target=$OV_NET.20$s
  say "c$s broadcasts $N ARP requests for unused $target"
  nsxt 20 "c$s" arping -q -c "$N" -W 0.2 -i tap0 "$target" >/dev/null 2>&1
  wait_for 10 all_saw "$target" "$s" || true
  # Absence of late duplicates or looping copies can only be shown by
  # waiting: a loop between three nodes would bring them back within ms.
  sleep 1
  for r in 1 2 3; do
    got=$(total_requests "$LOG/arp-c$r.out" "$target")
    from=$(requests "$LOG/arp-c$r.out" "$target" "$(ovip "1$s")")
    say "  tap of c$r saw $got requests for $target ($from from c$s)"
    [ "$got" = "$N" ] || fail "tap of c$r saw $got ARP requests for $target, expected exactly $N (sent by c$s)"
    [ "$from" = "$N" ] || fail "tap of c$r saw requests for $target not sent by c$s"
  done
done
# the gratuitous ARPs and answers of the set-up may be there too; nothing else
for r in 1 2 3; do cap_stop "arp-c$r"; done
say "PASS"
