"""Crawl six small portals written blind (tests/fixtures/blind_sites.tar.gz: WordPress,
Joomla 3, DotNetNuke, a VNPT-like portal and variants of Tân Dân SharePoint and NukeViet 4,
by someone who never saw the crawler) and
score the export against their truth: every article found through whatever pagination the
site uses (``/page/3/``, ``?start=20``, ``?currentpage=3``, ``/p/3``, ``?page=2``,
``?Page=3``, ``page-3.html``, a sitemap), nothing else stored (print views, listings, tag/author/date archives, galleries,
contact and schedule pages), every field right, and no robots-disallowed page fetched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from crawler.mirror import MirrorServer
from pipelines.extract.scoring import same_date, token_f1
from tests.conftest import untar
from tests.test_crawl_corpus import FAST, run_cli

ARCHIVE = Path(__file__).parent / "fixtures" / "blind_sites.tar.gz"


def test_blind_portals_are_crawled_completely_and_exactly(tmp_path: Path) -> None:
    untar(ARCHIVE, tmp_path)
    root = tmp_path / "blind_sites"
    truth = {(t["host"], t["url_path"]): t
             for t in map(json.loads, (root / "truth.jsonl").read_text("utf-8").splitlines()) if t}
    db = tmp_path / "blind.db"
    with MirrorServer(root / "site") as server:
        crawl = run_cli("crawl", "--portals", str(root / "portals.yaml"), "--var", f"PORT={server.port}",
                        "--store", f"sqlite:///{db}", *FAST)
    assert crawl.returncode == 0, crawl.stderr[-2000:]
    exported = [json.loads(line) for line in run_cli("export", "--store", f"sqlite:///{db}").stdout.splitlines()]
    got = {}
    for d in exported:
        parts = urlsplit(d["url"])
        got[(parts.hostname, parts.path + (f"?{parts.query}" if parts.query else ""))] = d
    assert len(truth) == 149
    assert set(got) == set(truth), (sorted(set(truth) - set(got)), sorted(set(got) - set(truth)))
    wrong = []
    for k, t in truth.items():
        d = got[k]
        checks = {"title": d["title"] == t["title"], "date": same_date(d["published_at"], t["published_at"]),
                  "views": d["view_count"] == t["view_count"], "body": token_f1(d["body"], t["body"]) >= 0.95}
        wrong += [(k, field) for field, ok in checks.items() if not ok]
    assert wrong == []
    with sqlite3.connect(db) as con:
        pages = con.execute("SELECT url, kind FROM pages").fetchall()
    disallowed = [(url, kind) for url, kind in pages
                  if urlsplit(url).path.startswith(("/admin", "/administrator", "/index.php/tim-kiem", "/quan-tri",
                                                    "/_layouts/", "/portal/admin/", "/vi/search"))]
    assert disallowed and all(kind == "blocked" for _, kind in disallowed), disallowed
