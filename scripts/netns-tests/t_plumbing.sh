#!/usr/bin/env bash
# The test harness itself, without atenet: namespaces, the underlay bridge,
# veths made inside namespaces, wait_for, captures and cleanup. When this
# fails, the other failures are about the machine, not about atenet.
. "$(dirname "$0")/lib.sh"

underlay
ns_with_ul a 1
ns_with_ul b 2
reach a "$(ulip 2)" 10
# a direct veth between two namespaces, and a capture counting what crosses it
veth a d0 b d0
nsx a ip addr add 10.77.0.1/24 dev d0
nsx b ip addr add 10.77.0.2/24 dev d0
cap_text b d0 cap-b icmp
check "ping over the direct veth" nsx a ping -n -q -c 3 -i 0.2 -W 1 10.77.0.2
wait_for 5 count_ge 3 "$LOG/cap-b.out" 'ICMP echo request' || fail "capture saw $(count "$LOG/cap-b.out" 'ICMP echo request') requests"
cap_stop cap-b
n=$(count "$LOG/cap-b.out" 'ICMP echo request')
[ "$n" = 3 ] || fail "expected 3 echo requests in the capture, saw $n"
# nothing in the namespaces reaches the host: no default route anywhere
[ -z "$(nsx a ip route show default)" ] || fail "namespace a has a default route"
say "plumbing ok"
