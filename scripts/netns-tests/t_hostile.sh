#!/usr/bin/env bash
# Hostile packets to a node's UDP port (tools/hostile.py): bit flips, replays
# of captured packets (to the same node, to another node, to the same node
# after a restart), the node's own packets reflected back to it, a foreign
# network's key (crafted, and a real tok holding it), random bytes, truncated
# headers, oversize packets, 10 000 forged handshake inits from one address
# and 1 000 replays of one captured valid init.
#
# Asserted, phase by phase: the node's drop counters
# (atenet_packets_dropped_total{reason}) rise by exactly the number of
# packets sent, each under its reason; the kernel dropped none of them before
# the node read them (UDP RcvbufErrors); the clients' ping keeps working.
# At the end: no replayed frame reached a tap, and the nodes answered nothing
# to the attacker's addresses but the replayed valid inits, rate-limited and
# no larger than the init.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping
H="python3 $TOOLS/hostile.py"
PAT=4154454e45545f484f5354494c45      # "ATENET_HOSTILE": the payload of the pings we replay
MAX_INIT_ANSWERS=${MAX_INIT_ANSWERS:-16}   # the per-source burst of valid-init answers (EndpointConfig)
X1=66 X2=67 X3=69                     # attacker addresses: most phases / forged inits / init replays
N1=$(ulip 1):$PORT N2=$(ulip 2):$PORT

underlay
ns_with_ul n1 1
ns_with_ul n2 2
ns_with_ul c1 11
ns_with_ul c2 12
ns_with_ul x $X1 $X2 $X3
ns_with_ul f 68
# Nodes and toks glue same-size datagrams to one address into one GSO send;
# a capture on the underlay would see the glued buffer as one packet, and
# replaying it is not a replay of what the node received. One segment per
# buffer makes the kernel cut them before the capture point.
for ns in n1 n2 c1 c2 x f; do nsx "$ns" ip link set dev ul0 gso_max_segs 1 || fail "gso_max_segs on $ns"; done

D=$WORK/data FD=$WORK/foreign
make_net "$D"
K1=$(key_issue "$D" t); K2=$(key_issue "$D" t)
mkdir -p -m 700 "$FD"; net_create "$FD" f 10.78.0.0/24; FK=$(key_issue "$FD" f)
[ -n "$K1" ] && [ -n "$K2" ] && [ -n "$FK" ] || fail "tok key issue printed no key"
node_start n1 1 "$D"
node_start n2 2 "$D"
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer"
tok_start c2 2 "$K2" 12

# capture c1's handshake and a patterned ping c1 -> c2 on n1's underlay
cap_pcap n1 ul0 ul-n1-first udp port "$PORT"
cap_pcap c2 tap0 tap-c2-first icmp
tok_start c1 1 "$K1" 11
reach c1 "$(ovip 12)" 20
check "patterned ping c1 -> c2" nsx c1 ping -n -q -c 10 -i 0.1 -W 1 -p "$PAT" "$(ovip 12)"
cap_stop ul-n1-first
cap_stop tap-c2-first
# the detector used on the taps below sees the 10 requests and 10 replies here
n=$($H tapcount "$LOG/tap-c2-first.pcap" "$PAT")
[ "$n" = 20 ] || fail "c2's tap showed $n frames with the ping's payload, expected 20 (10 requests, 10 replies)"
CAP=$LOG/ul-n1-first.pcap
$H info "$CAP" >"$LOG/ul-n1-first.txt"
say "captured $(wc -l <"$LOG/ul-n1-first.txt") packets on n1's underlay"

# from here on: every packet on both nodes' underlays and every frame on both taps
cap_pcap n1 ul0 ul-n1 udp
cap_pcap n2 ul0 ul-n2 udp
cap_pcap c1 tap0 tap-c1
cap_pcap c2 tap0 tap-c2

send_x() { nsxt 120 x $H send "$@"; }
expected_total() { python3 -c 'import json,sys; print(sum(g["count"] for l in open(sys.argv[1]) if l.strip() for g in json.loads(l)["groups"]))' "$1"; }
drops_delta() { drops "$1" | python3 -c 'import json,sys; a=json.load(sys.stdin); b=json.load(open(sys.argv[1])); print(sum(a.values())-sum(b.values()))' "$2"; }
delta_ge() { local d; d=$(drops_delta "$1" "$2") && ((d >= $3)); }
pings_ok() {
  check "c1 pings c2 after $1" nsx c1 ping -n -q -c 2 -i 0.2 -W 1 "$(ovip 12)"
}

