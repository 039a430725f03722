#!/usr/bin/env python3
"""hostile.py: hostile UDP traffic for an atenet node, and the bookkeeping
to check what the node made of it. Python 3 standard library only.

It reads pcap files written by `tcpdump -w` on the underlay, crafts v1
packets (layout in vswitch/WIRE.md and vswitch/src/wire.rs), sends them from
a UDP socket, and prints what the node should count for each packet it sent:

    {"sent": N, "groups": [{"reasons": ["bad_tag"], "count": N1}, ...]}

A group with several reasons means "any of these" (for checks whose order
the wire format leaves open, e.g. a rate limiter in front of the AEAD).
`check` adds the groups of several batches, merges groups that share a
reason, and compares them with the change of the node's drop counters
(`atenet_packets_dropped_total{reason=...}` from `--metrics`).

Subcommands: info, send, drops, check, tapcount, answers, key. Run with -h.
Every send is bounded in count (--count, at most 100000) and paced (--rate).
It only sends to the address given with --to; the tests give a node's
address inside a namespace they made.
"""

import argparse
import base64
import errno
import ipaddress
import json
import os
import random
import re
import socket
import struct
import sys
import time

# ---- wire format v1 (vswitch/src/wire.rs, vswitch/src/handshake.rs) ----
HEADER_LEN = 37
TAG_LEN = 16
MIN_PACKET = HEADER_LEN + TAG_LEN           # a keepalive
MAX_FRAME = 1518
MAX_PACKET = HEADER_LEN + MAX_FRAME + TAG_LEN
INIT_LEN = 150
REPLY_LEN = 94
VERSION = 1
KINDS = {1: "init", 2: "reply", 3: "frame", 4: "keepalive", 5: "leave", 6: "control", 7: "revoked"}
KIND_IDS = {v: k for k, v in KINDS.items()}
SEALED = {3, 4, 5, 6}
MAX_COUNT = 100000

# Header regions of a sealed packet and the check that a one-bit flip there
# fails first. The endpoint parses the header (runt, version, kind), finds
# the network by chain id, the key by key id, the session by session id, then
# checks the HMAC tag (which covers the header), then the replay window.
FLIP_REGIONS = [
    # (name, first byte, end byte or None for "up to the tag", bit mask, reason)
    ("chain_id", 0, 16, 0xFF, "unknown_network"),
    ("key_id", 16, 20, 0xFF, "unknown_key"),
    ("session_id", 20, 28, 0xFF, "unknown_session"),
    ("counter_low48", 30, 36, 0xFF, "bad_tag"),
    ("version_nibble", 36, 37, 0xF0, "bad_version"),
    ("kind_nibble", 36, 37, 0x0F, None),  # reason depends on the new kind: kind_flip_reason
    ("ciphertext", 37, None, 0xFF, "bad_tag"),
    ("tag", -TAG_LEN, 0, 0xFF, "bad_tag"),
]


def norm(reason):
    """Reason names compared without case or separators: BadTag == bad_tag."""
    return re.sub(r"[^a-z0-9]", "", reason.lower())


# ---- pcap ----
def read_pcap(path):
    """UDP/IPv4 datagrams of a classic pcap file: dicts t, src, sport, dst, dport, data."""
    out = []
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return out
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise SystemExit(f"{path}: not a classic pcap file (pcapng is not read)")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(endian + "I", head[20:24])[0] & 0x0FFFFFFF
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, incl, _orig = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            if len(data) < incl:
                break
            t = sec + frac / (1e9 if nano else 1e6)
            ip = link_payload(linktype, data)
            if ip is None:
                continue
            pkt = parse_udp4(ip)
            if pkt is not None:
                pkt["t"] = t
                out.append(pkt)
    return out


def read_frames(path):
    """Raw link-layer frames of a pcap file (for taps: Ethernet)."""
    frames = []
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return frames
        endian = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            _s, _u, incl, _o = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            if len(data) < incl:
                break
            frames.append(data)
    return frames


