#!/usr/bin/env python3
"""A websocket client that never reads (namespace tests only).

Usage: stuck_ws.py URL MAC IP
  URL  wss://HOST:PORT/ws/TOKEN (certificate not checked: the test's own)
  MAC  02:..  the MAC it announces, IP the address it claims

Connects, sends one frame (a gratuitous ARP for IP from MAC) so the switch
learns its MAC, prints "announced", then sleeps without ever reading, with
a small receive buffer so that the node's queue for it fills quickly.
"""
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlparse


def main():
    url, mac_text, ip_text = sys.argv[1:4]
    u = urlparse(url)
    mac = bytes(int(b, 16) for b in mac_text.split(":"))
    ip = socket.inet_aton(ip_text)
    raw = socket.create_connection((u.hostname, u.port), timeout=10)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    s = ctx.wrap_socket(raw, server_hostname=u.hostname)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall(
        (
            f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            sys.exit("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"upgrade refused: {head.splitlines()[0]!r}")
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, ip)
    frame = b"\xff" * 6 + mac + b"\x08\x06" + arp
    frame += b"\0" * (60 - len(frame))
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(frame))
    s.sendall(bytes([0x82, 0x80 | len(frame)]) + mask + masked)
    print("announced", flush=True)
    while True:
        time.sleep(3600)  # never read


if __name__ == "__main__":
    main()
