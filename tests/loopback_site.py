"""Small portals served on loopback for crawl tests: a routing handler that logs every
request it gets, and the HTML of a Vietnamese article or listing page.

A site is a mapping ``path -> Reply`` (a path with its query; ``host:port/path`` for an answer
that depends on the Host header); any other path is a 404.
Each server keeps the list of the request lines it received, so a test can tell exactly
what the crawler asked for, and from which server.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import free_port


@dataclass
class Reply:
    """What a path answers: a status, headers and a body (or a callable writing the body)."""

    body: bytes | Callable[[Any], None] = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type="text/html; charset=utf-8")


def article(title: str, n: int = 1, extra: str = "", links: str = "") -> bytes:
    """An article page with a date, a view count and a body long enough to be stored."""
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{title} - Cổng thông tin điện tử</title></head><body>
<div class="menu"><a href="/">Trang chủ</a>{links}</div>
<div class="article"><h1>{title}</h1>
<div class="meta">Ngày đăng: 1{n % 10}/03/2025 08:1{n % 10} | Lượt xem: 1.23{n % 10}</div>
<p>Sáng ngày {n}/3, Ủy ban nhân dân xã Thử Nghiệm tổ chức hội nghị triển khai nhiệm vụ năm 2025 với sự tham gia
của đại diện các ban, ngành, đoàn thể và các thôn trên địa bàn xã.</p>
<p>Tại hội nghị, các đại biểu đã thảo luận, đánh giá những kết quả đạt được, chỉ ra những khó khăn, vướng mắc và
đề xuất nhiều giải pháp thiết thực trong thời gian tới nhằm hoàn thành các chỉ tiêu được giao.</p>{extra}
</div></body></html>""".encode()


def listing(title: str, hrefs: list[tuple[str, str]]) -> bytes:
    items = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in hrefs)
    return (f'<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h2>{title}</h2><ul>{items}</ul></body></html>").encode()


ROBOTS = Reply(b"User-agent: *\nDisallow:\n", content_type="text/plain")


class LoopbackSite:
    """A ThreadingHTTPServer on ``host`` answering ``routes`` (bytes: an HTML page); ``requests``
    lists what it got."""

    def __init__(self, host: str, routes: dict[str, Reply | bytes] | None = None, port: int | None = None) -> None:
        self.host = host
        self.routes: dict[str, Reply | bytes] = dict(routes or {})
        self.requests: list[str] = []
        self.hosts: list[str] = []  # the Host header of each request, in the same order
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").lower()
                with site._lock:
                    site.requests.append(self.path)
                    site.hosts.append(host)
                reply = site.routes.get(host + self.path) or site.routes.get(self.path)
                if isinstance(reply, bytes):  # an HTML page
                    reply = Reply(reply)
                if reply is None:
                    self.send_error(404)
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if callable(reply.body):
                        self.end_headers()
                        reply.body(self.wfile)
                    else:
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler stopped reading (a page too large, a file not wanted)

        self.server = ThreadingHTTPServer((host, port or free_port()), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def serving(*sites: LoopbackSite) -> Iterator[tuple[LoopbackSite, ...]]:
    for site in sites:
        site.start()
    try:
        yield sites
    finally:
        for site in sites:
            site.stop()
