#!/usr/bin/env bash
# A browser on the network: headless Debian chromium (driven by
# playwright-core, browser/page.mjs) in a namespace whose only link is the
# underlay to the node (no default route, background networking off) opens
# the node's page over https with the node's self-signed certificate
# (accepted for this test only), presses Connect, gets a DHCP lease from the
# node, pings a tap client (`tok connect` in another namespace), and the tap
# client pings the browser's address. A screenshot is saved under
# target/netns-artifacts/. Also: a wrong token gets 401 before any upgrade,
# plain HTTP to the TLS port is counted as a TLS error, and revoking the key
# closes the page's websocket within 2 s.
. "$(dirname "$0")/lib.sh"
need_bins
need_tools ping node /usr/bin/chromium
BROWSER_DIR=$HERE/browser
[ -d "$BROWSER_DIR/node_modules/playwright-core" ] \
  || fail "playwright-core missing: npm ci --prefix scripts/netns-tests/browser"
ARTIFACTS=$ROOT/target/netns-artifacts
mkdir -p "$ARTIFACTS"
WSS_PORT=7443

underlay
ns_with_ul n1 1
ns_with_ul c1 11
ns_with_ul b1 21
[ -z "$(nsx b1 ip -4 route show default)" ] || fail "the browser namespace must have no default route"

D=$WORK/data
make_net "$D"
KEY=$(key_issue "$D" t)
[ -n "$KEY" ] || fail "tok key issue printed no key"
KID=$(key_id "$KEY")
node_start n1 1 "$D" --wss "$(ulip 1):$WSS_PORT"
wait_for 10 port_listening n1 "$WSS_PORT" || fail "no wss listener on $WSS_PORT"
wait_for 5 grep -q 'sha256' "$LOG/node-n1.err" || fail "the node printed no certificate fingerprint"
say "wss on $(ulip 1):$WSS_PORT, certificate $(grep -o 'sha256=[0-9A-F:]*' "$LOG/node-n1.err" | head -1)"
[ "$(stat -c %a "$D/wss-key.pem")" = 600 ] || fail "wss-key.pem is not mode 0600"

PAGE_URL=$(tok key wss-url t "$KID" --node "$(ulip 1):$WSS_PORT" --page --data-dir "$D") \
  || fail "tok key wss-url failed"
WS_URL=$(tok key wss-url t "$KID" --node "$(ulip 1):$WSS_PORT" --data-dir "$D") || fail "tok key wss-url failed"
case $WS_URL in "wss://$(ulip 1):$WSS_PORT/ws/atw1"*) ;; *) fail "unexpected wss URL ${WS_URL:0:40}" ;; esac
grep -q "atw1" "$LOG/node-n1.err" && fail "a token appears in the node's log"

# The page and a refused token, from the browser's namespace (curl -k: this test's certificate).
nsx b1 curl -sk --max-time 5 -o "$WORK/index.html" "https://$(ulip 1):$WSS_PORT/" || fail "GET / failed"
grep -q 'atenet' "$WORK/index.html" || fail "GET / is not the page"
code=$(nsx b1 curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
  "https://$(ulip 1):$WSS_PORT/ws/atw1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
[ "$code" = 401 ] || fail "a wrong token got HTTP $code, not 401"
say "GET / served the page; a wrong token got 401"

tok_start c1 1 "$KEY" 11

# The browser: lease, ping the tap client, then hold until we are done.
BW=$WORK/browser
mkdir -p "$BW"
SHOT=$ARTIFACTS/t_browser.png
rm -f "$SHOT"
bg b1 browser env HOME="$BW" node "$BROWSER_DIR/page.mjs" --url "$PAGE_URL" --ping "$(ovip 11)" \
  --work "$BW" --shot "$SHOT" --hold 60
wait_for 60 test -s "$BW/address" || fail "the page got no DHCP lease: $(tail -5 "$LOG/browser.out")"
BIP=$(tr -d '\n' <"$BW/address")
say "browser leased $BIP"
wait_for 30 grep -q "ping $(ovip 11):" "$LOG/browser.out" || fail "the page's ping did not finish: $(tail -5 "$LOG/browser.out")"
grep -q "ping $(ovip 11): [1-9]" "$LOG/browser.out" || fail "the page's ping got no reply: $(grep 'ping ' "$LOG/browser.out")"
say "$(grep -o "ping $(ovip 11): .*" "$LOG/browser.out")"
reach c1 "$BIP" 10
check "ping tap client -> browser (5 echoes)" nsx c1 ping -n -q -c 5 -i 0.2 -W 1 "$BIP"
say "$(nsx c1 ping -n -q -c 3 -i 0.2 -W 1 "$BIP" | tail -1)"
metric_ge n1 atenet_ws_clients "" 1 || fail "the node does not count the websocket client"

# Not TLS on the TLS port: refused, counted, the node keeps serving.
nsx b1 curl -s --max-time 3 -o /dev/null "http://$(ulip 1):$WSS_PORT/" && fail "plain HTTP was answered on the TLS port"
wait_for 3 metric_ge n1 atenet_ws_events_total 'event="tls_errors"' 1 || fail "TLS garbage not counted"

# Revoking the key closes the page's websocket within 2 s.
tok key revoke t "$KID" --data-dir "$D" >>"$LOG/tok-admin.log" 2>&1 || fail "tok key revoke failed"
t0=$(now_us)
ws_none() { [ "$(metric n1 atenet_ws_clients)" = 0 ]; }
wait_for 2 ws_none || fail "the websocket outlived the revocation by 2 s"
say "revocation closed the websocket after $(( ($(now_us) - t0) / 1000 )) ms (node side)"
touch "$BW/stop"
wait_for 20 gone "${PID[browser]}" || fail "the browser driver did not stop"
bg_exit browser || fail "the browser driver failed: $(cat "$BW/result.json" 2>/dev/null)"
[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
state=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("state",""))' "$BW/result.json")
case $state in "closed (1008"*) say "page after the revocation: $state" ;; *) fail "the page does not show the close: $state" ;; esac
say "screenshot: $SHOT"
wait_for 5 metric n1 atenet_ws_clients "" >/dev/null && say "websocket counters: $(metrics n1 | grep '^atenet_ws_events_total' | grep -v ' 0$' | sed 's/atenet_ws_events_total{event="\([a-z_]*\)"} /\1=/' | tr '\n' ' ')"
say "PASS"