def link_payload(linktype, data):
    if linktype == 1:  # Ethernet
        off, ethertype = 14, struct.unpack("!H", data[12:14])[0] if len(data) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(data) >= off + 4:
            ethertype = struct.unpack("!H", data[off + 2:off + 4])[0]
            off += 4
        return data[off:] if ethertype == 0x0800 else None
    if linktype == 113:  # Linux cooked v1
        return data[16:] if len(data) >= 16 and data[14:16] == b"\x08\x00" else None
    if linktype == 276:  # Linux cooked v2
        return data[20:] if len(data) >= 20 and data[0:2] == b"\x08\x00" else None
    if linktype in (101, 228, 12):  # raw IPv4
        return data
    return None


def parse_udp4(ip):
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    frag = struct.unpack("!H", ip[6:8])[0]
    if ip[9] != 17 or frag & 0x1FFF or frag & 0x2000:
        return None  # not UDP, or a fragment (tcpdump does not reassemble)
    udp = ip[ihl:total]
    if len(udp) < 8:
        return None
    sport, dport, ulen = struct.unpack("!HHH", udp[:6])
    return {
        "src": str(ipaddress.IPv4Address(ip[12:16])),
        "dst": str(ipaddress.IPv4Address(ip[16:20])),
        "sport": sport,
        "dport": dport,
        "data": bytes(udp[8:ulen]),
    }


def header(data):
    """Parsed v1 header fields, or None."""
    if len(data) < HEADER_LEN:
        return None
    return {
        "chain": data[:16].hex(),
        "key_id": data[16:20].hex(),
        "session": data[20:28].hex(),
        "counter": struct.unpack("!Q", data[28:36])[0],
        "version": data[36] >> 4,
        "kind": data[36] & 0x0F,
    }


def addr(s, default_port=None):
    host, _, port = s.rpartition(":")
    if not host:
        return s, default_port
    return host, int(port)


def matches(p, src, dst):
    for want, ip, port in ((src, p["src"], p["sport"]), (dst, p["dst"], p["dport"])):
        if want is None:
            continue
        host, wport = addr(want)
        if host != ip or (wport is not None and wport != port):
            return False
    return True


def select(args):
    """Packets of --pcap chosen by --sel-src/--sel-dst/--sel-kinds, in capture order."""
    kinds = None
    if args.sel_kinds:
        kinds = set()
        for k in args.sel_kinds.split(","):
            kinds |= SEALED if k == "sealed" else {KIND_IDS.get(k) or int(k)}
    out = []
    for p in read_pcap(args.pcap):
        if not matches(p, args.sel_src, args.sel_dst):
            continue
        h = header(p["data"])
        if h is None or h["version"] != VERSION:
            continue
        if kinds is not None and h["kind"] not in kinds:
            continue
        out.append(p["data"])
    if args.sel_last:
        out = out[-args.sel_last:]
    if not out:
        raise SystemExit(f"no packet in {args.pcap} matches src={args.sel_src} dst={args.sel_dst} kinds={args.sel_kinds}")
    return out


