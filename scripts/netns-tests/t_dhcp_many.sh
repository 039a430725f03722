#!/usr/bin/env bash
# 20 DHCP clients split across two nodes sharing one chain ask at once
# (10 per node, each a `tok connect` without address, with its own key, plus
# busybox udhcpc; half of them ask for one same address, which only one may
# get: the claim rule across nodes):
# 20 distinct addresses of the subnet; each address is answered by exactly one
# client, the one that holds it (arping from another client, counting the
# distinct MACs that reply: a duplicate would show two); `tok lease list`
# holds the 20 (MAC, address) pairs.
. "$(dirname "$0")/lib.sh"
. "$HERE/lib_dhcp.sh"
need_bins
need_tools ping busybox arping

N=${DHCP_MANY:-20}
GW=$(ovip 1)
underlay
ns_with_ul n1 1
ns_with_ul n2 2
ROLES=()
for ((i = 1; i <= N; i++)); do
  r=$(printf 'c%02d' "$i")
  ROLES+=("$r")
  ns_with_ul "$r" $((100 + i))
done

D=$WORK/data
make_net "$D"
# a key per client (a node caps the sessions of one client key at 8)
declare -A KEY=()
for r in "${ROLES[@]}"; do
  KEY[$r]=$(key_issue "$D" t)
  [ -n "${KEY[$r]}" ] || fail "tok key issue printed no key"
done
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer: $(metrics n1 | grep '^atenet_peers')"
wait_for 15 metric_ge n2 atenet_peers 'state="reachable"' 1 || fail "n2 has no reachable peer: $(metrics n2 | grep '^atenet_peers')"

declare -A MAC=() IP=() NODE=()
half=$((N / 2))
for ((i = 1; i <= N; i++)); do
  r=${ROLES[i - 1]}
  node=1; ((i > half)) && node=2
  NODE[$r]=n$node
  tok_start_bare "$r" "$node" "${KEY[$r]}" tok0
  MAC[$r]=$(if_mac "$r" tok0)
  dhcp_client_prep "$r" "$GW"
done
wait_for 15 metric_ge n1 atenet_clients "" "$half" || fail "n1 has not its $half clients: $(metrics n1 | grep '^atenet_clients')"
wait_for 15 metric_ge n2 atenet_clients "" $((N - half)) || fail "n2 has not its $((N - half)) clients: $(metrics n2 | grep '^atenet_clients')"
say "$N toks attached ($half to n1, $((N - half)) to n2)"

# all clients at once; every other one asks for the same address (udhcpc -r),
# so that the nodes contend for it: the chain's first claim wins, the other
# node NAKs and its client starts over
WANT=$(ovip 50)
DHCP_GO=$WORK/go   # every udhcpc waits for this file
i=0
for r in "${ROLES[@]}"; do
  i=$((i + 1))
  if ((i % 2)); then udhcpc_start "$r" tok0 "dhcp-$r" -r "$WANT"; else udhcpc_start "$r" tok0 "dhcp-$r"; fi
done
dhcp_go
say "$N udhcpc started at once, half of them asking for $WANT"
all_bound() { local r; for r in "${ROLES[@]}"; do dhcp_bound "dhcp-$r" || return 1; done; }
if ! wait_for 60 all_bound; then
  for r in "${ROLES[@]}"; do dhcp_bound "dhcp-$r" || say "  $r (${NODE[$r]}, ${MAC[$r]}): no lease; $(tail -2 "$LOG/dhcp-$r.err" | tr '\n' ' ')"; done
  fail "not every client got a lease within 60 s"
fi
for r in "${ROLES[@]}"; do
  ev=$(dhcp_last "dhcp-$r" 'bound|renew')
  IP[$r]=$(dhcp_field "$ev" ip)
  [[ ${IP[$r]} == "$OV_NET".* ]] || fail "$r got ${IP[$r]}, outside $OV_SUBNET"
  [ "$(dhcp_field "$ev" router)" = "$GW" ] || fail "$r: router is not $GW: $ev"
  say "$r via ${NODE[$r]} ${MAC[$r]} -> ${IP[$r]}"
done
dups=$(printf '%s\n' "${IP[@]}" | sort | uniq -d | tr '\n' ' ')
[ -z "$dups" ] || fail "addresses given to more than one client: $dups"
say "$N distinct addresses"
holder=""
for r in "${ROLES[@]}"; do [ "${IP[$r]}" = "$WANT" ] && holder=$r; done
[ -n "$holder" ] || fail "none of the clients that asked for the free address $WANT got it"
say "$WANT went to $holder (${NODE[$holder]})"
for r in "${ROLES[@]}"; do
  n=$(dhcp_count "dhcp-$r" '^event=nak')
  ((n == 0)) || say "  $r (${NODE[$r]}) was NAKed $n time(s) before its lease (a lost claim)"
done

# each address answered by exactly one client: the holder
who_answers() { # who_answers PROBER IP: distinct MACs replying to 3 ARP requests
  nsx "$1" arping -i tok0 -c 3 -W 0.3 -r "$2" 2>/dev/null | tr 'A-F' 'a-f' | sort -u
}
for r in "${ROLES[@]}"; do
  p=${ROLES[0]}; [ "$r" = "$p" ] && p=${ROLES[1]}
  wait_for 5 if_has_ip "$r" tok0 "${IP[$r]}" || fail "$r has not ${IP[$r]} on tok0"
  macs=$(who_answers "$p" "${IP[$r]}")
  [ -n "$macs" ] || macs=$(who_answers "$p" "${IP[$r]}")   # one retry: a lost reply is no duplicate
  n=$(grep -c . <<<"$macs")
  [ "$n" = 1 ] || fail "${IP[$r]} is answered by $n MACs (${macs//$'\n'/ }), expected only $r's ${MAC[$r]}"
  [ "$macs" = "${MAC[$r]}" ] || fail "${IP[$r]} is answered by $macs, not by its holder $r (${MAC[$r]})"
done
say "each address is answered by exactly one client, its holder"

# the chain agrees
for r in "${ROLES[@]}"; do
  lease_listed "$D" t "${MAC[$r]}" "${IP[$r]}" \
    || fail "tok lease list has no lease ${MAC[$r]} ${IP[$r]} ($r): $(lease_table "$D" t | tr '\n' ';')"
done
say "tok lease list holds the $N leases"
say "PASS"