# phase NAME NODE SEND-ARGS...: one batch of hostile packets to NODE and the check of its counters
phase() {
  local name=$1 node=$2; shift 2
  local pf=$LOG/phase-$name kb ka exp
  drops "$node" >"$pf.before" || fail "$name: no drop counters from $node"
  kb=$(udp_rcvbuf_errors "$node")
  send_x "$@" >"$pf.expect" 2>"$pf.err" || fail "$name: hostile.py failed: $(tail -3 "$pf.err")"
  exp=$(expected_total "$pf.expect")
  wait_for 15 delta_ge "$node" "$pf.before" "$exp" || true
  sleep 0.5   # counts beyond the expected ones would show now
  drops "$node" >"$pf.after"
  ka=$(udp_rcvbuf_errors "$node")
  ((ka == kb)) || fail "$name: the kernel dropped $((ka - kb)) datagrams before $node read them (send slower)"
  $H check --before "$pf.before" --after "$pf.after" --expect "$pf.expect" --label "$name -> $node, $exp packets" >"$pf.check"
  local rc=$?
  sed 's/^/    /' "$pf.check"
  ((rc == 0)) || fail "$name: $node's drop counters do not match what was sent"
  pings_ok "$name"
}

BIND=(--bind "$(ulip $X1)")
phase bitflip n1 bitflip --to "$N1" "${BIND[@]}" --pcap "$CAP" --sel-dst "$N1" --sel-kinds sealed --count 160
phase replay-same-node n1 replay --to "$N1" "${BIND[@]}" --pcap "$CAP" --sel-dst "$N1" --sel-kinds sealed --expect replay
phase replay-other-node n2 replay --to "$N2" "${BIND[@]}" --pcap "$CAP" --sel-dst "$N1" --sel-kinds sealed --expect unknown_session
phase reflect n1 reflect --to "$N1" "${BIND[@]}" --pcap "$CAP" --sel-src "$N1" --sel-kinds sealed --expect unknown_session
phase foreign-key n1 foreign --to "$N1" "${BIND[@]}" --key "$K1" --foreign-key "$FK" --count 100
phase random-bytes n1 random --to "$N1" "${BIND[@]}" --count 500 --seed 7
phase truncated n1 truncate --to "$N1" "${BIND[@]}" --pcap "$CAP" --sel-dst "$N1" --sel-kinds sealed --count 104
phase oversize n1 oversize --to "$N1" "${BIND[@]}" --key "$K1" --count 10
# forged inits fail the Noise AEAD under the key's PSK (no rate limiter before it: it costs no DH)
phase forged-inits n1 forged-init --to "$N1" --bind "$(ulip $X2)" --key "$K1" --count 10000 --rate 5000 --expect bad_handshake

