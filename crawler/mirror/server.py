"""Loopback static server for a portal mirror (``site/<host>/...``).

:class:`MirrorServer` binds every host folder's address (``127.0.2.1``, ``127.0.2.2`` ...)
on one shared port, accepting on all of them from one thread, so ``http://127.0.2.N:PORT/path`` serves ``site/127.0.2.N/<file>``.
Only ``127.x.x.x`` addresses are ever bound.  URLs map to files with :func:`url_to_relpath`:

* a path ending in ``/`` or whose last segment has no ``.`` maps to ``<path>/index.html``;
* a query string is sorted by ``k=v`` pair and appended as ``__<quote(query, safe="")>``.

Responses carry ``ETag`` (from mtime and size) and ``Last-Modified``; conditional GETs
answer 304.  The literal ``{PORT}`` in a text file (RSS links) becomes the served port.
``before_request`` (Python API) is called before each request is answered and may block it:
tests pace a crawl with it.  ``GET /__stats__`` returns the per-host request counts as JSON (``?reset=1`` also
clears them); it is not counted itself.

Command line::

    python -m crawler.mirror.server SITE_ROOT [--port P] [--stats-file FILE]

prints ``PORT <n>`` on stdout once listening and serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import mimetypes
import os
import selectors
import signal
import socketserver
import sys
import threading
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

logger = logging.getLogger(__name__)

__all__ = ["MirrorServer", "is_loopback", "main", "url_to_relpath"]

STATS_PATH = "/__stats__"
_HTML = "text/html; charset=utf-8"
_RSS = "application/rss+xml; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_NOT_FOUND = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>404 - Không tìm thấy trang</title>"
              "</head><body><h1>Không tìm thấy trang</h1></body></html>\n").encode()


def url_to_relpath(path: str, query: str = "") -> str:
    """File (relative to the host folder) that holds URL ``path?query``.

    >>> url_to_relpath("/vi/news/rss/")
    'vi/news/rss/index.html'
    >>> url_to_relpath("/portal/Pages/Tin-tuc.aspx", "PageIndex=2")
    'portal/Pages/Tin-tuc.aspx__PageIndex%3D2'
    >>> url_to_relpath("/vi/news/x", "b=2&a=1")
    'vi/news/x/index.html__a%3D1%26b%3D2'
    """
    path = unquote(path or "/")
    if not path.startswith("/"):
        path = "/" + path
    last = path.rsplit("/", 1)[1]
    if not last:
        rel = path[1:] + "index.html"
    elif "." not in last:
        rel = path[1:] + "/index.html"
    else:
        rel = path[1:]
    if query:
        pairs = sorted(unquote(p) for p in query.split("&") if p)
        if pairs:
            rel += "__" + quote("&".join(pairs), safe="")
    return rel


def is_loopback(host: str) -> bool:
    """True for an IPv4 address in 127.0.0.0/8 (every one of them is loopback on Linux)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.version == 4 and addr.is_loopback


def content_type(url_path: str) -> str:
    last = url_path.rsplit("/", 1)[-1].lower()
    if last.endswith((".xml", ".rss")) or "/rss" in url_path.lower():
        return _RSS
    if last.endswith(".txt"):
        return _TEXT
    dot = last.rfind(".")
    if dot == -1 or last[dot:] in (".html", ".htm", ".aspx", ".php", ".asp", ".jsp"):
        return _HTML
    guessed, _ = mimetypes.guess_type(last)
    return guessed or "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "portalnews-mirror/1.0"
    disable_nagle_algorithm = True
    server: _HostServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.server.host, format % args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _send(self, status: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        mirror = self.server.mirror
        parts = urlsplit(self.path)
        if parts.path == STATS_PATH:
            stats = mirror.stats()
            if "reset=1" in parts.query:
                mirror.reset_stats()
            self._send(200, json.dumps(stats, ensure_ascii=False).encode(), "application/json", head)
            return
        if mirror.before_request is not None:
            mirror.before_request(self.server.host, self.path)  # may block: a test holding pages back
        mirror.count(self.server.host, self.path)
        rel = url_to_relpath(parts.path, parts.query)
        if "\x00" in rel or any(seg == ".." for seg in rel.split("/")):
            self._send(404, _NOT_FOUND, _HTML, head)
            return
        file = os.path.join(self.server.root, rel)
        try:
            st = os.stat(file)
        except (OSError, ValueError):
            st = None
        if st is None or not os.path.isfile(file):
            self._send(404, _NOT_FOUND, _HTML, head)
            return
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        headers = {"ETag": etag, "Last-Modified": formatdate(st.st_mtime, usegmt=True)}
        if self._not_modified(etag, st.st_mtime):
            self.send_response(304)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        ctype = content_type(unquote(parts.path))
        try:
            with open(file, "rb") as fh:
                data = fh.read()
        except OSError:
            self._send(404, _NOT_FOUND, _HTML, head)
            return
        if (ctype.startswith("text/") or ctype == _RSS) and b"{PORT}" in data:
            data = data.replace(b"{PORT}", str(self.server.server_address[1]).encode("ascii"))
        self._send(200, data, ctype, head, headers)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or etag in tags or f"W/{etag}" in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError, IndexError):
                return False
            return since is not None and int(mtime) <= since.timestamp()
        return False


