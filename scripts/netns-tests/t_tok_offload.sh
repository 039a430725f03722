#!/usr/bin/env bash
# Tap offloads (issue 8): tok asks the kernel for TSO and checksum offload on
# its tap (`ethtool -k` shows them on; `--no-offload` leaves them off). 16 MiB
# over TCP, IPv4 and IPv6, arrive intact (sha256) between two offloading toks
# and between an offloading and a non-offloading one, both ways; the toks'
# exit counters show super-frames cut on the sending side, super-frames built
# on the receiving side, and no read dropped as malformed.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping ethtool python3 sha256sum

underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_with_ul c2 12
ns_with_ul c3 13

node_start n1 1 "$WORK/data"
KEY=$(first_run_key n1)
[ -n "$KEY" ] || fail "no ate1 key in the first-run line"
export RUST_LOG=info,tok=debug   # the counters are printed at debug on exit
tok_start c1 1 "$KEY" 11
tok_start c2 1 "$KEY" 12
tok_start c3 1 "$KEY" 13 --no-offload
for c in 1 2 3; do
  # lib.sh turns IPv6 off in every namespace: on for the tap only
  nsx "c$c" sysctl -qw net.ipv6.conf.tap0.disable_ipv6=0 || fail "IPv6 on c$c's tap0"
  nsx "c$c" ip -6 addr add "fd77::1$c/64" dev tap0 nodad || fail "IPv6 address on c$c"
done
reach c1 "$(ovip 12)" 15
reach c1 "$(ovip 13)" 5
reach c1 fd77::12 10
reach c1 fd77::13 10

feature() { nsx "$1" ethtool -k tap0 | awk -v f="$2:" '$1 == f {print $2}'; }
for f in tcp-segmentation-offload tx-checksumming; do
  [ "$(feature c1 $f)" = on ] || fail "c1's tap0: $f is $(feature c1 $f), expected on"
  [ "$(feature c3 $f)" = off ] || fail "c3's tap0 (--no-offload): $f is $(feature c3 $f), expected off"
done
say "ethtool -k tap0: TSO and checksum offload on in c1, off in c3 (--no-offload)"

cat >"$WORK/sink.py" <<'EOF'
import hashlib, socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
server = socket.create_server((addr, port), family=family)
conn, _ = server.accept()
h, n = hashlib.sha256(), 0
while True:
    b = conn.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
conn.close()
print(h.hexdigest(), n, flush=True)
EOF
cat >"$WORK/source.py" <<'EOF'
import socket, sys
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = socket.create_connection((addr, port), timeout=30)
with open(path, "rb") as f:
    conn.sendall(f.read())
conn.shutdown(socket.SHUT_WR)
conn.recv(1)
conn.close()
EOF
head -c 16777216 /dev/urandom >"$WORK/blob"
WANT="$(sha256sum <"$WORK/blob" | cut -d' ' -f1) 16777216"

# transfer FROM TO ADDR PORT: the blob from FROM to a sink in TO on ADDR
transfer() {
  local from=$1 to=$2 addr=$3 port=$4 got
  bg "$to" "sink-$port" python3 "$WORK/sink.py" "$addr" "$port"
  wait_for 5 port_listening "$to" "$port" || fail "sink in $to did not listen on $port"
  nsxt 60 "$from" python3 "$WORK/source.py" "$addr" "$port" "$WORK/blob" \
    || fail "sending 16 MiB $from -> $to ($addr) failed: $(tail -2 "$LOG/sink-$port.err")"
  bg_exit "sink-$port" || fail "sink in $to failed: $(tail -2 "$LOG/sink-$port.err")"
  got=$(tail -1 "$LOG/sink-$port.out")
  [ "$got" = "$WANT" ] || fail "$from -> $to ($addr): received '$got', sent '$WANT'"
  say "16 MiB $from -> $to over $addr intact"
}
transfer c1 c2 "$(ovip 12)" 6001
transfer c2 c1 fd77::11 6002
transfer c1 c3 "$(ovip 13)" 6003
transfer c3 c1 "$(ovip 11)" 6004
transfer c1 c3 fd77::13 6005
transfer c3 c2 fd77::12 6006

for c in c1 c2 c3; do stop "tok-$c"; done
# counter NAME ROLE: the value of NAME in ROLE's exit stats
counter() { grep -o "stats=Stats {.*" "$LOG/tok-$2.err" | grep -o "$1: [0-9]*" | head -1 | awk '{print $2}'; }
for c in c1 c2 c3; do
  line=$(grep -o "stats=Stats {.*" "$LOG/tok-$c.err") || fail "no exit stats from tok in $c"
  say "tok in $c: $(echo "$line" | grep -o 'tap_offload: .*')"
  drops=$(echo "$line" | grep -o 'drops: Drops {[^}]*}')
  [ -z "$(echo "$drops" | grep -o ': [1-9]')" ] || fail "tok in $c dropped tap reads: $drops"
done
(($(counter gso_frames c1) > 0)) || fail "c1 cut no super-frame (TSO not used)"
(($(counter super_frames c1) > 0)) || fail "c1 built no super-frame from c2's or c3's segments"
(($(counter super_frames c2) > 0)) || fail "c2 built no super-frame from c1's segments"
(($(counter gso_frames c3) == 0 && $(counter super_frames c3) == 0)) || fail "c3 (--no-offload) used offloads"
say "PASS"
