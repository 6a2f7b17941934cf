"""Real loopback receivers for the alert tests: an HTTP webhook receiver and a small SMTP server.

Both are real network servers on 127.0.0.1 (no mocks): :class:`WebhookReceiver` is an
``http.server`` that records every POST; :class:`SMTPReceiver` speaks enough SMTP
(RFC 5321: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT)
for :mod:`smtplib` and records every message.  Also: a Chromium helper for the report tests.
"""

from __future__ import annotations

import base64
import json
import shutil
import socketserver
import struct
import subprocess
import threading
import zlib
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


# --- webhook receiver ---------------------------------------------------------------------------------
class WebhookReceiver:
    """Records ``POST`` bodies; ``fail_first`` answers 500 to that many requests first."""

    def __init__(self, fail_first: int = 0, status: int = 200) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.status = status
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    else:
                        receiver.calls.append({"path": self.path, "headers": dict(self.headers.items()),
                                               "body": json.loads(raw.decode("utf-8"))})
                status = 500 if failing else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/portalnews"

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c["body"] for c in self.calls]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- SMTP server --------------------------------------------------------------------------------------
@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    user: str | None = None

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SMTPState:
    messages: list[ReceivedMail] = field(default_factory=list)
    credentials: tuple[str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _SMTPHandler(socketserver.StreamRequestHandler):
    state: SMTPState

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode("ascii"))
        self.wfile.flush()

    def handle(self) -> None:
        state: SMTPState = self.server.state  # type: ignore[attr-defined]
        self.reply("220 127.0.0.1 portalnews-test ESMTP ready")
        mail_from: str | None = None
        rcpt: list[str] = []
        user: str | None = None
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                extensions = ["8BITMIME", "SMTPUTF8"] + (["AUTH PLAIN"] if state.credentials else [])
                lines = ["127.0.0.1 hello", *extensions]
                for ext in lines[:-1]:
                    self.reply(f"250-{ext}")
                self.reply(f"250 {lines[-1]}")
            elif verb == "HELO":
                self.reply("250 127.0.0.1 hello")
            elif verb == "AUTH":
                mech, _, token = arg.partition(" ")
                if mech.upper() != "PLAIN" or state.credentials is None:
                    self.reply("504 unrecognised authentication type")
                    continue
                if not token:
                    self.reply("334 ")
                    token = self.rfile.readline().decode("ascii").strip()
                parts = base64.b64decode(token).split(b"\x00")
                given = (parts[1].decode(), parts[2].decode()) if len(parts) == 3 else None
                if given == state.credentials:
                    user = given[0]
                    self.reply("235 2.7.0 authentication successful")
                else:
                    self.reply("535 5.7.8 authentication credentials invalid")
            elif verb == "MAIL":
                if state.credentials and user is None:
                    self.reply("530 5.7.0 authentication required")
                    continue
                mail_from = arg.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                rcpt = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if mail_from is None:
                    self.reply("503 5.5.1 MAIL first")
                    continue
                rcpt.append(arg.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpt:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                self.reply("354 end data with <CR><LF>.<CR><LF>")
                chunks: list[bytes] = []
                while True:
                    data_line = self.rfile.readline(1 << 20)
                    if data_line in (b".\r\n", b".\n", b""):
                        break
                    if data_line.startswith(b".."):
                        data_line = data_line[1:]
                    chunks.append(data_line)
                with state.lock:
                    state.messages.append(ReceivedMail(mail_from or "", list(rcpt), b"".join(chunks), user))
                mail_from, rcpt = None, []
                self.reply("250 2.0.0 queued")
            elif verb == "RSET":
                mail_from, rcpt = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 command not implemented")


class SMTPReceiver:
    """A threaded SMTP server on 127.0.0.1; ``credentials=(user, password)`` requires AUTH PLAIN."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.state = SMTPState(credentials=credentials)
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
        self.server.daemon_threads = True
        self.server.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.state.lock:
            return list(self.state.messages)

    def __enter__(self) -> SMTPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- headless Chromium ------------------------------------------------------------------------------------
def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]


def chromium(binary: str, profile: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG with zlib only: (width, height, rows of raw pixels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = 0
    bit_depth = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, bit_depth, colour = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert bit_depth == 8 and colour in (2, 6), f"unsupported PNG: depth {bit_depth}, colour type {colour}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows if bpp == 3 else [bytes(b for k, b in enumerate(r) if k % 4 != 3) for r in rows]


def colour_census(path: Path) -> dict[str, int]:
    """Counts of non-white pixels and of a few chart colours in a PNG screenshot."""
    width, height, rows = png_pixels(path)
    non_white = coloured = 0
    for row in rows:
        for x in range(0, len(row), 3):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r < 245 or g < 245 or b < 245:
                non_white += 1
            if max(r, g, b) - min(r, g, b) > 60:
                coloured += 1
    return {"width": width, "height": height, "pixels": width * height, "non_white": non_white,
            "coloured": coloured}
