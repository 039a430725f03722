#!/usr/bin/env bash
# Real DHCP clients behind `tok connect` (no --address): busybox udhcpc,
# ISC dhclient and dhcpcd, each in its own namespace on one node, at once.
# Each gets an address of the subnet with the gateway (first host) as router,
# DNS server and server id, the network's MTU (option 26; set to 1300, not
# the default 1380, so that the setting is what is seen) and lease time;
# reaches the gateway; its lease is in `tok lease list` with the host name it
# sent. Then each renews (udhcpc: SIGUSR1, dhcpcd: `dhcpcd -N`, dhclient: by
# itself at T1 of the 1-minute lease) and keeps its address, then releases
# (udhcpc: SIGUSR2, `dhclient -r`, `dhcpcd -k`) and the lease is gone from
# `tok lease list`.
. "$(dirname "$0")/lib.sh"
. "$HERE/lib_dhcp.sh"
need_bins
need_tools ping busybox dhclient dhcpcd

GW=$(ovip 1)
NET_MTU=1300  # the network's MTU; the taps start at tok's default 1380
underlay
ns_with_ul n1 1
CLIENTS=(cu cd cp)                                           # role per client
declare -A KIND=([cu]=udhcpc [cd]=dhclient [cp]=dhcpcd)
declare -A TAG=([cu]=udhcpc-cu [cd]=dhclient-cd [cp]=dhcpcd-cp)
h=11
for c in "${CLIENTS[@]}"; do ns_with_ul "$c" "$h"; h=$((h + 1)); done

D=$WORK/data
make_net "$D"
tok network set t mtu "$NET_MTU" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok network set t mtu $NET_MTU: $(tail -3 "$LOG/tok-admin.log")"
tok network set t lease-time 1m --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok network set t lease-time 1m: $(tail -3 "$LOG/tok-admin.log")"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
node_start n1 1 "$D"

declare -A MAC=() IP=()
for c in "${CLIENTS[@]}"; do
  tok_start_bare "$c" 1 "$KEY" tok0
  MAC[$c]=$(if_mac "$c" tok0)
  dhcp_client_prep "$c" "$GW"     # /etc/netns/NS/resolv.conf before any DHCP client
done
wait_for 10 metric_ge n1 atenet_clients "" 3 || fail "the three toks are not attached: $(metrics n1 | grep '^atenet_clients')"


# ---------- obtain ----------
udhcpc_start cu tok0 "${TAG[cu]}"
dhclient_start cd tok0 "${TAG[cd]}"
dhcpcd_start cp tok0 "${TAG[cp]}"
for c in "${CLIENTS[@]}"; do
  t=${TAG[$c]}
  wait_for 40 dhcp_bound "$t" \
    || fail "${KIND[$c]} in $c got no lease within 40 s; its log: $(tail -5 "$LOG/$t.err" "$LOG/$t.out" | tr '\n' ' ')"
  ev=$(dhcp_last "$t" 'bound|reboot')
  say "${KIND[$c]} in $c (${MAC[$c]}): $ev"
  ip=$(dhcp_field "$ev" ip)
  IP[$c]=$ip
  [[ $ip == "$OV_NET".* ]] && [ "${ip##*.}" -gt 1 ] && [ "${ip##*.}" -lt 255 ] \
    || fail "${KIND[$c]}: address $ip is not an assignable address of $OV_SUBNET"
  [ "$(dhcp_field "$ev" mask)" = 255.255.255.0 ] || fail "${KIND[$c]}: subnet mask (option 1) is not 255.255.255.0: $ev"
  [ "$(dhcp_field "$ev" router)" = "$GW" ] || fail "${KIND[$c]}: router (option 3) is not the gateway $GW: $ev"
  [ "$(dhcp_field "$ev" dns)" = "$GW" ] || fail "${KIND[$c]}: DNS (option 6) is not the gateway $GW: $ev"
  [ "$(dhcp_field "$ev" mtu)" = "$NET_MTU" ] || fail "${KIND[$c]}: interface MTU (option 26) is not the network's $NET_MTU: $ev"
  [ "$(dhcp_field "$ev" server)" = "$GW" ] || fail "${KIND[$c]}: server id (option 54) is not the gateway $GW: $ev"
  [ "$(dhcp_field "$ev" lease)" = 60 ] || fail "${KIND[$c]}: lease time (option 51) is not the network's 60 s: $ev"
  wait_for 10 if_has_ip "$c" tok0 "$ip" || fail "${KIND[$c]}: $ip is not on tok0 in $c: $(nsx "$c" ip -4 -o addr show dev tok0)"
done
[ "$(printf '%s\n' "${IP[@]}" | sort -u | wc -l)" = 3 ] || fail "the three clients got overlapping addresses: ${IP[*]}"
# the MTU reached the interface (udhcpc and dhclient: our hook sets the link MTU;
# dhcpcd applies option 26 itself, as the MTU of its routes)
for c in cu cd; do
  m=$(nsx "$c" cat /sys/class/net/tok0/mtu)
  [ "$m" = "$NET_MTU" ] || fail "${KIND[$c]}: tok0 MTU is $m after the lease, not $NET_MTU"
