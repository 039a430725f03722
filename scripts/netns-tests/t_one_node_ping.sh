#!/usr/bin/env bash
# One node, two tap clients in two namespaces: ping both ways, and a
# 5-second iperf3 TCP run completes (throughput printed, not asserted).
# The key is the one a first run prints in its `tok connect ...` line.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping iperf3

underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_with_ul c2 12

node_start n1 1 "$WORK/data"
KEY=$(first_run_key n1)
[ -n "$KEY" ] || fail "no ate1 key in the first-run line: $(grep -m1 '^tok connect' "$LOG/node-n1.out")"
say "first-run line: $(grep -m1 '^tok connect ' "$LOG/node-n1.out" | sed 's/ate1[A-Za-z0-9_-]*/ate1.../')"

tok_start c1 1 "$KEY" 11
tok_start c2 1 "$KEY" 12
reach c1 "$(ovip 12)" 15
reach c2 "$(ovip 11)" 5
check "ping c1 -> c2 (5 echoes)" nsx c1 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 12)"
check "ping c2 -> c1 (5 echoes)" nsx c2 ping -n -q -c 5 -i 0.2 -W 1 "$(ovip 11)"

# iperf3: server in c2 for one test, client in c1 for 5 s
bg c2 iperf3-server iperf3 -s -1 -B "$(ovip 12)"
wait_for 5 port_listening c2 5201 || fail "iperf3 server did not listen"
kdrops() { echo "UDP receive-buffer overflows (kernel drops): node $(udp_rcvbuf_errors n1), c1 $(udp_rcvbuf_errors c1), c2 $(udp_rcvbuf_errors c2); node send errors $(metric n1 atenet_send_errors_total)"; }
# 5 s of data; the rest of the bound is for the end-of-test exchange on the
# control connection, which TCP backoff can delay when the path loses much
if ! nsxt 60 c1 iperf3 -c "$(ovip 12)" -t 5 --connect-timeout 5000 -J >"$LOG/iperf3.json" 2>"$LOG/iperf3.err"; then
  say "iperf3 failed: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error",""))' "$LOG/iperf3.json" 2>/dev/null) $(tail -2 "$LOG/iperf3.err")"
  say "  $(kdrops)"
  ping_ok c1 "$(ovip 12)" && say "  ping c1 -> c2 still works" || say "  ping c1 -> c2 fails now too"
  metrics n1 | grep -E '^atenet_(packets|frames)_(received|forwarded|sent|dropped)' | grep -v ' 0$' | sed 's/^/  /'
  fail "the 5-second iperf3 TCP run did not complete"
fi
gbps=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.3f Gbit/s received, %d retransmits" % (e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", 0)))' "$LOG/iperf3.json")
say "iperf3 TCP 5 s c1 -> c2 through the node: $gbps"
say "  $(kdrops)"
bg_exit iperf3-server || true
# both clients still carried by the node afterwards
check "ping after iperf3" nsx c1 ping -n -q -c 2 -i 0.2 -W 1 "$(ovip 12)"
say "PASS"