# ---- access keys ----
def parse_key(s):
    """ate1 + base64url-no-pad(chain id 16 | key id 4 | secret 32)."""
    s = s.strip()
    if not s.startswith("ate1"):
        raise SystemExit("key does not start with ate1")
    body = s[4:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if len(raw) != 52:
        raise SystemExit(f"key decodes to {len(raw)} bytes, expected 52")
    return raw[:16], raw[16:20], raw[20:]


def make_header(chain, key_id, session, counter, kind, version=VERSION):
    return chain + key_id + session + struct.pack("!Q", counter) + bytes([(version << 4) | kind])


# ---- crafting ----
def craft(args, rnd):
    """(packets, groups) for the chosen mode."""
    n = min(args.count, MAX_COUNT) if args.count else None
    pkts, groups = [], {}

    def add(p, *reasons):
        pkts.append(p)
        key = tuple(sorted(reasons))
        groups[key] = groups.get(key, 0) + 1

    mode = args.mode
    if mode in ("replay", "reflect"):
        sel = select(args)
        total = n or len(sel)
        for i in range(total):
            add(sel[i % len(sel)], *args.expect)
    elif mode == "init-replay":
        init = select(args)[0]
        if len(init) != INIT_LEN or init[36] & 0x0F != 1:
            raise SystemExit(f"selected packet is no handshake init ({len(init)} bytes, type {init[36]:#x})")
        for _ in range(n or 1000):
            add(init, *args.expect)
    elif mode == "bitflip":
        sel = select(args)
        for i in range(n or len(FLIP_REGIONS) * 20):
            p = bytearray(sel[i % len(sel)])
            name, lo, hi, mask, reason = FLIP_REGIONS[i % len(FLIP_REGIONS)]
            if hi is None:
                hi = len(p) - TAG_LEN
            if lo < 0:
                lo, hi = len(p) + lo, len(p)
            if hi <= lo:
                continue  # an empty ciphertext (keepalive): nothing to flip there
            byte = rnd.randrange(lo, hi)
            bits = [b for b in range(8) if mask >> b & 1]
            p[byte] ^= 1 << rnd.choice(bits)
            if reason is None:
                reason = kind_flip_reason(p[36] & 0x0F)
            add(bytes(p), reason)
    elif mode == "truncate":
        sel = select(args)
        for i in range(n or MIN_PACKET - 1):
            full = sel[i % len(sel)]
            length = 1 + i % (MIN_PACKET - 1)  # 1..52: shorter than a header plus a tag
            add(full[:length], "runt")
    elif mode == "random":
        # Random bytes, long enough to hold a header and a tag and no longer
        # than the largest packet: the first check that fails decides.
        for _ in range(n or 500):
            length = rnd.randrange(MIN_PACKET, MAX_PACKET + 1)
            p = os.urandom(length)
            add(p, classify_foreign(p))
    elif mode == "oversize":
        chain, key_id, _ = parse_key(args.key)
        for _ in range(n or 10):
            body = os.urandom(MAX_PACKET + 1 + rnd.randrange(0, 400) - HEADER_LEN)
            add(make_header(chain, key_id, os.urandom(8), 1, KIND_IDS["frame"]) + body, "oversize")
    elif mode == "foreign":
        # A foreign network's key: its chain id is unknown here; its key id
        # under our chain id is an unknown key.
        fchain, fkey, _ = parse_key(args.foreign_key)
        chain, _, _ = parse_key(args.key)
        for i in range(n or 100):
            kind = KIND_IDS["init"] if i % 2 == 0 else KIND_IDS["frame"]
            length = INIT_LEN if kind == 1 else rnd.randrange(MIN_PACKET + 14, 400)
            c = fchain if i % 4 < 2 else chain
            p = make_header(c, fkey, os.urandom(8), 0 if kind == 1 else i, kind)
            p += os.urandom(length - HEADER_LEN)
            add(p, "unknown_network" if c == fchain else "unknown_key")
    elif mode == "forged-init":
        chain, key_id, _ = parse_key(args.key)
        for _ in range(n or 10000):
            p = make_header(chain, key_id, os.urandom(8), 0, KIND_IDS["init"]) + os.urandom(INIT_LEN - HEADER_LEN)
            add(p, *args.expect)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return pkts, [{"reasons": list(k), "count": v} for k, v in sorted(groups.items())]


def kind_flip_reason(kind):
    """What a node makes of a sealed packet (of a live session of its own)
    whose kind nibble now says `kind`: no such kind; another sealed kind
    fails the tag (it covers the type byte); a reply or revoked notice finds
    the session but not waiting for a reply; an init is the wrong length or
    has a counter other than 0."""
    if kind not in KINDS:
        return "bad_kind"
    if kind in SEALED:
        return "bad_tag"
    if kind in (2, 7):
        return "unknown_session"
    return "bad_handshake"


def classify_foreign(p):
    """First check a packet with a random (so unknown) chain id fails."""
    if len(p) < HEADER_LEN:
        return "runt"
    if p[36] >> 4 != VERSION:
        return "bad_version"
    if (p[36] & 0x0F) not in KINDS:
        return "bad_kind"
    return "unknown_network"


def send(args):
    rnd = random.Random(args.seed)
    pkts, groups = craft(args, rnd)
    host, port = addr(args.to)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.bind((args.bind, 0))
    t0 = time.monotonic()
    for i, p in enumerate(pkts):
        due = t0 + i / args.rate
        ahead = due - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)
        for _attempt in range(1000):
            try:
                s.sendto(p, (host, port))
                break
            except OSError as e:  # a full queue: wait and send the same packet again
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    raise
                time.sleep(0.001)
        else:
            raise SystemExit(f"could not send packet {i}: queue full for 1 s")
    json.dump({"mode": args.mode, "sent": len(pkts), "seconds": round(time.monotonic() - t0, 3),
               "groups": groups}, sys.stdout)
    print()


