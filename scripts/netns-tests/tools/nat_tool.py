#!/usr/bin/env python3
"""Small servers and probes of the NAT namespace test (t_nat.sh).

Every mode is bounded in time by its caller (`timeout`) and talks only to
the addresses it is given: the test passes addresses of its own namespaces.

  http-serve ADDR PORT DIR     threaded HTTP server (listen backlog 1024) serving DIR
  udp-echo ADDR PORT           echoes every datagram back to its sender
  udp-ask ADDR PORT TEXT       sends TEXT, prints the answer (exit 1 after 2 s without one)
  udp-refused ADDR PORT        sends a datagram on a connected socket; exit 0 if the next
                               receive reports ECONNREFUSED (an ICMP port unreachable came back)
  many-tcp URL N [PARALLEL]    N HTTP GETs of URL, PARALLEL (default N) at once, each on its
                               own connection; prints {"ok": n, "failed": n, "errors": {...}};
                               exit 1 unless all succeed
  syn-probe IFACE GW_MAC SRC_IP DST_IP DPORT
                               sends one TCP SYN SRC_IP -> DST_IP:DPORT as an Ethernet frame
                               to GW_MAC on IFACE (AF_PACKET; for destinations the kernel
                               would never route out, such as 127.0.0.1) and prints what
                               came back within 2 s: synack, rst, icmp-TYPE-CODE or none
  nat-flows [KIND,...]         reads `tok status --json` output on stdin and prints the
                               NAT flows open on every node summed (`nat_flows.total`, or
                               the kinds named, e.g. tcp,tcp_time_wait; exit 2 when the
                               documents carry none)
"""

import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


def http_serve(addr, port, directory):
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

    srv = Server((addr, int(port)), Handler)
    print("listening on %s:%s" % (addr, port), flush=True)
    srv.serve_forever()


def udp_echo(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("listening on %s:%s" % (addr, port), flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def udp_ask(addr, port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(text.encode(), (addr, int(port)))
    data, peer = s.recvfrom(65535)
    print("%s from %s:%d" % (data.decode(errors="replace"), peer[0], peer[1]))
    return 0 if data.decode(errors="replace") == text else 1


def udp_refused(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((addr, int(port)))
    s.send(b"anyone?")
    try:
        s.recv(65535)
    except ConnectionRefusedError:
        print("refused")
        return 0
    except socket.timeout:
        print("no answer")
        return 1
    print("answered")
    return 1


def many_tcp(url, n, parallel=None):
    n = int(n)
    parallel = int(parallel or n)
    start = threading.Barrier(min(parallel, n))
    errors = {}
    lock = threading.Lock()

    def one(i):
        try:
            if i < parallel:
                start.wait(timeout=10)
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
                return r.status == 200
        except Exception as e:  # noqa: BLE001 - every failure is counted by kind
            with lock:
                k = type(e).__name__ + ": " + str(e)[:80]
                errors[k] = errors.get(k, 0) + 1
            return False

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as ex:
        results = list(ex.map(one, range(n)))
    ok = sum(results)
    print(json.dumps({"ok": ok, "failed": n - ok, "seconds": round(time.monotonic() - t0, 2), "errors": errors}))
    return 0 if ok == n else 1


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn_probe(iface, gw_mac, src_ip, dst_ip, dport):
    dport = int(dport)
    sport = random.randint(40000, 60000)
    my_mac = bytes.fromhex(open("/sys/class/net/%s/address" % iface).read().strip().replace(":", ""))
    gw = bytes.fromhex(gw_mac.replace(":", ""))
    src = socket.inet_aton(src_ip)
    dst = socket.inet_aton(dst_ip)
    seq = random.getrandbits(32)
    # MSS option 1300
    opts = struct.pack("!BBH", 2, 4, 1300)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (5 + len(opts) // 4) << 4, 0x02, 65535, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = gw + my_mac + b"\x08\x00" + ip + tcp
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    s.settimeout(0.2)
    s.send(frame)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[0:6] != my_mac:
            continue
        ihl = (f[14] & 0x0F) * 4
        proto = f[23]
        body = f[14 + ihl:]
        if proto == 6 and f[26:30] == dst and len(body) >= 14:
            sp, dp = struct.unpack("!HH", body[:4])
            if sp == dport and dp == sport:
                flags = body[13]
                if flags & 0x12 == 0x12:
                    print("synack")
                    return 0
                if flags & 0x04:
                    print("rst")
                    return 0
        if proto == 1 and len(body) >= 8 + 20 + 4:
            # an ICMP error quoting our SYN
            q = body[8:]
            qihl = (q[0] & 0x0F) * 4
            if q[16:20] == dst and struct.unpack("!H", q[qihl:qihl + 2])[0] == sport:
                print("icmp-%d-%d" % (body[0], body[1]))
                return 0
    print("none")
    return 0


def nat_flows(kinds="total"):
    kinds = kinds.split(",")
    text = sys.stdin.read()
    docs = []
    dec = json.JSONDecoder()
    i = 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        docs.append(obj)
    total = 0
    found = False

    def walk(o):
        nonlocal total, found
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "nat_flows" and isinstance(v, dict) and isinstance(v.get("total"), (int, float)):
                    total += sum(v.get(kind, 0) for kind in kinds)
                    found = True
                else:
                    walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)

    for d in docs:
        walk(d)
    if not found:
        return 2
    print(int(total))
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    mode, args = argv[1], argv[2:]
    fn = {
        "http-serve": http_serve,
        "udp-echo": udp_echo,
        "udp-ask": udp_ask,
        "udp-refused": udp_refused,
        "many-tcp": many_tcp,
        "syn-probe": syn_probe,
        "nat-flows": nat_flows,
    }.get(mode)
    if fn is None:
        print("unknown mode %s" % mode, file=sys.stderr)
        return 2
    return fn(*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
