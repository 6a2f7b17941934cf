"""Promises of the README that no other test checked, each as a user would see it.

* each portal has a page cap: ``PORTALNEWS_MAX_PAGES_PER_PORTAL`` for every portal, the
  registry's ``max_pages`` for one;
* a second crawl is incremental, and ``crawl --full`` fetches everything again;
* ``scrapy crawl portal -a portals=FILE`` works from the repository root;
* ``portalnews demo`` generates, serves and crawls its mirror and shows coverage and a search.

A generated mirror (crawler/mirror) is served on loopback; the server counts every request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from crawler.mirror import MirrorInfo, MirrorServer, generate_mirror
from crawler.mirror.generator import BROKEN_PORTAL_ID
from pipelines.storage import open_store
from tests.scheduling import FAST, ROOT, run_cli

HOSTS = ("127.0.7.1", "127.0.7.2")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MirrorInfo, MirrorServer]]:
    info = generate_mirror(tmp_path_factory.mktemp("promises") / "mirror", portals=2, articles_per_portal=12,
                           host_prefix="127.0.7.")
    assert info.hosts == list(HOSTS)
    with MirrorServer(info.root / "site") as server:
        yield info, server


def truth(info: MirrorInfo) -> list[dict[str, Any]]:
    return [json.loads(line) for line in info.truth_path.read_text("utf-8").splitlines()]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_requests(server: MirrorServer, host: str) -> dict[str, int]:
    """Requests to ``host`` for pages (robots.txt is not a page), per path."""
    return {p: n for p, n in server.stats().get(host, {}).items() if p != "/robots.txt"}


def crawl(info: MirrorInfo, server: MirrorServer, tmp: Path, store: str, *extra: str,
          registry: Path | None = None) -> dict[str, dict[str, Any]]:
    """``portalnews crawl`` of the mirror; the per-portal summary rows by portal id."""
    stats = tmp / f"stats-{len(list(tmp.glob('stats-*')))}.json"
    done = run_cli("crawl", "--portals", str(registry or info.registry_path), "--var", f"PORT={server.port}",
                   "--store", store, "--stats-file", str(stats), *FAST, *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return {row["portal_id"]: row for row in json.loads(stats.read_text("utf-8"))["portalnews/summary"]}


def stored(store: str) -> dict[str, int]:
    s = open_store(store)
    s.open()
    try:
        return {p: s.count_documents(p) for p in ("demo-tandan-1", "demo-nukeviet-1")}
    finally:
        s.close()


def test_the_page_cap_from_the_setting_and_from_the_registry(served: tuple[MirrorInfo, MirrorServer],
                                                             tmp_path: Path) -> None:
    info, server = served
    registry = tmp_path / "portals.yaml"
    data = yaml.safe_load(info.registry_path.read_text("utf-8"))
    data["portals"][1]["max_pages"] = 3  # demo-nukeviet-1: the registry's own cap, below the setting
    registry.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    server.reset_stats()
    store = f"sqlite:///{tmp_path / 'cap.db'}"
    rows = crawl(info, server, tmp_path, store, "-s", "PORTALNEWS_MAX_PAGES_PER_PORTAL=8", registry=registry)
    fetched = {host: sum(page_requests(server, host).values()) for host in HOSTS}
    print("page requests with the cap:", fetched, "summary:", rows)
    assert 0 < fetched[HOSTS[0]] <= 8 and 0 < fetched[HOSTS[1]] <= 3
    assert rows["demo-tandan-1"]["pages"] <= 8 and rows["demo-nukeviet-1"]["pages"] <= 3
    docs = stored(store)
    assert 0 < docs["demo-tandan-1"] < 12 and docs["demo-nukeviet-1"] < 12  # capped: not every article
    # without a cap the same portals have more pages than that: the cap is what stopped the crawl
    server.reset_stats()
    crawl(info, server, tmp_path, f"sqlite:///{tmp_path / 'uncapped.db'}")
    assert {host: sum(page_requests(server, host).values()) > cap for host, cap in zip(HOSTS, (8, 3), strict=True)} \
        == {HOSTS[0]: True, HOSTS[1]: True}
    assert stored(f"sqlite:///{tmp_path / 'uncapped.db'}") == {"demo-tandan-1": 12, "demo-nukeviet-1": 12}


def test_a_second_crawl_is_incremental_and_full_fetches_everything_again(served: tuple[MirrorInfo, MirrorServer],
                                                                         tmp_path: Path) -> None:
    info, server = served
    articles = {path_of(t["url"]) for t in truth(info)}
    store = f"sqlite:///{tmp_path / 'full.db'}"

    def fetched_articles() -> set[str]:
        return {p for host in HOSTS for p in page_requests(server, host)} & articles

    server.reset_stats()
    first = crawl(info, server, tmp_path, store)
    assert fetched_articles() == articles and sum(r["new"] for r in first.values()) == 24
    server.reset_stats()
    second = crawl(info, server, tmp_path, store)
    assert fetched_articles() == set(), "an incremental crawl fetched known articles again"
    assert sum(r["new"] for r in second.values()) == 0
    server.reset_stats()
    full = crawl(info, server, tmp_path, store, "--full")
    assert fetched_articles() == articles, "--full did not fetch every article again"
    assert sum(r["new"] for r in full.values()) == 0  # nothing new, nothing stored twice
    assert stored(store) == {"demo-tandan-1": 12, "demo-nukeviet-1": 12}


def test_scrapy_crawl_portal_from_the_repository_root(served: tuple[MirrorInfo, MirrorServer], tmp_path: Path) -> None:
    info, server = served
    store = f"sqlite:///{tmp_path / 'scrapy.db'}"
    done = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "portal", "-a", f"portals={info.registry_path}",
                           "-a", f"vars=PORT={server.port}",
                           "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PORTALNEWS_STORE": store})  # the store from the environment
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert stored(store) == {"demo-tandan-1": 12, "demo-nukeviet-1": 12}
    s = open_store(store)
    s.open()
    try:
        assert {r.portal_id: r.outcome for r in s.runs(limit=10)} == {"demo-tandan-1": "ok", "demo-nukeviet-1": "ok"}
    finally:
        s.close()


def test_portalnews_demo(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    done = run_cli("demo", "--workdir", str(workdir), "--articles", "4", timeout=600)
    out = done.stdout
    assert done.returncode == 0, (out + done.stderr)[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    generated = re.search(r"generated a mirror of (\d+) portals \((\d+) articles[^,]*, \d+ pages\)", out)
    assert generated is not None and generated.groups() == ("5", "20"), out[:500]
    served_on = re.findall(r"http://(127\.0\.2\.\d+):\d+/", out.split("\n\n", 1)[0])
    assert len(served_on) == 5, out[:800]
    assert (workdir / "demo.db").is_file() and (workdir / "mirror" / "portals.yaml").is_file()
    # the crawl, then coverage and a sample search, each announced as the command a user would type
    assert [line.split()[2] for line in out.splitlines() if line.startswith("$ portalnews ")] == [
        "crawl", "coverage", "search"]
    store = f"sqlite:///{workdir / 'demo.db'}"
    s = open_store(store)
    s.open()
    try:
        portals = {r.portal_id for r in s.runs(limit=20)}
        documents = s.count_documents()
    finally:
        s.close()
    # the five served portals and the one the demo's registry lists as down on purpose
    assert len(portals) == 6 and BROKEN_PORTAL_ID in portals and documents > 0
    coverage = out.split("$ portalnews coverage", 1)[1].split("$ portalnews search", 1)[0]
    assert all(pid in coverage for pid in portals), coverage
    search = out.split("$ portalnews search", 1)[1]
    assert "[" in search and "]" in search, search  # a hit with its highlighted snippet
    assert f"--store {store}" in out  # what to try next names the demo's store
