"""A portal that shows only relative dates ("2 giờ trước", "Hôm qua, 16:45", "3 ngày trước"):
crawled with the crawl's clock pinned (``PORTALNEWS_NOW``), the stored publication dates are
that clock minus what the page says, with the precision the page gives."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.mirror import MirrorServer
from tests.test_crawl_corpus import FAST, run_cli

HOST = "127.0.8.61"
NOW = "2024-09-02T10:00:00+07:00"
SHOWN = {  # slug -> (what the page shows, the publication date a reader works out)
    "bao-so-3": ("2 giờ trước", "2024-09-02T08:00:00+07:00"),
    "ve-sinh-moi-truong": ("Hôm qua, 16:45", "2024-09-01T16:45:00+07:00"),
    "tap-huan-chuyen-doi-so": ("3 ngày trước", "2024-08-30T00:00:00+07:00"),
}
PARAGRAPH = ("Ủy ban nhân dân xã đã tổ chức hội nghị triển khai nhiệm vụ trọng tâm, phân công cán bộ phụ trách "
             "từng thôn, kiểm tra tiến độ thực hiện các tiêu chí nông thôn mới nâng cao trên địa bàn, {n}.")


def _page(title: str, date_text: str, sidebar: str) -> str:
    body = "".join(f"<p>{PARAGRAPH.format(n=n)}</p>" for n in range(4))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title} - Cổng TTĐT xã Tân Lập</title></head>"
            f"<body><div class='container'><div class='main'><h1>{title}</h1><div class='meta'><span class='time'>"
            f"{date_text}</span></div><div class='content'>{body}</div></div>"
            f"<div class='sidebar'><h3>Tin mới</h3><ul>{sidebar}</ul></div></div></body></html>")


def _site(root: Path) -> None:
    site = root / HOST
    site.mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /admin/\n", "utf-8")
    links = "".join(f"<li><a href='/tin-tuc/{slug}.html'>Tin bài số {i} về hoạt động của xã Tân Lập</a> "
                    f"<span>{i + 5} ngày trước</span></li>" for i, slug in enumerate(SHOWN))
    (site / "index.html").write_text(f"<html><body><h1>Tin tức</h1><ul>{links}</ul></body></html>", "utf-8")
    (site / "tin-tuc").mkdir()
    for i, (slug, (shown, _)) in enumerate(SHOWN.items()):
        title = f"Tin bài số {i} về hoạt động của xã Tân Lập"
        (site / "tin-tuc" / f"{slug}.html").write_text(_page(title, shown, links), "utf-8")


def test_relative_dates_are_read_against_the_crawls_clock(tmp_path: Path) -> None:
    _site(tmp_path / "site")
    registry = tmp_path / "portals.yaml"
    registry.write_text(f"portals:\n- id: xa-tan-lap\n  name: Xã Tân Lập\n  level: commune\n  province: Thái Nguyên\n"
                        f"  url: http://{HOST}:{{PORT}}/\n  profile: auto\n", "utf-8")
    store = f"sqlite:///{tmp_path / 'rel.db'}"
    with MirrorServer(tmp_path / "site") as server:
        crawl = run_cli("crawl", "--portals", str(registry), "--var", f"PORT={server.port}", "--store", store,
                        *FAST, "-s", f"PORTALNEWS_NOW={NOW}")
    assert crawl.returncode == 0, crawl.stderr[-2000:]
    docs = {d["url"].rsplit("/", 1)[1].removesuffix(".html"): d
            for d in map(json.loads, run_cli("export", "--store", store).stdout.splitlines())}
    assert {slug: d["published_at"] for slug, d in docs.items()} == {slug: want for slug, (_, want) in SHOWN.items()}
