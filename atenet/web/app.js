// app.js: the page. Prefills the URL from where the page was opened
// (`https://node/#atw1...` or `#url=wss://...`; the fragment never leaves
// the browser), connects, runs DHCP (or a static address from the
// fragment: `#...&ip=10.1.2.5/24&gw=10.1.2.1`) and pings.

import { connect } from './atenet.js';
import { Stack, macText, parseIp, ipText } from './stack.js';

const $ = (id) => document.getElementById(id);
const logEl = $('log');
function log(line) {
  logEl.textContent += `${line}\n`;
  logEl.scrollTop = logEl.scrollHeight;
}

const params = new URLSearchParams(location.hash.slice(1));
function defaultUrl() {
  if (params.get('url')) return params.get('url');
  const token = [...params.keys()].find((k) => k.startsWith('atw1')) || params.get('token') || '';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return location.host ? `${scheme}//${location.host}/ws/${token}` : '';
}
$('url').value = defaultUrl();

let link = null;
let stack = null;
let statsTimer = null;

function setState(text) {
  $('state').textContent = text;
}

function showAddress() {
  $('address').textContent = stack.address ? `${ipText(stack.address)}/${stack.prefix}` : '-';
  $('gateway').textContent = stack.router ? ipText(stack.router) : '-';
}

async function onConnect() {
  const url = $('url').value.trim();
  if (!/^wss?:\/\/[^/]+\/ws\/atw1/.test(url)) {
    log('The URL should look like wss://HOST:PORT/ws/atw1... (see `tok key wss-url`).');
    return;
  }
  $('connect').disabled = true;
  setState('connecting');
  link = connect(url);
  stack = new Stack(link, { log });
  window.atenetPage.stack = stack;
  $('mac').textContent = macText(stack.mac);
  link.onclose = (code, reason) => {
    setState(`closed (${code}${reason ? `: ${reason}` : ''})`);
    log(`websocket closed: ${code} ${reason}`);
    $('ping').disabled = true;
    $('disconnect').disabled = true;
    $('connect').disabled = false;
    stack.close();
    clearInterval(statsTimer);
  };
  try {
    await link.ready;
  } catch (err) {
    log(err.message);
    return;
  }
  $('disconnect').disabled = false;
  statsTimer = setInterval(() => {
    $('frames').textContent = `${link.sent} out, ${link.received} in, ${link.dropped} dropped`;
  }, 500);
  const ip = params.get('ip');
  try {
    if (ip) {
      stack.configure(ip, params.get('gw'));
      log(`static address ${ip}`);
    } else {
      setState('DHCP');
      await stack.dhcp();
    }
  } catch (err) {
    log(err.message);
    setState('connected, no address');
    return;
  }
  showAddress();
  setState('connected');
  $('ping').disabled = false;
  if (!$('target').value && stack.router) $('target').value = ipText(stack.router);
}

async function onPing() {
  const target = $('target').value.trim();
  try {
    parseIp(target);
  } catch (err) {
    log(err.message);
    return;
  }
  $('ping').disabled = true;
  log(`PING ${target}`);
  let ok = 0;
  const count = 4;
  for (let i = 0; i < count; i++) {
    try {
      const { seq, rtt, bytes } = await stack.ping(target);
      ok += 1;
      log(`${bytes} bytes from ${target}: icmp_seq=${seq} time=${rtt.toFixed(1)} ms`);
    } catch (err) {
      log(err.message);
    }
    if (i + 1 < count) await new Promise((r) => setTimeout(r, 1000));
  }
  log(`--- ${target}: ${count} sent, ${ok} received`);
  $('ping').disabled = false;
}

$('connect').addEventListener('click', onConnect);
$('disconnect').addEventListener('click', () => link && link.close());
$('ping').addEventListener('click', onPing);
$('target').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !$('ping').disabled) onPing();
});
// For automation and the console.
window.atenetPage = { stack: null, connect: onConnect, ping: onPing };