# ---- counters ----
def parse_drops(text, metric="atenet_packets_dropped_total"):
    drops = {}
    for line in text.splitlines():
        m = re.match(r'^' + re.escape(metric) + r'\{(.*)\}\s+([0-9.eE+]+)\s*$', line)
        if not m:
            continue
        r = re.search(r'reason="([^"]*)"', m.group(1))
        if r:
            drops[r.group(1)] = drops.get(r.group(1), 0) + int(float(m.group(2)))
    return drops


def check(args):
    before = json.load(open(args.before))
    after = json.load(open(args.after))
    names = {}
    delta = {}
    for r in set(before) | set(after):
        d = after.get(r, 0) - before.get(r, 0)
        if d:
            delta[norm(r)] = delta.get(norm(r), 0) + d
            names[norm(r)] = r
    # merge groups sharing a reason (union of reason sets, sum of counts)
    merged = []
    for path in args.expect:
        for line in open(path):
            line = line.strip()
            if not line:
                continue
            for g in json.loads(line)["groups"]:
                rs, c = {norm(x) for x in g["reasons"]}, g["count"]
                for m in [m for m in merged if m[0] & rs]:
                    merged.remove(m)
                    rs |= m[0]
                    c += m[1]
                merged.append((rs, c))
    ok = True
    lines = []
    expected_total = sum(c for _, c in merged)
    seen_total = sum(delta.values())
    for rs, c in sorted(merged, key=lambda m: sorted(m[0])):
        got = sum(delta.get(r, 0) for r in rs)
        mark = "ok" if got == c else "MISMATCH"
        ok &= got == c
        lines.append(f"  {mark:8} {'|'.join(sorted(rs))}: expected {c}, counted {got}")
    known = set().union(*[rs for rs, _ in merged]) if merged else set()
    for r, d in sorted(delta.items()):
        if r not in known:
            ok = False
            lines.append(f"  UNEXPECTED {names[r]}: counted {d}")
    lines.append(f"  total: expected {expected_total}, counted {seen_total}")
    print(("drop counters match" if ok else "drop counters do NOT match") + f" ({args.label})")
    print("\n".join(lines))
    print("  delta by reason: " + json.dumps({names[r]: d for r, d in sorted(delta.items())}))
    return 0 if ok else 1


