#!/usr/bin/env bash
# `tok lease reserve NET MAC IP`: a client whose tap has MAC always gets IP:
# first through node n1; after its release (the lease leaves `tok lease list`,
# the reservation stays) another client does not get IP; then the reserved
# client again, through node n2 this time, and once more while asking for
# another address (udhcpc -r): IP each time.
. "$(dirname "$0")/lib.sh"
. "$HERE/lib_dhcp.sh"
need_bins
need_tools ping busybox

GW=$(ovip 1)
RMAC=02:a7:00:00:00:42
RIP=$(ovip 200)
underlay
ns_with_ul n1 1
ns_with_ul n2 2
ns_with_ul c1 11
ns_with_ul c2 12

D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
tok lease reserve t "$RMAC" "$RIP" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 \
  || fail "tok lease reserve t $RMAC $RIP failed: $(tail -3 "$LOG/tok-admin.log")"
reservation_line "$D" t "$RMAC" | grep -q -w -F "$RIP" || fail "tok lease list shows no reservation $RMAC $RIP: $(lease_list "$D" t | tr '\n' ';')"
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer"

# c1's tap carries the reserved MAC before tok attaches to it (tok keeps it)
tap_precreate c1 tok0 "$RMAC"
dhcp_client_prep c1 "$GW"
dhcp_client_prep c2 "$GW"

# round ROUND NODE [UDHCPC_EXTRA...]: tok in c1 through NODE, udhcpc: must get RIP
round() {
  local n=$1 node=$2 t=udhcpc-c1-$1 ev ip; shift 2
  tok_start_bare c1 "$node" "$KEY" tok0
  [ "$(if_mac c1 tok0)" = "$RMAC" ] || fail "tok0 in c1 has MAC $(if_mac c1 tok0), not $RMAC"
  udhcpc_start c1 tok0 "$t" "$@"
  wait_for 30 dhcp_bound "$t" || fail "round $n: the reserved client got no lease; $(tail -3 "$LOG/$t.err" | tr '\n' ' ')"
  ev=$(dhcp_last "$t" 'bound|renew')
  ip=$(dhcp_field "$ev" ip)
  [ "$ip" = "$RIP" ] || fail "round $n (via n$node${*:+, udhcpc $*}): the reserved MAC $RMAC got $ip, not its reservation $RIP"
  check "round $n: $RIP not on tok0" wait_for 5 if_has_ip c1 tok0 "$RIP"
  check "round $n: c1 cannot ping the gateway from $RIP" wait_for 10 ping_ok c1 "$GW"
  wait_for 5 lease_listed "$D" t "$RMAC" "$RIP" || fail "round $n: no lease $RMAC $RIP in tok lease list: $(lease_list "$D" t | tr '\n' ';')"
  say "round $n via n$node${*:+ (udhcpc $*)}: $RMAC got $RIP"
  # release; the lease leaves the list, the reservation stays
  kill -USR2 "${PID[$t]}"
  wait_for 10 if_no_ipv4 c1 tok0 || fail "round $n: udhcpc kept $RIP after SIGUSR2"
  wait_for 10 not lease_listed "$D" t "$RMAC" "$RIP" || fail "round $n: released, yet tok lease list shows the lease: $(lease_table "$D" t | tr '\n' ';')"
  reservation_line "$D" t "$RMAC" | grep -q -w -F "$RIP" || fail "round $n: the reservation is gone after the release"
  say "round $n: released; the reservation stays"
  stop "$t" TERM || true
  stop "tok-c1" TERM || true
}

round 1 1
# another client, while RIP is free, does not get it
tok_start_bare c2 1 "$KEY" tok0
udhcpc_start c2 tok0 udhcpc-c2 -r "$RIP"
wait_for 30 dhcp_bound udhcpc-c2 || fail "c2 got no lease: $(tail -3 "$LOG/udhcpc-c2.err" | tr '\n' ' ')"
ip2=$(dhcp_field "$(dhcp_last udhcpc-c2 'bound|renew')" ip)
[ "$ip2" != "$RIP" ] || fail "c2 ($(if_mac c2 tok0)) asked for and got $RIP, reserved for $RMAC"
say "c2 asked for $RIP and got $ip2 instead"
round 2 2
round 3 1 -r "$(ovip 77)"
say "PASS"
