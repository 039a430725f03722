#!/usr/bin/env bash
# `tok key revoke`: the revoked client's ping fails within 2 s and its tok
# exits non-zero saying the key was revoked, while clients with other keys
# keep working. A new `tok connect` with the revoked key is refused the same way.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping

underlay
ns_with_ul n1 1
for i in 1 2 3; do ns_with_ul "c$i" "1$i"; done

D=$WORK/data
make_net "$D"
K1=$(key_issue "$D" t); K2=$(key_issue "$D" t); K3=$(key_issue "$D" t)
[ -n "$K1" ] && [ -n "$K2" ] && [ -n "$K3" ] || fail "tok key issue printed no key"
KID1=$(key_id "$K1")
node_start n1 1 "$D"
tok_start c1 1 "$K1" 11
tok_start c2 1 "$K2" 12
tok_start c3 1 "$K3" 13
reach c1 "$(ovip 12)" 15
reach c2 "$(ovip 13)" 15

ping_fails() { ! nsx "$1" ping -n -q -c 1 -W 0.3 "$2" >/dev/null 2>&1; }
t0=$(now_us)
tok key revoke t "$KID1" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok key revoke t $KID1 failed: $(tail -3 "$LOG/tok-admin.log")"
say "revoked key $KID1 (c1's)"
wait_for 2 ping_fails c1 "$(ovip 12)" || fail "c1 still pings c2 2 s after the revocation"
say "c1's ping failed $(( ($(now_us) - t0) / 1000 )) ms after the revocation"
# and stays failing
if nsx c1 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 12)" >/dev/null 2>&1; then fail "c1's ping works again after the revocation"; fi
check "c2 (another key) still pings c3 (a third key)" nsx c2 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 13)"
check "c3 still pings c2" nsx c3 ping -n -q -c 3 -i 0.2 -W 1 "$(ovip 12)"

wait_for 5 gone "${PID[tok-c1]}" || fail "tok of c1 still runs 5 s after the revocation"
rc=0; bg_exit tok-c1 || rc=$?
[ "$rc" != 0 ] || fail "tok of c1 exited 0 after its key was revoked"
grep -qi 'revoked' "$LOG/tok-c1.err" "$LOG/tok-c1.out" || fail "tok of c1 exited ($rc) without saying the key was revoked: $(tail -3 "$LOG/tok-c1.err")"
say "tok of c1 exited $rc: $(grep -hi 'revoked' "$LOG/tok-c1.err" "$LOG/tok-c1.out" | tail -1)"

# a new connect with the revoked key: refused with a revoked notice, tok exits non-zero
bg c1 tok-c1-again "$TOK_BIN" connect "$(ulip 1):$PORT" --key "$K1" --tap tap1 --address "$(ovip 21)/24"
wait_for 10 gone "${PID[tok-c1-again]}" || fail "a new tok with the revoked key still runs after 10 s"
rc=0; bg_exit tok-c1-again || rc=$?
[ "$rc" != 0 ] || fail "a new tok with the revoked key exited 0"
grep -qi 'revoked' "$LOG/tok-c1-again.err" "$LOG/tok-c1-again.out" || fail "a new tok with the revoked key exited ($rc) without saying revoked: $(tail -3 "$LOG/tok-c1-again.err")"
check "c2 still pings c3 at the end" nsx c2 ping -n -q -c 2 -i 0.2 -W 1 "$(ovip 13)"
say "PASS"
