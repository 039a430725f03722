#!/usr/bin/env bash
# What `tok connect` says when it cannot work (issue 4, item 2): a malformed
# key, no CAP_NET_ADMIN, a tap name in use (by another tok, by a non-tap
# device) exit non-zero naming the bad value; a node that does not answer is
# reported as "no answer from ADDR (node down, or key not accepted)" and
# tok keeps trying until the node is there.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping setpriv

underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_with_ul c2 12
D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
NODE=$(ulip 1):$PORT

# expect_exit TAG WORD DESCRIPTION: TAG's tok exits non-zero within 5 s and says WORD
expect_exit() {
  wait_for 5 gone "${PID[$1]}" || fail "$3: tok still runs after 5 s"
  local rc=0; bg_exit "$1" || rc=$?
  [ "$rc" != 0 ] || fail "$3: tok exited 0"
  grep -qiF -- "$2" "$LOG/$1.err" || fail "$3: tok's message does not name '$2': $(tail -2 "$LOG/$1.err")"
  say "$3: exit $rc, $(grep -iF -m1 -- "$2" "$LOG/$1.err")"
}

bg c1 bad-key "$TOK_BIN" connect "$NODE" --key ate1notakey --tap tap0 --address "$(ovip 11)/24"
expect_exit bad-key "ate1" "malformed key"
[ -z "$(nsx c1 ip link show tap0 2>/dev/null)" ] || fail "a tap was left behind after the malformed key"

bg c1 no-cap setpriv --bounding-set=-net_admin --inh-caps=-net_admin "$TOK_BIN" connect "$NODE" --key "$KEY" --tap tap0 --address "$(ovip 11)/24"
expect_exit no-cap "CAP_NET_ADMIN" "no CAP_NET_ADMIN"

nsx c1 ip link add tun9 type veth peer name tun9p || fail "could not make a veth named tun9"
bg c1 not-a-tap "$TOK_BIN" connect "$NODE" --key "$KEY" --tap tun9 --address "$(ovip 11)/24"
expect_exit not-a-tap "tun9" "--tap naming a non-tap device"

# no node yet: "no answer", and tok keeps trying
bg c1 tok-c1 "$TOK_BIN" connect "$NODE" --key "$KEY" --tap tap0 --address "$(ovip 11)/24"
wait_for 8 grep -qF "no answer from $NODE (node down, or key not accepted)" "$LOG/tok-c1.err" \
  || fail "tok did not report 'no answer from $NODE (node down, or key not accepted)': $(tail -2 "$LOG/tok-c1.err")"
alive "${PID[tok-c1]}" || fail "tok gave up instead of trying again"
say "no node: tok says \"$(grep -F -m1 'no answer from' "$LOG/tok-c1.err" | sed 's/.*\(no answer\)/\1/')\" and keeps trying"

# a second tok on the same tap name: in use
bg c1 tap-in-use "$TOK_BIN" connect "$NODE" --key "$KEY" --tap tap0 --address "$(ovip 21)/24"
expect_exit tap-in-use "tap0" "--tap naming a tap in use"

# the node appears: the waiting tok connects
node_start n1 1 "$D"
tok_start c2 1 "$KEY" 12
reach c1 "$(ovip 12)" 15
say "PASS"
