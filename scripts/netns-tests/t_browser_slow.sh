#!/usr/bin/env bash
# A websocket client that never reads (browser/stuck_ws.py: announces its
# MAC once, then sleeps with a tiny receive buffer) while 60 000 UDP
# datagrams of 1 400 bytes are sent to it from a third tap client: its queue at
# the node stays bounded (frames dropped and counted as ws_queue_full, shown
# by `tok status`), and meanwhile two other clients' ping and a 5-second
# iperf3 through the same node complete (throughput printed).
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping iperf3
WSS_PORT=7443
STUCK_IP=$(ovip 50)
STUCK_MAC=02:5e:00:00:00:50

underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_with_ul c2 12
ns_with_ul c3 13
ns_with_ul s1 21

D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
node_start n1 1 "$D" --wss "$(ulip 1):$WSS_PORT"
wait_for 10 port_listening n1 "$WSS_PORT" || fail "no wss listener on $WSS_PORT"
WS_URL=$(tok key wss-url t "$(key_id "$KEY")" --node "$(ulip 1):$WSS_PORT" --data-dir "$D") || fail "tok key wss-url failed"

tok_start c1 1 "$KEY" 11
tok_start c2 1 "$KEY" 12
tok_start c3 1 "$KEY" 13
bg s1 stuck python3 "$HERE/browser/stuck_ws.py" "$WS_URL" "$STUCK_MAC" "$STUCK_IP"
wait_for 10 grep -q announced "$LOG/stuck.out" || fail "the stuck client did not connect: $(tail -3 "$LOG/stuck.err")"
wait_for 5 metric_ge n1 atenet_ws_clients "" 1 || fail "the node does not count the websocket client"
reach c1 "$(ovip 12)" 15

# The flood for the client that never reads.
nsx c3 ip neigh replace "$STUCK_IP" lladdr "$STUCK_MAC" dev tap0 || fail "static neighbour"
bg c3 flood python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"x" * 1400
for i in range(60000):
    try:
        s.sendto(data, (sys.argv[1], 9))
    except OSError:
        pass
print("sent", flush=True)
' "$STUCK_IP"

# Meanwhile: ping both ways and 5 s of iperf3 between the two tap clients.
check "ping c1 -> c2 during the flood" nsx c1 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 12)"
check "ping c2 -> c1 during the flood" nsx c2 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 11)"
bg c1 iperf3-server iperf3 -s -1 -B "$(ovip 11)"
wait_for 5 port_listening c1 5201 || fail "iperf3 server did not listen"
nsxt 60 c2 iperf3 -c "$(ovip 11)" -t 5 --connect-timeout 5000 -J >"$LOG/iperf3.json" 2>"$LOG/iperf3.err" \
  || fail "the 5-second iperf3 run did not complete: $(tail -2 "$LOG/iperf3.err")"
say "iperf3 TCP 5 s c2 -> c1 beside a stuck websocket: $(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.3f Gbit/s received" % (e["sum_received"]["bits_per_second"]/1e9))' "$LOG/iperf3.json")"
bg_exit iperf3-server || true
wait_for 60 grep -q sent "$LOG/flood.out" || fail "the flood did not finish"

wait_for 10 metric_ge n1 atenet_frames_dropped_total 'reason="ws_queue_full"' 1 \
  || fail "no ws_queue_full drops counted for the stuck client"
say "stuck client's queue: $(metric n1 atenet_frames_dropped_total 'reason="ws_queue_full"') frames dropped, $(metric n1 atenet_ws_events_total 'event="frames_out"') delivered"
tok status --data-dir "$D" >"$LOG/tok-status.txt" 2>&1 || fail "tok status failed"
grep -q ws_queue_full "$LOG/tok-status.txt" || fail "tok status does not show ws_queue_full: $(cat "$LOG/tok-status.txt")"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/${PID[node-n1]}/status")
say "node VmRSS after the flood: $rss KiB"
((rss < 200000)) || fail "the node grew to $rss KiB: something buffered without bound"
check "ping after the flood" nsx c2 ping -n -q -c 2 -i 0.2 -W 1 "$(ovip 11)"
say "PASS"
