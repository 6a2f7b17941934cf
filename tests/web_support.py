"""What the web app's tests share: a real store filled by the real crawl, and the app served.

:func:`web_store` generates the bundled mirror (five portal layouts, fixed dates from 2019 to
2026, one portal down on purpose), serves it on loopback, crawls it with ``portalnews crawl``
(the real spiders and item pipelines) into a SQLite file, then adds through the store's own
``upsert_documents`` one hostile article (markup, event handlers, control characters, a
formula cell) stored three times: three view-count readings and one earlier version.  It is
built once per test session.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from crawler.mirror import MirrorServer, generate_mirror
from crawler.web.app import create_app
from pipelines.storage import Document
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.test_crawl_corpus import FAST, run_cli

ARTICLES_PER_PORTAL = 20
HOSTILE_PORTAL = "hostile-1"
#: A reprint of the hostile article on another portal (the two are one story).
REPRINT_PORTAL = "hostile-2"
REPRINT_PORTAL_NAME = 'Cổng <i>tái bản</i> <script>document.title="pwned"</script>'
REPRINT_URL = "http://127.0.2.98/tin-tuc/tai-ban.html"
HOSTILE_URL = "http://127.0.2.99/tin-tuc/doc-hai.html"
#: Markup and characters crawled pages may carry that must never reach a page live.
HOSTILE_TITLE = 'Tin <script>alert("t")</script> xã Hòa <img src=x onerror=alert(1)>\x1b[2J\u202eevil'
HOSTILE_BODY = ('Hội nghị <script>document.title="pwned"</script> tại UBND xã <b onmouseover=alert(2)>Hòa</b> '
                '<svg onload=alert(3)></svg> "><iframe src=javascript:alert(4)> \x07\x00 kết thúc.')
HOSTILE_CATEGORY = "=HYPERLINK(\"http://evil\",\"x\")"
#: Three readings of the hostile article's view count, in time order.
HOSTILE_VIEWS = (("2025-03-01T08:00:00+07:00", 10), ("2025-03-02T08:00:00+07:00", 150),
                 ("2025-03-05T08:00:00+07:00", 420))


@dataclass(frozen=True)
class WebStore:
    path: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def _hostile(crawled_at: str, views: int, body: str) -> Document:
    return Document(url=HOSTILE_URL, portal_id=HOSTILE_PORTAL, title=HOSTILE_TITLE, body=body,
                    published_at="2025-03-01T07:30:00+07:00", date_precision="minute", view_count=views,
                    summary="Tóm tắt <script>alert(5)</script>", author="<i onclick=x>Phóng viên</i>",
                    category=HOSTILE_CATEGORY, crawled_at=crawled_at, portal_name="Cổng <b>độc hại</b>",
                    province="Phú Yên", level="commune")


@functools.cache
def _build(root: str) -> WebStore:
    base = Path(root) / "web-store"
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    info = generate_mirror(base / "mirror", portals=5, articles_per_portal=ARTICLES_PER_PORTAL, broken_portal=True)
    path = base / "web.db"
    with MirrorServer(info.root / "site") as server:
        crawl = run_cli("crawl", "--portals", str(info.registry_path), "--var", f"PORT={server.port}",
                        "--store", f"sqlite:///{path}", *FAST)
    assert crawl.returncode in (0, 1), crawl.stderr[-3000:]  # 1: the broken portal failed, as it should
    store = SQLiteStore(path)
    store.open()
    try:
        (t1, v1), (t2, v2), (t3, v3) = HOSTILE_VIEWS
        store.upsert_documents([_hostile(t1, v1, "Bản đầu tiên: " + HOSTILE_BODY)])
        store.upsert_documents([_hostile(t2, v2, HOSTILE_BODY)])  # content changed: version 1 archived
        store.upsert_documents([_hostile(t3, v3, HOSTILE_BODY)])
        # a reprint of it on another portal, a day later: one story of two (issue 13)
        store.upsert_documents([Document(
            url=REPRINT_URL, portal_id=REPRINT_PORTAL, title="Tin từ xã: " + HOSTILE_TITLE,
            body="(Nguồn: Cổng độc hại)\n" + HOSTILE_BODY, published_at="2025-03-02T09:00:00+07:00",
            date_precision="minute", crawled_at=t3, portal_name=REPRINT_PORTAL_NAME, province="Phú Yên",
            level="commune")])
        store.reconcile_stories()
    finally:
        store.close()
    return WebStore(path)


def web_store(tmp_root: Path) -> WebStore:
    """The session's store (built on first use under ``tmp_root``)."""
    return _build(str(tmp_root))


@contextlib.contextmanager
def served(store_url: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``portalnews web`` in a subprocess on 127.0.0.1 (uvicorn); yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "web", "--store", store_url, "--port", str(port),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env if env is not None else dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"portalnews web exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("portalnews web did not start listening within 60 s") from None
                time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise AssertionError("portalnews web did not stop within 20 s of SIGTERM") from None
            # uvicorn shuts down gracefully, then lets the signal end the process as it would have
            err = proc.stderr.read() if proc.stderr else ""
            assert code in (0, -signal.SIGTERM) and "Traceback" not in err, (code, err[-2000:])
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A GET that returns error answers too: (status, headers, body)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def all_hits(search: Callable[..., dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    """Every hit of a search, page by page: ``search(**params)`` answers one page of
    ``/api/search`` (through the TestClient or over HTTP)."""
    hits: list[dict[str, Any]] = []
    page = 1
    while True:
        data = search(per_page=100, page=page, **params)
        hits += data["hits"]
        if page >= data["pages"]:
            assert len(hits) == data["total"]
            return hits
        page += 1


def app_client(store: WebStore) -> Iterator[TestClient]:
    """The app on ``store`` through Starlette's TestClient, lifespan included (for a fixture)."""
    with TestClient(create_app(store.url)) as c:
        yield c