# a real tok holding a foreign network's key: every packet it sends is an
# unknown network to n1 (counted from the capture, since tok retries on its own)
pf=$LOG/phase-foreign-tok
drops n1 >"$pf.before"
bg f tok-foreign "$TOK_BIN" connect "$N1" --key "$FK" --tap tap0 --address 10.78.0.5/24
wait_for 15 delta_ge n1 "$pf.before" 2 || fail "n1 counted nothing for a tok with a foreign key"
stop tok-foreign TERM || true
foreign_sent() { $H answers "$LOG/ul-n1.pcap" --src "$(ulip 68)" --dst "$N1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
sleep 0.5   # the last packets of the stopped tok reach the capture and the node
n=$(foreign_sent)
drops n1 >"$pf.after"
echo "{\"groups\": [{\"reasons\": [\"unknown_network\"], \"count\": $n}]}" >"$pf.expect"
$H check --before "$pf.before" --after "$pf.after" --expect "$pf.expect" --label "tok with a foreign key, $n packets" >"$pf.check" \
  || { cat "$pf.check"; fail "foreign tok: n1's counters do not match the $n packets it sent"; }
sed 's/^/    /' "$pf.check"
say "  (tok with the foreign key said: $(grep -m1 -i 'no answer' "$LOG/tok-foreign.err" || tail -1 "$LOG/tok-foreign.err"))"

# 1000 replays of c1's captured valid init from one address: the node may
# answer some (rate-limited, no larger than the init); every one it does not
# answer is a drop. Before the restart the node remembers the init's
# ephemeral key (all are replays); after it, it does not.
answered() { $H answers "$LOG/ul-n1.pcap" --src "$N1" --dst "$(ulip $X3)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
init_replay() {
  local name=$1 pf=$LOG/phase-$1 kb ka r0 R
  drops n1 >"$pf.before"
  kb=$(udp_rcvbuf_errors n1)
  r0=$(answered)
  send_x init-replay --to "$N1" --bind "$(ulip $X3)" --pcap "$CAP" --sel-src "$(ulip 11)" --sel-dst "$N1" --sel-kinds init --count 1000 \
    >"$pf.sent" 2>"$pf.err" || fail "$name: $(tail -3 "$pf.err")"
  init_done() { local d; d=$(drops_delta n1 "$pf.before") && ((d + $(answered) - r0 >= 1000)); }
  wait_for 15 init_done || true
  sleep 0.5   # answers or drops beyond the 1000 would show now
  drops n1 >"$pf.after"
  ka=$(udp_rcvbuf_errors n1)
  ((ka == kb)) || fail "$name: the kernel dropped $((ka - kb)) datagrams before n1 read them"
  R=$(($(answered) - r0))
  # One init, one ephemeral: after at most one answer the node knows it,
  # so the rest are replays. More answers would be rate-limited or capped.
  if ((R <= 1)); then reasons='["replay"]'; else reasons='["replay", "rate_limited", "cap_reached"]'; fi
  echo "{\"groups\": [{\"reasons\": $reasons, \"count\": $((1000 - R))}]}" >"$pf.expect"
  $H check --before "$pf.before" --after "$pf.after" --expect "$pf.expect" --label "$name: 1000 replayed inits, $R answered" >"$pf.check" \
    || { cat "$pf.check"; fail "$name: n1's counters do not account for the 1000 inits ($R answered)"; }
  sed 's/^/    /' "$pf.check"
  ((R <= MAX_INIT_ANSWERS)) || fail "$name: n1 answered $R of 1000 replayed inits from one address (limit $MAX_INIT_ANSWERS)"
  pings_ok "$name"
}
init_replay init-replay

# restart n1 (clean shutdown), wait for the clients and the peer to come back,
# then replay the packets captured before the restart
say "restarting n1"
node_restart n1
wait_for 15 metric_ge n1 atenet_peers 'state="reachable"' 1 || fail "n1 has no reachable peer after its restart"
reach c1 "$(ovip 12)" 20
phase replay-after-restart n1 replay --to "$N1" "${BIND[@]}" --pcap "$CAP" --sel-dst "$N1" --sel-kinds sealed --expect unknown_session
init_replay init-replay-after-restart

# ---- what reached the taps, what the nodes answered ----
for t in ul-n1 ul-n2 tap-c1 tap-c2; do cap_stop "$t"; done
for c in c1 c2; do
  n=$($H tapcount "$LOG/tap-$c.pcap" "$PAT")
  say "frames with the replayed ping's payload on $c's tap: $n"
  [ "$n" = 0 ] || fail "$n replayed frame(s) reached $c's tap"
done
for node in n1 n2; do
  for x in $X1 $X2 68; do
    a=$($H answers "$LOG/ul-$node.pcap" --src "$(ulip "${node#n}")" --dst "$(ulip "$x")")
    say "$node -> $(ulip "$x"): $a"
    [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["count"])' "$a")" = 0 ] \
      || fail "$node answered hostile packets from $(ulip "$x"): $a"
  done
done
a=$($H answers "$LOG/ul-n1.pcap" --src "$(ulip 1)" --dst "$(ulip $X3)")
say "n1 -> $(ulip $X3) (the replayed inits' source): $a"
python3 - "$a" <<'PY' || fail "n1's answers to the replayed inits: $a"
import json, sys
a = json.loads(sys.argv[1])
bad = {k: n for k, n in a["kinds"].items() if k not in ("reply", "revoked")}
assert not bad, f"answers other than handshake replies: {bad}"
assert a["max_len"] <= 150, f"an answer of {a['max_len']} bytes to a 150-byte init"
PY
check "c1 pings c2 at the end" nsx c1 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 12)"
check "c2 pings c1 at the end" nsx c2 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 11)"
say "PASS"
