"""One crawl of the hostile portal (tests/hostile_portal.py), issue 10.

It checks that the crawl ends (within a bounded time), that nothing leaves the portal's
origin (the other port of its IP sees no request; the neighbour portal's unlinked page is
never fetched; nothing of ``file:``, ``ftp:`` or ``javascript:`` is stored), that no spider
error happens (downloads are non-articles by content type), that every stored string is
clean (no C0/C1 control, no bidirectional override, NFC), and that the HTML report built from
the store has no live markup, as headless Chromium renders it.  The figures (requests made,
what was stored, the crawl's peak RSS) are printed for the record.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import require_browser
from tests.hostile_portal import (
    DOWNLOADS,
    SCRIPT,
    assert_no_live_markup_in_browser,
    hostile_sites,
    unclean_strings,
)
from tests.loopback_site import serving
from tests.scheduling import FAST, ROOT, run_cli

HOST = "127.0.0.71"
NEIGHBOUR = "127.0.0.72"
CRAWL_TIMEOUT = 300  # seconds: the crawl must end by itself well before
MAX_RSS_MB = 1024
REPORT_TITLE = "portalnews coverage report"


def _crawl(tmp_path: Path, registry: Path) -> tuple[int, str, dict[str, object], int, float]:
    """Run the crawl in a child process: (exit code, stderr, stats, peak RSS in KiB, seconds)."""
    stats_file, err = tmp_path / "stats.json", tmp_path / "crawl.err"
    started = time.monotonic()
    with open(err, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "crawl", "--portals", str(registry),
             "--store", f"sqlite:///{tmp_path / 's.db'}", "--stats-file", str(stats_file), *FAST,
             "-s", "RETRY_TIMES=0"], cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=handle)
    deadline = started + CRAWL_TIMEOUT
    while True:  # wait4: this child's own resource usage, its peak RSS included
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise AssertionError(f"the crawl did not end within {CRAWL_TIMEOUT}s: "
                                 f"{err.read_text('utf-8', 'replace')[-3000:]}")
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    stats = json.loads(stats_file.read_text("utf-8")) if stats_file.exists() else {}
    return proc.returncode, err.read_text("utf-8", "replace"), stats, usage.ru_maxrss, elapsed


def test_the_hostile_portal(tmp_path: Path) -> None:
    evil, other_port, neighbour = hostile_sites(HOST, NEIGHBOUR)
    registry = tmp_path / "portals.yaml"
    registry.write_text(
        "portals:\n"
        f"  - {{id: doc-hai, name: 'Xã Độc Hại {SCRIPT}', level: commune, province: Phú Yên, url: '{evil.origin}/'}}\n"
        f"  - {{id: lang-gieng, name: Xã Láng Giềng, level: commune, province: Phú Yên, url: '{neighbour.origin}/'}}\n",
        "utf-8")
    with serving(evil, other_port, neighbour):
        code, stderr, stats, rss_kib, elapsed = _crawl(tmp_path, registry)
    db = tmp_path / "s.db"
    assert "Traceback" not in stderr, stderr[-3000:]
    assert code == 0, stderr[-3000:]

    # nothing left the origin
    assert other_port.requests == [], f"the other port of the same IP was reached: {other_port.requests}"
    assert "/bi-mat.html" not in neighbour.requests, neighbour.requests
    with sqlite3.connect(db) as conn:
        pages = {url: (portal, kind, reason) for url, portal, kind, reason in
                 conn.execute("SELECT url, portal_id, kind, reason FROM pages")}
        documents = dict(conn.execute("SELECT url, portal_id FROM documents"))
        titles = [t for (t,) in conn.execute("SELECT title FROM documents WHERE portal_id = 'doc-hai'")]
    origins = {"doc-hai": evil.origin + "/", "lang-gieng": neighbour.origin + "/"}
    assert all(url.startswith(origins[portal]) for url, (portal, _k, _r) in pages.items()), pages
    assert all(url.startswith(origins[portal]) for url, portal in documents.items()), documents
    for path, target in (("/sang-file.html", "file:///etc/passwd"), ("/sang-ftp.html", f"ftp://{HOST}/etc/passwd"),
                         ("/sang-js.html", "javascript:alert(document.cookie)"),
                         ("/cong-khac.html", other_port.origin), ("/lam-moi.html", other_port.origin),
                         ("/sang-lang-gieng.html", neighbour.origin)):
        portal, kind, reason = pages[evil.origin + path]
        assert (portal, kind) == ("doc-hai", "other") and "out of the portal's origin" in reason and target in reason, (
            path, kind, reason)
    # the loop and the oversized pages are failed pages, each with its reason
    assert pages[evil.origin + "/vong/1.html"][1:] == ("error", "redirect loop: " + " -> ".join(
        evil.origin + p for p in ("/vong/1.html", "/vong/2.html", "/vong/1.html")))
    for path in ("/trang-lon.html", "/trang-lon-2.html"):
        assert pages[evil.origin + path][1] == "error" and "Cancelled" in pages[evil.origin + path][2]
    assert evil.requests.count("/vong/1.html") == 1 and evil.requests.count("/vong/2.html") == 1
    # no spider error: downloads are non-articles by their content type, never parsed
    assert not {k: v for k, v in stats.items() if k.startswith("spider_exceptions")}, stats
    for path, (ctype, _body) in DOWNLOADS.items():
        portal, kind, reason = pages[evil.origin + path]
        assert (portal, kind) == ("doc-hai", "other") and ctype.split(";")[0] in reason, (path, kind, reason)
    # the articles were stored, their payloads as harmless text
    assert len(titles) == 3, titles
    assert all("<script>alert(" in t and "Thông báo khẩn" in t for t in titles), titles
    # every stored string is clean
    assert unclean_strings(db) == []

    # the report built from this store has no live markup, in a real browser too
    report = tmp_path / "report.html"
    made = run_cli("report", "--store", f"sqlite:///{db}", "--out", str(report))
    assert made.returncode == 0, made.stderr[-2000:]
    source = report.read_text("utf-8")
    assert "doc-hai" in source and "&lt;script&gt;" in source and "<script" not in source
    binary = require_browser()
    dom = assert_no_live_markup_in_browser(binary, report.as_uri(), tmp_path / "profile", REPORT_TITLE)
    assert "Xã Độc Hại <script>" in dom.replace("&lt;", "<").replace("&gt;", ">")

    kinds = Counter(kind for _portal, kind, _reason in pages.values())
    figures = {"requests": {"doc-hai": len(evil.requests), "lang-gieng": len(neighbour.requests),
                            "other port": len(other_port.requests)},
               "documents": len(documents), "pages": dict(kinds), "peak_rss_mb": round(rss_kib / 1024, 1),
               "seconds": round(elapsed, 1),
               "refused": {k.split("/")[1]: v for k, v in stats.items()
                           if k.startswith(("portalnews/offsite", "portalnews/not_html"))}}
    print("hostile portal:", json.dumps(figures, ensure_ascii=False))
    (tmp_path / "figures.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1), "utf-8")
    assert rss_kib / 1024 < MAX_RSS_MB, figures


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The two checks fail where they must: a page whose markup is live, a store with a
    control character or decomposed text (so a pass above means something)."""
    import pytest

    from tests.hostile_portal import IMG, SVG

    live = tmp_path / "live.html"
    live.write_text(f"<html><head><title>{REPORT_TITLE}</title></head><body><p>{IMG}{SVG}</p></body></html>", "utf-8")
    binary = require_browser()
    with pytest.raises(AssertionError, match="a script or a handler ran"):
        assert_no_live_markup_in_browser(binary, live.as_uri(), tmp_path / "profile", REPORT_TITLE)
    renamed = tmp_path / "renamed.html"
    renamed.write_text(f"<html><head><title>{REPORT_TITLE}</title></head><body>{SCRIPT}</body></html>", "utf-8")
    with pytest.raises(AssertionError, match="PWNED"):
        assert_no_live_markup_in_browser(binary, renamed.as_uri(), tmp_path / "profile", REPORT_TITLE)
    db = tmp_path / "dirty.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE documents (title TEXT, data TEXT)")
        conn.execute("INSERT INTO documents VALUES (?, ?)", ("Tin \x1b]0;x\x07", json.dumps({"m": "o\u0302"})))
    assert [(t, c) for t, c, _v in unclean_strings(db)] == [("documents", "title"), ("documents", "data")]