done
nsx cp ip -4 route show dev tok0 | grep -q "mtu $NET_MTU" \
  || fail "dhcpcd: its routes carry no mtu $NET_MTU: $(nsx cp ip -4 route show dev tok0 | tr '\n' ';')"
for c in "${CLIENTS[@]}"; do
  nsx "$c" ip -4 route show default | grep -q "via $GW" || fail "${KIND[$c]}: no default route via $GW in $c: $(nsx "$c" ip -4 route | tr '\n' ';')"
  check "${KIND[$c]} in $c cannot ping the gateway $GW" wait_for 10 ping_ok "$c" "$GW"
  wait_for 5 lease_listed "$D" t "${MAC[$c]}" "${IP[$c]}" \
    || fail "${KIND[$c]}'s lease (${MAC[$c]} ${IP[$c]}) is not in tok lease list: $(lease_list "$D" t | tr '\n' ';')"
  # the host name each client sent (option 12) is recorded with the lease
  lease_table "$D" t | grep -i -F -- "${MAC[$c]}" | grep -q -w -F -- "${TAG[$c]}" \
    || fail "${KIND[$c]}'s lease does not record the host name ${TAG[$c]} it sent: $(lease_table "$D" t | grep -i -F -- "${MAC[$c]}")"
done
check "udhcpc's client cannot ping dhclient's" ping_ok cu "${IP[cd]}"
check "dhcpcd's client cannot ping udhcpc's" ping_ok cp "${IP[cu]}"
say "the three clients hold leases ${IP[cu]} ${IP[cd]} ${IP[cp]} with router, DNS, MTU and lease time from the network"

# ---------- renew ----------
kill -USR1 "${PID[${TAG[cu]}]}"
dhcpcd_x cp "${TAG[cp]}" -4 -N tok0 >>"$LOG/${TAG[cp]}.ctl.out" 2>&1 || fail "dhcpcd -N tok0 failed: $(tail -3 "$LOG/${TAG[cp]}.ctl.out")"
for c in cu cp cd; do
  t=${TAG[$c]}
  # dhclient renews by itself at T1 (30 s of the 1-minute lease)
  secs=10; [ "$c" = cd ] && secs=45
  wait_for "$secs" dhcp_has "$t" '^event=renew ip=' \
    || fail "${KIND[$c]} did not renew within $secs s; events: $(tr '\n' ';' <"$LOG/$t.events"); log: $(tail -3 "$LOG/$t.err" | tr '\n' ' ')"
  ev=$(dhcp_last "$t" renew)
  [ "$(dhcp_field "$ev" ip)" = "${IP[$c]}" ] || fail "${KIND[$c]} renewed to another address: $ev (had ${IP[$c]})"
  [ "$(dhcp_field "$ev" mtu)" = "$NET_MTU" ] && [ "$(dhcp_field "$ev" router)" = "$GW" ] \
    || fail "${KIND[$c]}: the renewal's options differ: $ev"
  lease_listed "$D" t "${MAC[$c]}" "${IP[$c]}" || fail "${KIND[$c]}'s lease is not in tok lease list after the renewal"
  say "${KIND[$c]} renewed ${IP[$c]}"
done
dhcp_has "${TAG[cu]}" '^event=(nak|leasefail)' && fail "udhcpc saw a NAK or failure: $(tr '\n' ';' <"$LOG/${TAG[cu]}.events")"
dhcp_has "${TAG[cd]}" '^event=(nak|fail|expire)' && fail "dhclient saw a NAK or failure: $(tr '\n' ';' <"$LOG/${TAG[cd]}.events")"
dhcp_has "${TAG[cp]}" '^event=(nak|fail|expire)' && fail "dhcpcd saw a NAK or failure: $(tr '\n' ';' <"$LOG/${TAG[cp]}.events")"

# ---------- release ----------
kill -USR2 "${PID[${TAG[cu]}]}"
dhclient_release cd tok0 "${TAG[cd]}" || fail "dhclient -r failed: $(tail -3 "$LOG/${TAG[cd]}.release.out")"
dhcpcd_x cp "${TAG[cp]}" -4 -k tok0 >>"$LOG/${TAG[cp]}.ctl.out" 2>&1 || fail "dhcpcd -k tok0 failed: $(tail -3 "$LOG/${TAG[cp]}.ctl.out")"
for c in "${CLIENTS[@]}"; do
  wait_for 10 if_no_ipv4 "$c" tok0 || fail "${KIND[$c]} kept an address after its release: $(nsx "$c" ip -4 -o addr show dev tok0)"
  wait_for 10 not lease_listed "$D" t "${MAC[$c]}" "${IP[$c]}" \
    || fail "${KIND[$c]} released ${IP[$c]} but tok lease list still shows it: $(lease_list "$D" t | grep -i -- "${MAC[$c]}")"
  say "${KIND[$c]} released ${IP[$c]}: gone from tok lease list"
done
say "PASS"