def answers(args):
    """Packets in --pcap from --src to --dst: count, kinds, lengths."""
    res = {"count": 0, "kinds": {}, "max_len": 0, "lens": {}}
    for p in read_pcap(args.pcap):
        if not matches(p, args.src, args.dst):
            continue
        h = header(p["data"])
        k = KINDS.get(h["kind"], str(h["kind"])) if h and h["version"] == VERSION else "other"
        res["count"] += 1
        res["kinds"][k] = res["kinds"].get(k, 0) + 1
        res["max_len"] = max(res["max_len"], len(p["data"]))
        res["lens"][str(len(p["data"]))] = res["lens"].get(str(len(p["data"])), 0) + 1
        if args.t_from is not None and p["t"] < args.t_from:
            res.setdefault("before_window", 0)
            res["before_window"] += 1
    json.dump(res, sys.stdout)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    i = sub.add_parser("info", help="one line per UDP packet of a pcap")
    i.add_argument("pcap")

    s = sub.add_parser("send", help="craft and send hostile packets; prints the expected drops")
    s.add_argument("mode", choices=["replay", "reflect", "init-replay", "bitflip", "truncate",
                                    "random", "oversize", "foreign", "forged-init"])
    s.add_argument("--to", required=True, help="node IP:PORT")
    s.add_argument("--bind", required=True, help="source IP to send from")
    s.add_argument("--pcap")
    s.add_argument("--sel-src", help="select packets from IP[:PORT]")
    s.add_argument("--sel-dst", help="select packets to IP[:PORT]")
    s.add_argument("--sel-kinds", help="comma list of kinds (init, frame, ..., sealed)")
    s.add_argument("--sel-last", type=int, help="only the last N selected")
    s.add_argument("--count", type=int)
    s.add_argument("--rate", type=float, default=10000, help="packets per second (default 10000)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--key", help="an ate1 key of the node's network (chain and key id for crafted headers)")
    s.add_argument("--foreign-key", help="an ate1 key of another network")
    s.add_argument("--expect", nargs="+", default=[], help="drop reason(s) every packet of this batch must be counted under")

    d = sub.add_parser("drops", help="Prometheus text on stdin -> JSON {reason: count}")
    d.add_argument("--metric", default="atenet_packets_dropped_total")

    c = sub.add_parser("check", help="compare the change of drop counters with send's expectations")
    c.add_argument("--before", required=True)
    c.add_argument("--after", required=True)
    c.add_argument("--expect", nargs="+", required=True, help="files with send's JSON lines")
    c.add_argument("--label", default="")

    t = sub.add_parser("tapcount", help="frames in a pcap containing HEX bytes")
    t.add_argument("pcap")
    t.add_argument("hex")

    a = sub.add_parser("answers", help="UDP packets in a pcap from SRC to DST")
    a.add_argument("pcap")
    a.add_argument("--src")
    a.add_argument("--dst")
    a.add_argument("--t-from", type=float)

    k = sub.add_parser("key", help="chain id and key id of an ate1 key")
    k.add_argument("key")

    args = ap.parse_args()
    if args.cmd == "info":
        for p in read_pcap(args.pcap):
            h = header(p["data"])
            desc = "not v1" if not h or h["version"] != VERSION else \
                f"{KINDS.get(h['kind'], h['kind'])} chain={h['chain'][:8]} key={h['key_id']} sid={h['session']} ctr={h['counter']}"
            print(f"{p['t']:.6f} {p['src']}:{p['sport']} > {p['dst']}:{p['dport']} len={len(p['data'])} {desc}")
    elif args.cmd == "send":
        if args.mode in ("replay", "reflect") and not args.expect:
            ap.error("replay/reflect need --expect REASON")
        if args.mode in ("oversize", "foreign", "forged-init") and not args.key:
            ap.error(f"{args.mode} needs --key")
        if args.mode == "foreign" and not args.foreign_key:
            ap.error("foreign needs --foreign-key")
        if args.mode == "forged-init" and not args.expect:
            args.expect = ["bad_handshake"]
        if args.mode == "init-replay" and not args.expect:
            args.expect = ["replay"]
        send(args)
    elif args.cmd == "drops":
        json.dump(parse_drops(sys.stdin.read(), args.metric), sys.stdout)
        print()
    elif args.cmd == "check":
        sys.exit(check(args))
    elif args.cmd == "tapcount":
        needle = bytes.fromhex(args.hex)
        print(sum(1 for f in read_frames(args.pcap) if needle in f))
    elif args.cmd == "answers":
        answers(args)
    elif args.cmd == "key":
        chain, key_id, secret = parse_key(args.key)
        json.dump({"chain": chain.hex(), "key_id": key_id.hex(), "secret_len": len(secret)}, sys.stdout)
        print()


if __name__ == "__main__":
    main()
