// stack.js: a minimal IPv4 host over an Ethernet link: ARP (answers and a
// small cache), a DHCP client (RFC 2131: DISCOVER, OFFER, REQUEST, ACK,
// renewing at T1), ICMP echo (answers, and ping with RTTs) and UDP echo
// (answers on port 7, and a client). Enough for a person to get an address
// and test reachability; not a general TCP/IP stack.
//
//   const stack = new Stack(link, { mac });   // link: { send(frame), onframe }
//   await stack.dhcp();                       // -> { address, prefix, router, lease }
//   const rtt = await stack.ping('10.1.2.3'); // ms, or throws on timeout

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const BROADCAST_MAC = new Uint8Array([255, 255, 255, 255, 255, 255]);
const PROTO_ICMP = 1;
const PROTO_UDP = 17;
const DHCP_MAGIC = [99, 130, 83, 99];

export function parseIp(text) {
  const parts = String(text).trim().split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  const bytes = parts.map((p) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${text}`);
    return Number(p);
  });
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

export function ipText(ip) {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export function macText(mac) {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function randomMac() {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0] & 0xfe) | 0x02; // unicast, locally administered
  return mac;
}

function maskOf(prefix) {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function checksum(bytes, start, end, initial = 0) {
  let sum = initial;
  for (let i = start; i < end; i += 2) {
    sum += (bytes[i] << 8) | (i + 1 < end ? bytes[i + 1] : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function put32(buf, at, value) {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 255;
  buf[at + 2] = (value >>> 8) & 255;
  buf[at + 3] = value & 255;
}

function get32(buf, at) {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

function get16(buf, at) {
  return (buf[at] << 8) | buf[at + 1];
}

function sameMac(a, b) {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Stack {
  constructor(link, { mac = randomMac(), log = () => {} } = {}) {
    this.link = link;
    this.mac = mac;
    this.log = log;
    this.address = 0;
    this.prefix = 0;
    this.router = 0;
    this.lease = null;
    this.arp = new Map(); // ip -> { mac, at }
    this.arpWaiters = new Map(); // ip -> [resolve]
    this.pings = new Map(); // "id:seq" -> { resolve, sent }
    this.udpWaiters = new Map(); // local port -> resolve
    this.dhcpWaiter = null;
    this.pingId = crypto.getRandomValues(new Uint16Array(1))[0];
    this.pingSeq = 0;
    this.ipId = 0;
    this.timers = [];
    this.stats = { in: 0, out: 0, ignored: 0 };
    link.onframe = (frame) => this.receive(frame);
  }

  close() {
    for (const timer of this.timers) clearTimeout(timer), clearInterval(timer);
    this.timers = [];
  }

  // ---- configuration

  /** A static address ("10.1.2.5/24", router optional). */
  configure(cidr, router) {
    const [ip, prefix] = String(cidr).split('/');
    this.address = parseIp(ip);
    this.prefix = prefix === undefined ? 24 : Number(prefix);
    this.router = router ? parseIp(router) : 0;
    this.announce();
  }

  inSubnet(ip) {
    const mask = maskOf(this.prefix);
    return (ip & mask) === (this.address & mask);
  }

  isOurs(ip) {
    const broadcast = (this.address | ~maskOf(this.prefix)) >>> 0;
    return ip === this.address || ip === 0xffffffff || (this.address !== 0 && ip === broadcast);
  }

  /** Gratuitous ARP, now and every 15 s (how a node learns where we are). */
  announce() {
    this.sendArp(1, BROADCAST_MAC, this.address, new Uint8Array(6), this.address);
    if (!this.announcer) {
      this.announcer = setInterval(() => {
        if (this.address) this.sendArp(1, BROADCAST_MAC, this.address, new Uint8Array(6), this.address);
      }, 15000);
      this.timers.push(this.announcer);
    }
  }

  // ---- Ethernet in

  receive(frame) {
    if (frame.length < 14) return;
    const dst = frame.subarray(0, 6);
    if (!sameMac(dst, this.mac) && !sameMac(dst, BROADCAST_MAC)) {
      this.stats.ignored += 1;
      return;
    }
    this.stats.in += 1;
    const type = get16(frame, 12);
    const src = frame.slice(6, 12);
    if (type === ETH_ARP) this.receiveArp(frame.subarray(14));
    else if (type === ETH_IPV4) this.receiveIpv4(src, frame.subarray(14));
  }

  receiveArp(p) {
    if (p.length < 28 || get16(p, 0) !== 1 || get16(p, 2) !== ETH_IPV4) return;
    const op = get16(p, 6);
    const sha = p.slice(8, 14);
    const spa = get32(p, 14);
    const tpa = get32(p, 24);
    if (spa !== 0) this.learn(spa, sha);
    if (op === 1 && this.address !== 0 && tpa === this.address && spa !== this.address) {
      this.sendArp(2, sha, this.address, sha, spa);
    }
  }

  learn(ip, mac) {
    this.arp.set(ip, { mac, at: Date.now() });
    const waiters = this.arpWaiters.get(ip);
    if (waiters) {
      this.arpWaiters.delete(ip);
      for (const resolve of waiters) resolve(mac);
    }
  }

  receiveIpv4(srcMac, p) {
    if (p.length < 20 || p[0] >> 4 !== 4) return;
    const ihl = (p[0] & 15) * 4;
    const total = get16(p, 2);
    if (ihl < 20 || total < ihl || total > p.length) return;
    if ((get16(p, 6) & 0x3fff) !== 0) return; // fragments: not for this stack
    const proto = p[9];
    const src = get32(p, 12);
    const dst = get32(p, 16);
    const body = p.subarray(ihl, total);
    if (proto === PROTO_UDP && body.length >= 8) {
      const sport = get16(body, 0);
      const dport = get16(body, 2);
      const data = body.subarray(8, get16(body, 4));
      if (dport === 68 && sport === 67) return this.receiveDhcp(data);
      if (!this.isOurs(dst)) return;
      if (dport === 7) return this.sendUdp(src, 7, sport, data, srcMac);
      const waiter = this.udpWaiters.get(dport);
      if (waiter) {
        this.udpWaiters.delete(dport);
        waiter({ from: ipText(src), port: sport, data: data.slice() });
      }
      return;
    }
    if (proto === PROTO_ICMP && body.length >= 8 && this.isOurs(dst)) {
      if (checksum(body, 0, body.length) !== 0) return;
      if (body[0] === 8 && dst === this.address) {
        // Echo request: answer to where it came from (no ARP needed).
        const reply = body.slice();
        reply[0] = 0;
        reply[2] = 0;
        reply[3] = 0;
        const sum = checksum(reply, 0, reply.length);
        reply[2] = sum >> 8;
        reply[3] = sum & 255;
        this.sendIpv4To(srcMac, src, PROTO_ICMP, reply);
      } else if (body[0] === 0) {
        const key = `${get16(body, 4)}:${get16(body, 6)}`;
        const pending = this.pings.get(key);
        if (pending) {
          this.pings.delete(key);
          pending.resolve(performance.now() - pending.sent);
        }
      }
    }
  }

  // ---- Ethernet out

  sendFrame(dstMac, type, payload) {
    const frame = new Uint8Array(14 + payload.length);
    frame.set(dstMac, 0);
    frame.set(this.mac, 6);
    frame[12] = type >> 8;
    frame[13] = type & 255;
    frame.set(payload, 14);
    this.stats.out += 1;
    this.link.send(frame.length < 60 ? padded(frame) : frame);
  }

  sendArp(op, dstMac, spa, tha, tpa) {
    const p = new Uint8Array(28);
    p.set([0, 1, 8, 0, 6, 4, 0, op]);
    p.set(this.mac, 8);
    put32(p, 14, spa);
    p.set(tha, 18);
    put32(p, 24, tpa);
    this.sendFrame(dstMac, ETH_ARP, p);
  }

  ipv4Packet(src, dst, proto, body) {
    const p = new Uint8Array(20 + body.length);
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 255;
    this.ipId = (this.ipId + 1) & 0xffff;
    p[4] = this.ipId >> 8;
    p[5] = this.ipId & 255;
    p[6] = 0x40; // don't fragment
    p[8] = 64;
    p[9] = proto;
    put32(p, 12, src);
    put32(p, 16, dst);
    const sum = checksum(p, 0, 20);
    p[10] = sum >> 8;
    p[11] = sum & 255;
    p.set(body, 20);
    return p;
  }

  sendIpv4To(dstMac, dst, proto, body, src = this.address) {
    this.sendFrame(dstMac, ETH_IPV4, this.ipv4Packet(src, dst, proto, body));
  }

  /** The next hop's MAC: ARP requests 1 s apart, 3 tries. */
  async resolve(ip) {
    const hop = this.inSubnet(ip) ? ip : this.router;
    if (!hop) throw new Error(`no route to ${ipText(ip)} (no gateway)`);
    const known = this.arp.get(hop);
    if (known && Date.now() - known.at < 60000) return known.mac;
    for (let attempt = 0; attempt < 3; attempt++) {
      const got = new Promise((resolve) => {
        const list = this.arpWaiters.get(hop) || [];
        list.push(resolve);
        this.arpWaiters.set(hop, list);
      });
      this.sendArp(1, BROADCAST_MAC, this.address, new Uint8Array(6), hop);
      const mac = await Promise.race([got, sleep(1000).then(() => null)]);
      if (mac) return mac;
    }
    throw new Error(`${ipText(hop)} does not answer ARP`);
  }

  async sendIpv4(dst, proto, body) {
    const mac = this.isOurs(dst) && dst !== this.address ? BROADCAST_MAC : await this.resolve(dst);
    this.sendIpv4To(mac, dst, proto, body);
  }

  sendUdp(dst, sport, dport, data, dstMac) {
    const u = new Uint8Array(8 + data.length);
    u[0] = sport >> 8;
    u[1] = sport & 255;
    u[2] = dport >> 8;
    u[3] = dport & 255;
    u[4] = u.length >> 8;
    u[5] = u.length & 255;
    u.set(data, 8); // checksum 0: none (allowed over IPv4)
    if (dstMac) return this.sendIpv4To(dstMac, dst, PROTO_UDP, u);
    return this.sendIpv4(dst, PROTO_UDP, u);
  }

  // ---- ICMP echo and UDP echo clients

  /** One echo request; resolves to the RTT in ms. */
  async ping(target, { timeout = 2000, size = 56 } = {}) {
    if (!this.address) throw new Error('no address yet');
    const dst = typeof target === 'number' ? target : parseIp(target);
    this.pingSeq = (this.pingSeq + 1) & 0xffff;
    const seq = this.pingSeq;
    const body = new Uint8Array(8 + size);
    body[0] = 8;
    body[4] = this.pingId >> 8;
    body[5] = this.pingId & 255;
    body[6] = seq >> 8;
    body[7] = seq & 255;
    for (let i = 8; i < body.length; i++) body[i] = i & 255;
    const sum = checksum(body, 0, body.length);
    body[2] = sum >> 8;
    body[3] = sum & 255;
    const key = `${this.pingId}:${seq}`;
    const reply = new Promise((resolve) => this.pings.set(key, { resolve, sent: 0 }));
    await this.sendIpv4(dst, PROTO_ICMP, body);
    this.pings.get(key).sent = performance.now();
    const rtt = await Promise.race([reply, sleep(timeout).then(() => null)]);
    this.pings.delete(key);
    if (rtt === null) throw new Error(`no reply from ${ipText(dst)} (icmp_seq=${seq})`);
    return { seq, rtt, bytes: body.length };
  }

  /** Sends `data` to an echo service (UDP port 7); resolves with the reply. */
  async udpEcho(target, data, { port = 7, timeout = 2000 } = {}) {
    const dst = typeof target === 'number' ? target : parseIp(target);
    const local = 49152 + Math.floor(Math.random() * 16000);
    const reply = new Promise((resolve) => this.udpWaiters.set(local, resolve));
    await this.sendUdp(dst, local, port, data);
    const got = await Promise.race([reply, sleep(timeout).then(() => null)]);
    this.udpWaiters.delete(local);
    if (!got) throw new Error(`no UDP echo from ${ipText(dst)}:${port}`);
    return got;
  }

  // ---- DHCP client (RFC 2131)

  dhcpPacket(type, xid, { requested = 0, server = 0, ciaddr = 0 } = {}) {
    const p = new Uint8Array(240 + 64);
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6;
    put32(p, 4, xid);
    p[10] = ciaddr ? 0 : 0x80; // broadcast replies until we have an address
    put32(p, 12, ciaddr);
    p.set(this.mac, 28);
    p.set(DHCP_MAGIC, 236);
    let at = 240;
    const option = (code, bytes) => {
      p[at++] = code;
      p[at++] = bytes.length;
      p.set(bytes, at);
      at += bytes.length;
    };
    const ip = (value) => {
      const b = new Uint8Array(4);
      put32(b, 0, value);
      return b;
    };
    option(53, [type]);
    option(61, [1, ...this.mac]);
    if (requested) option(50, ip(requested));
    if (server) option(54, ip(server));
    option(55, [1, 3, 6, 26, 51, 54]);
    option(12, new TextEncoder().encode('atenet-browser'));
    p[at++] = 255;
    return p.subarray(0, Math.max(at, 300));
  }

  sendDhcp(packet, ciaddr = 0) {
    const u = new Uint8Array(8 + packet.length);
    u[0] = 0;
    u[1] = 68;
    u[2] = 0;
    u[3] = 67;
    u[4] = u.length >> 8;
    u[5] = u.length & 255;
    u.set(packet, 8);
    this.sendIpv4To(BROADCAST_MAC, 0xffffffff, PROTO_UDP, u, ciaddr);
  }

  receiveDhcp(p) {
    if (p.length < 240 || p[0] !== 2 || get32(p, 236) !== 0x63825363) return;
    if (!sameMac(p.subarray(28, 34), this.mac)) return;
    const reply = { xid: get32(p, 4), yiaddr: get32(p, 16), options: new Map() };
    for (let at = 240; at < p.length; ) {
      const code = p[at++];
      if (code === 255) break;
      if (code === 0) continue;
      const len = p[at++];
      reply.options.set(code, p.slice(at, at + len));
      at += len;
    }
    const type = reply.options.get(53);
    reply.type = type ? type[0] : 0;
    if (this.dhcpWaiter && this.dhcpWaiter.xid === reply.xid) this.dhcpWaiter.resolve(reply);
  }

  async dhcpExchange(packet, xid, want, ciaddr = 0) {
    for (let attempt = 0; attempt < 4; attempt++) {
      const got = new Promise((resolve) => {
        this.dhcpWaiter = { xid, resolve };
      });
      this.sendDhcp(packet, ciaddr);
      const reply = await Promise.race([got, sleep(1000 * 2 ** attempt).then(() => null)]);
      if (reply && (reply.type === want || reply.type === 6)) {
        this.dhcpWaiter = null;
        return reply;
      }
    }
    this.dhcpWaiter = null;
    return null;
  }

  /** DISCOVER, OFFER, REQUEST, ACK; then renews at T1. */
  async dhcp() {
    const xid = crypto.getRandomValues(new Uint32Array(1))[0];
    this.log('DHCP: DISCOVER');
    const offer = await this.dhcpExchange(this.dhcpPacket(1, xid), xid, 2);
    if (!offer || offer.type !== 2) throw new Error('no DHCP offer (is DHCP served on this network?)');
    const server = get32(offer.options.get(54) || new Uint8Array(4), 0);
    this.log(`DHCP: OFFER ${ipText(offer.yiaddr)} from ${ipText(server)}; REQUEST`);
    const request = this.dhcpPacket(3, xid, { requested: offer.yiaddr, server });
    const ack = await this.dhcpExchange(request, xid, 5);
    if (!ack || ack.type !== 5) throw new Error(`DHCP: ${ack ? 'NAK' : 'no ACK'} for ${ipText(offer.yiaddr)}`);
    this.bind(ack);
    return this.lease;
  }

  bind(ack) {
    const mask = ack.options.get(1);
    const router = ack.options.get(3);
    const leaseTime = ack.options.get(51);
    const bits = mask ? get32(mask, 0) : 0xffffff00;
    this.address = ack.yiaddr;
    this.prefix = countBits(bits); // leading ones of the mask
    this.router = router ? get32(router, 0) : 0;
    const seconds = leaseTime ? get32(leaseTime, 0) : 3600;
    this.lease = {
      address: ipText(this.address),
      prefix: this.prefix,
      router: this.router ? ipText(this.router) : null,
      seconds,
      mtu: ack.options.get(26) ? get16(ack.options.get(26), 0) : null,
    };
    this.log(`DHCP: ACK ${this.lease.address}/${this.prefix} router ${this.lease.router} lease ${seconds} s`);
    this.announce();
    const renew = setTimeout(() => this.renew().catch((err) => this.log(`DHCP renew: ${err.message}`)), (seconds * 1000) / 2);
    this.timers.push(renew);
  }

  async renew() {
    const xid = crypto.getRandomValues(new Uint32Array(1))[0];
    // RFC 2131 §4.3.2: ciaddr set, no requested address or server id.
    const ack = await this.dhcpExchange(this.dhcpPacket(3, xid, { ciaddr: this.address }), xid, 5, this.address);
    if (ack && ack.type === 5) this.bind(ack);
    else throw new Error('not renewed');
  }
}

function countBits(value) {
  // Leading one bits (a netmask's prefix length).
  let n = 0;
  for (let v = value >>> 0; v; v = (v << 1) >>> 0) n += 1;
  return n;
}

function padded(frame) {
  const out = new Uint8Array(60);
  out.set(frame);
  return out;
}
