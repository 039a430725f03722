// atenet.js: join an atenet network from a browser.
//
//   import { connect } from './atenet.js';
//   const link = connect('wss://node:7443/ws/atw1...');
//   link.onframe = (frame) => { /* Uint8Array: one Ethernet frame */ };
//   await link.ready;
//   link.send(frame);            // Uint8Array, 14..=1518 bytes
//
// One binary websocket message is one Ethernet frame (the framing of the
// v86 emulator's network relay, so `network_relay_url` can be the same URL).
// The token in the URL is derived from an access key (`tok key wss-url`);
// it is never the key itself.

export const MIN_FRAME = 14;
export const MAX_FRAME = 1518;

export function connect(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const link = {
    url,
    onframe: null,
    onclose: null,
    sent: 0,
    received: 0,
    dropped: 0,
    ready: null,
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN || frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
        link.dropped += 1;
        return false;
      }
      // Like a NIC: a browser that cannot keep up drops rather than queues.
      if (ws.bufferedAmount > 1 << 20) {
        link.dropped += 1;
        return false;
      }
      ws.send(frame);
      link.sent += 1;
      return true;
    },
    close() {
      ws.close(1000, 'bye');
    },
  };
  link.ready = new Promise((resolve, reject) => {
    ws.onopen = () => resolve(link);
    ws.onerror = () => reject(new Error('websocket error (bad token, revoked key or untrusted certificate?)'));
  });
  ws.onmessage = (event) => {
    if (!(event.data instanceof ArrayBuffer)) return;
    link.received += 1;
    if (link.onframe) link.onframe(new Uint8Array(event.data));
  };
  ws.onclose = (event) => {
    if (link.onclose) link.onclose(event.code, event.reason);
  };
  return link;
}
