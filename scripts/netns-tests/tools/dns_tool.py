#!/usr/bin/env python3
"""DNS probes of the gateway DNS test (t_gateway_dns.sh), written from
RFC 1035 (message format) and RFC 7766 (DNS over TCP: two-byte length
prefix, several queries on one connection), not from atenet's code.

Every mode is bounded in time by its caller (`timeout`) and its own socket
timeouts, and talks only to the address it is given.

  many-tcp SERVER NAME N       opens N TCP connections to SERVER:53, all at
                               once (every connect completes before any query
                               is sent), then sends one A query for NAME on
                               each and reads each answer; prints
                               {"ok": n, "failed": n, "addrs": [...], "errors": {...}}
                               and exits 1 unless all N answered with an A record
  pipelined SERVER NAME K      K queries back to back on one TCP connection
                               (RFC 7766 6.2.1.1), answers matched by id;
                               exit 1 unless all K come back
"""

import json
import random
import socket
import struct
import sys
import time


def query(name, qid):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD, one question
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
    return header + qname + struct.pack("!HH", 1, 1)  # A, IN


def skip_name(msg, at):
    while True:
        n = msg[at]
        if n == 0:
            return at + 1
        if n & 0xC0 == 0xC0:
            return at + 2
        at += 1 + n


def a_records(msg, qid):
    """The A addresses of an answer to query `qid` (ValueError if it is not one)."""
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not the answer to query %d" % qid)
    if flags & 0xF:
        raise ValueError("rcode %d" % (flags & 0xF))
    at = 12
    for _ in range(qd):
        at = skip_name(msg, at) + 4
    out = []
    for _ in range(an):
        at = skip_name(msg, at)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[at:at + 10])
        at += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[at:at + 4]))
        at += rdlen
    return out


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_message(sock):
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def many_tcp(server, name, n):
    n = int(n)
    errors, socks = {}, []
    deadline = time.monotonic() + 30
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect((server, 53))
            socks.append(s)
        except OSError as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            s.close()
        if time.monotonic() > deadline:
            break
    ok, addrs = 0, set()
    ids = {}
    for s in socks:
        qid = random.randrange(65536)
        ids[s] = qid
        try:
            msg = query(name, qid)
            s.sendall(struct.pack("!H", len(msg)) + msg)
        except OSError as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
    for s in socks:
        try:
            got = a_records(recv_message(s), ids[s])
            if got:
                ok += 1
                addrs.update(got)
            else:
                errors["no A record"] = errors.get("no A record", 0) + 1
        except (OSError, ValueError, struct.error, IndexError) as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        finally:
            s.close()
    print(json.dumps({"ok": ok, "failed": n - ok, "addrs": sorted(addrs), "errors": errors}))
    return 0 if ok == n else 1


def pipelined(server, name, k):
    k = int(k)
    s = socket.create_connection((server, 53), timeout=10)
    ids = random.sample(range(65536), k)
    s.sendall(b"".join(struct.pack("!H", len(m)) + m for m in (query(name, q) for q in ids)))
    seen = set()
    for _ in range(k):
        msg = recv_message(s)
        (rid,) = struct.unpack("!H", msg[:2])
        if rid in ids and a_records(msg, rid):
            seen.add(rid)
    s.close()
    print(json.dumps({"sent": k, "answered": len(seen)}))
    return 0 if len(seen) == k else 1


if __name__ == "__main__":
    modes = {"many-tcp": many_tcp, "pipelined": pipelined}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    sys.exit(modes[sys.argv[1]](*sys.argv[2:]))
