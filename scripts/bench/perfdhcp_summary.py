#!/usr/bin/env python3
"""perfdhcp_summary.py FILE: one line from a `perfdhcp -x t` report.

rate= the 4-way exchanges/s perfdhcp reports; do_/ra_ sent, received and
drops of DISCOVER-OFFER and REQUEST-ACK; p50/p99 (nearest rank, ms) of each
from the per-exchange timestamps; fourway_p50/p99 = DO + RA at that
percentile (perfdhcp sends the REQUEST as soon as the OFFER is in, so a
four-way exchange is DO + RA; the sum of two p99s bounds the p99 of the sum
from above); drop_pct = exchanges started that got no ACK.
"""
import re
import sys

text = open(sys.argv[1]).read()
m = re.search(r"Rate:\s*([0-9.]+)\s*4-way exchanges/second", text)
rate = m.group(1) if m else "fail"
stats = {}
for name, body in re.findall(r"\*\*\*Statistics for: ([A-Z-]+)\*\*\*\n(.*?)(?=\n\*\*\*|\Z)", text, re.S):
    stats[name] = dict(re.findall(r"^([a-z ]+):\s*([0-9.]+)", body, re.M))
delays = {}
for name, body in re.findall(r"\*\*\*Timestamps for packets: ([A-Z-]+)\*\*\*\n(.*?)(?=\n\*\*\*|\Z)", text, re.S):
    delays[name] = sorted(
        (float(b) - float(a)) * 1e3
        for a, b in re.findall(r"sent / received:\s*([0-9.]+)\s*/\s*([0-9.]+)", body)
    )


def pct(v, p):
    if not v:
        return float("nan")
    i = max(1, -(-len(v) * p // 100))
    return v[int(i) - 1]


do = stats.get("DISCOVER-OFFER", {})
ra = stats.get("REQUEST-ACK", {})
dd, rd = delays.get("DISCOVER-OFFER", []), delays.get("REQUEST-ACK", [])
started = float(do.get("sent packets", 0) or 0)
acked = float(ra.get("received packets", 0) or 0)
drop = 100.0 * (started - acked) / started if started else float("nan")
print(
    "rate=%s do_sent=%s do_recv=%s ra_sent=%s ra_recv=%s drop_pct=%.2f "
    "do_p50_ms=%.3f do_p99_ms=%.3f ra_p50_ms=%.3f ra_p99_ms=%.3f fourway_p50_ms=%.3f fourway_p99_ms=%.3f"
    % (
        rate,
        do.get("sent packets", "?"),
        do.get("received packets", "?"),
        ra.get("sent packets", "?"),
        ra.get("received packets", "?"),
        drop,
        pct(dd, 50),
        pct(dd, 99),
        pct(rd, 50),
        pct(rd, 99),
        pct(dd, 50) + pct(rd, 50),
        pct(dd, 99) + pct(rd, 99),
    )
)
