"""A hostile portal served on loopback (issue 10), and the checks every output of its crawl
must pass: stored strings clean, pages with no live markup in a real headless Chromium.

:func:`hostile_sites` builds three stdlib servers: the hostile portal itself, a second
server on another port of the same IP (which no request may reach) and a neighbour that
is registered as a portal of its own (whose pages the hostile portal's redirects point at).
The hostile portal carries:

* articles whose titles and bodies hold terminal escape sequences (``ESC ] 0 ; … BEL``,
  ``ESC [ 2 J``, C1 CSI), ``<script>`` and ``onerror`` markup (as tags, and as text that
  becomes markup if anything unescapes it), bidirectional overrides, zero-width spaces,
  decomposed (NFD) Vietnamese and character references to control characters;
* a 20 MB page (announced by its Content-Length) and another one streamed without a length;
* a million nested tags;
* a redirect loop, and redirects to ``file:``, ``ftp:`` and ``javascript:`` URLs;
* a redirect and a meta refresh to another port of the same IP, a redirect to the
  neighbour portal's page that the neighbour itself never links;
* non-HTML downloads (JSON, CSV with formula cells, XLSX, PDF, PNG, ZIP) under URLs without
  a file extension, as download endpoints write them (the spider does not even fetch a link
  ending in ``.xlsx``), one of them under a ``.html`` URL.

The web app will serve the same store later; :func:`assert_no_live_markup_in_browser` is
the check its pages must pass too.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, redirect
from tests.monitoring_servers import chromium

#: What a script or an event handler of the page would do if it ran: rename the document,
#: mark the body.  The checks look for both.
SCRIPT = '<script>document.title="PWNED";document.body.setAttribute("data-pwned","script")</script>'
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
SVG = "<svg onload=\"document.body.setAttribute('data-pwned','svg')\"><rect/></svg>"
ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x9b31m"
BIG = 20 * 1024 * 1024
NESTED = 1_000_000
DOWNLOADS = {
    "/du-lieu/dan-so.json": ("application/json", json.dumps({"html": SCRIPT, "xa": "Sơn Hòa"}).encode()),
    "/du-lieu/dan-so.csv": ("text/csv; charset=utf-8", b'=HYPERLINK("http://x"),@SUM(A1)\n'),
    "/du-lieu/tai-ve?dinh-dang=xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             b"PK\x03\x04" + b"\x00" * 4000),
    "/du-lieu/tai-ve?dinh-dang=pdf": ("application/pdf", b"%PDF-1.4\n" + b"\x00" * 4000),
    "/anh/1": ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500),
    "/du-lieu/tai-ve?dinh-dang=zip": ("application/zip", b"PK\x03\x04" + b"\x01" * 4000),
    "/du-lieu/gia-html.html": ("application/json", b'{"title": "<script>alert(1)</script>"}'),
}


def hostile_article(n: int) -> bytes:
    """An article whose title and body carry every payload, in raw bytes and as references."""
    nfd = unicodedata.normalize("NFD", "Thông báo khẩn của Ủy ban")
    title = f"{ESCAPES}Tin {n} {nfd} &lt;script&gt;alert({n})&lt;/script&gt; \u202egnp.exe\u200b &#27;[2J&#x9b;"
    extra = (f"<p>Đoạn có mã độc {SCRIPT} {IMG} {SVG} và ký tự điều khiển {ESCAPES} giữa câu.</p>"
             f"<p>Văn bản &lt;img src=x onerror=alert({n})&gt; hiển thị như chữ, {nfd}.</p>")
    return article(title, n, extra=extra)


def _big(stream: Any) -> None:
    chunk = b"<p>" + "Nội dung rất dài của một trang khổng lồ. ".encode() * 200 + b"</p>\n"
    sent = 0
    stream.write("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Trang lớn</title></head><body>".encode())
    while sent < BIG:
        stream.write(chunk)
        sent += len(chunk)
    stream.write(b"</body></html>")


def _nested() -> bytes:
    return (b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>L\xe1\xbb\x93ng nhau</title></head><body>"
            + b"<div>" * NESTED + "Nội dung ở đáy".encode() + b"</div>" * NESTED + b"</body></html>")


def hostile_sites(host: str, neighbour_host: str) -> tuple[LoopbackSite, LoopbackSite, LoopbackSite]:
    """The hostile portal, the other port of its IP, the neighbour portal (not started)."""
    evil = LoopbackSite(host)
    other_port = LoopbackSite(host)
    neighbour = LoopbackSite(neighbour_host)
    big_page = _big_bytes()
    links = [(f"/tin/{n}.html", f"Tin {n}") for n in range(1, 4)] + [
        ("/trang-lon.html", "Trang lớn"), ("/trang-lon-2.html", "Trang lớn không độ dài"),
        ("/long-nhau.html", "Lồng nhau"), ("/vong/1.html", "Vòng lặp"), ("/sang-file.html", "file"),
        ("/sang-ftp.html", "ftp"), ("/sang-js.html", "javascript"), ("/cong-khac.html", "cổng khác"),
        ("/lam-moi.html", "làm mới"), ("/sang-lang-gieng.html", "láng giềng"),
        (f"{other_port.origin}/tin/9.html", "liên kết thẳng sang cổng khác"), ("javascript:alert(1)", "js"),
        ("file:///etc/passwd", "file"), *((path, path) for path in DOWNLOADS)]
    evil.routes.update({
        "/robots.txt": ROBOTS,
        "/": listing(f"Tin tức {SCRIPT}", links),
        **{f"/tin/{n}.html": hostile_article(n) for n in range(1, 4)},
        "/trang-lon.html": Reply(big_page),
        "/trang-lon-2.html": Reply(_big),  # no Content-Length: cut off while it arrives
        "/long-nhau.html": Reply(_nested()),
        "/vong/1.html": redirect("/vong/2.html"),
        "/vong/2.html": redirect("/vong/1.html"),
        "/sang-file.html": redirect("file:///etc/passwd"),
        "/sang-ftp.html": redirect(f"ftp://{host}/etc/passwd"),
        "/sang-js.html": redirect("javascript:alert(document.cookie)"),
        "/cong-khac.html": redirect(f"{other_port.origin}/tin/1.html"),
        "/lam-moi.html": Reply(f'<html><head><meta http-equiv="refresh" content="0; url={other_port.origin}/tin/2.html">'
                               "</head><body>Đang chuyển…</body></html>".encode()),
        "/sang-lang-gieng.html": redirect(f"{neighbour.origin}/bi-mat.html"),
        **{path: Reply(body, content_type=ctype) for path, (ctype, body) in DOWNLOADS.items()},
    })
    other_port.routes.update({"/robots.txt": ROBOTS, "/tin/1.html": article("Cổng khác 1", 1),
                              "/tin/2.html": article("Cổng khác 2", 2), "/tin/9.html": article("Cổng khác 9", 9)})
    neighbour.routes.update({"/robots.txt": ROBOTS, "/": listing("Tin tức láng giềng", [("/tin/1.html", "Tin 1")]),
                             "/tin/1.html": article("Tin của xã láng giềng", 4),
                             "/bi-mat.html": article("Trang láng giềng không liên kết", 5)})
    return evil, other_port, neighbour


def _big_bytes() -> bytes:
    class Sink:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.parts.append(data)

    sink = Sink()
    _big(sink)
    return b"".join(sink.parts)


# --- checks ---------------------------------------------------------------------------------
#: C0 controls but newline (paragraphs) and tab, DEL, C1 controls, bidirectional overrides.
UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        if value[:1] in "[{":  # a JSON column: its decoded strings too
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def unclean_strings(db: Path) -> list[tuple[str, str, str]]:
    """``(table, column, value)`` of every stored string with a control character or not in NFC
    (the tables of the store, not SQLite's own nor the full-text index's shadow tables)."""
    bad: list[tuple[str, str, str]] = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [name for (name, sql) in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                  if not name.startswith("sqlite_") and "VIRTUAL" not in (sql or "").upper()
                  and not re.search(r"_(data|idx|content|docsize|config)$", name)]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # the names come from sqlite_master
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    for text in _strings(value):
                        if UNCLEAN.search(text) or not unicodedata.is_normalized("NFC", text):
                            bad.append((table, column, text[:200]))
    return bad


def assert_no_live_markup_in_browser(binary: str, url: str, profile: Path, title: str) -> str:
    """Load ``url`` in headless Chromium, let its scripts run, and check the DOM it built: no
    script renamed the document (its title is ``title``), no handler marked the body, no
    ``<script>``, ``<img>``, ``<iframe>``, ``<object>`` or ``<embed>`` element and no ``on…``
    attribute came from the data.  Returns the DOM."""
    from lxml import html as lxml_html

    done = chromium(binary, profile, "--dump-dom", "--virtual-time-budget=3000", url)
    dom = done.stdout
    assert "<html" in dom, done.stderr[-2000:]
    root = lxml_html.document_fromstring(dom)
    assert root.findtext(".//title") == title, root.findtext(".//title")
    marked = [el.tag for el in root.iter() if isinstance(el.tag, str) and el.get("data-pwned") is not None]
    assert marked == [], f"a script or a handler ran: {marked}"
    live = [el.tag for el in root.iter() if isinstance(el.tag, str) and el.tag in
            {"script", "img", "iframe", "object", "embed", "foreignobject"}]
    assert live == [], f"elements from the data: {live}"
    handlers = [(el.tag, name) for el in root.iter() if isinstance(el.tag, str)
                for name in el.attrib if name.lower().startswith("on")]
    assert handlers == [], f"event handlers: {handlers}"
    return dom