class _HostServer(ThreadingHTTPServer):
    """One listener: one host address, serving that host's folder."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(self, host: str, port: int, root: str, mirror: MirrorServer) -> None:
        self.host = host
        self.root = root
        self.mirror = mirror
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.host
        self.server_port = self.server_address[1]


class MirrorServer:
    """Serve ``site_root/<host>/`` on ``http://<host>:<port>/`` for every host, one shared port."""

    def __init__(self, site_root: Path, port: int = 0, hosts: list[str] | None = None,
                 before_request: Callable[[str, str], None] | None = None) -> None:
        self.site_root = Path(site_root)
        #: Called with (host, path?query) in the request's thread before it is answered (not for
        #: the stats): a test paces or holds back a crawl with it.
        self.before_request = before_request
        if hosts is None:
            if not self.site_root.is_dir():
                raise FileNotFoundError(f"mirror site folder not found: {self.site_root}")
            hosts = sorted((p.name for p in self.site_root.iterdir() if p.is_dir()),
                           key=lambda h: [int(x) if x.isdigit() else 0 for x in h.split(".")])
        if not hosts:
            raise ValueError(f"no host folders under {self.site_root}")
        bad = [h for h in hosts if not is_loopback(h)]
        if bad:
            raise ValueError(f"refusing to bind non-loopback address(es): {', '.join(bad)} (only 127.x.x.x)")
        self.hosts = list(hosts)
        self._requested_port = int(port)
        self._port = 0
        self._servers: list[_HostServer] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stats: dict[str, dict[str, int]] = {}

    # statistics ----------------------------------------------------------------
    def count(self, host: str, path: str) -> None:
        with self._lock:
            per_host = self._stats.setdefault(host, {})
            per_host[path] = per_host.get(path, 0) + 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Request counts per host per path (with query), since start or the last reset."""
        with self._lock:
            return {host: dict(paths) for host, paths in self._stats.items()}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    # lifecycle ------------------------------------------------------------------
    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("MirrorServer is not started")
        return self._port

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (address, port) pairs actually bound."""
        return [(str(s.server_address[0]), int(s.server_address[1])) for s in self._servers]

    def _bind_all(self, port: int) -> list[_HostServer]:
        servers: list[_HostServer] = []
        try:
            for host in self.hosts:
                root = str(self.site_root / host)
                srv = _HostServer(host, port, root, self)
                port = srv.server_address[1]
                servers.append(srv)
        except BaseException:
            for srv in servers:
                srv.server_close()
            raise
        return servers

    def start(self) -> int:
        """Bind every host on one port (a free one when the port is 0) and serve them all from
        one accepting thread (each connection is then handled in a thread of its own)."""
        if self._servers:
            return self._port
        attempts = 1 if self._requested_port else 50
        last: OSError | None = None
        for _ in range(attempts):
            try:
                self._servers = self._bind_all(self._requested_port)
                break
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                last = exc
        else:
            raise OSError(errno.EADDRINUSE, f"could not bind {len(self.hosts)} hosts on one port: {last}")
        self._port = int(self._servers[0].server_address[1])
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, args=(list(self._servers),),
                                        name="mirror-accept", daemon=True)
        self._thread.start()
        logger.info("mirror serving %d hosts on port %d", len(self._servers), self._port)
        return self._port

    def _accept_loop(self, servers: list[_HostServer]) -> None:
        """Accept on every listener from this one thread.  socketserver's ``serve_forever`` needs
        a thread per listener, each waking every poll interval: a thousand hosts made a thousand
        threads and ~10,000 idle wake-ups a second (measured: scripts/bench_scale.py)."""
        with selectors.DefaultSelector() as selector:
            for srv in servers:
                selector.register(srv, selectors.EVENT_READ, srv)
            while not self._stopping.is_set():
                for key, _events in selector.select(timeout=0.2):
                    key.data._handle_request_noblock()  # accept, then process_request: a thread

    def stop(self) -> None:
        """Stop every listener (idempotent)."""
        servers, self._servers = self._servers, []
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for srv in servers:
            srv.server_close()

    def __enter__(self) -> MirrorServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m crawler.mirror.server SITE_ROOT [--port P]``: serve until SIGTERM / Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m crawler.mirror.server",
                                     description="Serve a portal mirror on loopback addresses.")
    parser.add_argument("site_root", type=Path, help="folder with one sub-folder per host (127.x.x.x)")
    parser.add_argument("--port", type=int, default=0, help="port for every host (default: a free one)")
    parser.add_argument("--host", action="append", dest="hosts", help="serve only this host (repeatable)")
    parser.add_argument("--stats-file", type=Path, help="write request counts here as JSON on exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        server = MirrorServer(args.site_root, port=args.port, hosts=args.hosts)
        port = server.start()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"PORT {port}", flush=True)
    print(f"serving {len(server.hosts)} hosts: " + ", ".join(f"http://{h}:{port}/" for h in server.hosts[:4])
          + (" ..." if len(server.hosts) > 4 else ""), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        if args.stats_file:
            args.stats_file.write_text(json.dumps(server.stats(), ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
