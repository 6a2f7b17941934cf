"""The HTML coverage report shows hostile strings as text, times in Vietnam time, and
partial crawls in its summary.

Crawled pages, run records and the registry are written by strangers: every string the
report shows (portal ids and names, provinces, levels, crawl outcomes and messages, HTTP
error codes, field names, problems, alert messages) is stored here with live markup in it,
``portalnews report`` writes the page, and the page is read twice: by an HTML parser (the
markup the file holds) and by headless Chromium (the DOM a browser builds, after any script
had its chance to run).  Neither may find an element or an event handler that came from
the data.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from pipelines.storage import Document, RunRecord
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import require_browser
from tests.monitoring_servers import chromium

SCRIPT = '<script>document.title="PWNED"</script>'
IMG = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
SVG = "'><svg onload=\"document.body.setAttribute('data-pwned','svg')\"><rect/></svg>"
PAYLOADS = (SCRIPT, IMG, SVG)
#: Every element the report's template writes; anything else came from the data.
TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "main", "section",
                 "div", "b", "span", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "svg", "rect", "text",
                 "line"}
TITLE = "portalnews coverage report"


def hostile(label: str, payload: str) -> str:
    return f"{label} {payload}"


@dataclass
class Page(HTMLParser):
    """The elements, attributes and text of an HTML document."""

    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def of(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def attribute_values(self) -> list[str]:
        return [v for _tag, attrs in self.tags for v in attrs.values() if v]


def assert_no_live_markup(page: Page, where: str) -> None:
    stray = sorted({tag for tag, _ in page.tags} - TEMPLATE_TAGS)
    assert stray == [], f"{where}: elements from the data: {stray}"
    handlers = [(tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")]
    assert handlers == [], f"{where}: event handlers: {handlers}"
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 3, f"{where}: an <svg> from the data"
    assert not any("data-pwned" in attrs for _tag, attrs in page.tags), where
    titles = [t for t in page.text if "PWNED" in t and "<script>" not in t]
    assert titles == [], f"{where}: a script ran: {titles}"


def hostile_store(path: Path, now: datetime) -> None:
    """Three portals whose every string carries markup; one ends partial, one failed."""
    store = SQLiteStore(path)
    store.open()
    try:
        recent = (now - timedelta(days=2)).astimezone(UTC).isoformat()
        crawled = (now - timedelta(hours=6)).astimezone(UTC).isoformat(timespec="seconds")
        portals = {"evil-1": SCRIPT, "evil-2": IMG, f"evil-3{IMG}": SVG}
        for n, (pid, payload) in enumerate(portals.items()):
            store.upsert_documents([Document(
                url=f"http://127.0.0.1/{n}/{k}.html", portal_id=pid, title=hostile("title", payload),
                body=hostile("body", payload) * 5, summary=hostile("summary", payload), published_at=recent,
                crawled_at=crawled, province=hostile("province", payload), level=hostile("level", payload),
                portal_name=hostile("name", payload), category=hostile("category", payload),
                author=hostile("author", payload)) for k in range(3)])
        runs = [("evil-1", SCRIPT, "ok"), ("evil-2", IMG, "failed"), (f"evil-3{IMG}", SVG, "partial")]
        for pid, payload, outcome in runs:
            store.save_run(RunRecord(
                run_id=f"r-{pid}", portal_id=pid, started_at=crawled, finished_at=crawled,
                outcome=hostile("outcome", payload) if outcome == "ok" else outcome, pages_fetched=10, errors=4,
                article_pages=3, http_errors={hostile("code", payload): 4}, missing_fields={"view_count": 3},
                drop_reasons={hostile("reason", payload): 1}, message=hostile("message", payload),
                province=hostile("province", payload), level=hostile("level", payload),
                portal_name=hostile("name", payload)))
    finally:
        store.close()


def registry(path: Path) -> Path:
    """The registry names the portals (and adds one never crawled) with markup of its own."""
    entries = [{"id": "evil-1", "name": hostile("registry name", SVG), "province": hostile("registry province", IMG),
                "level": "district", "url": "http://127.0.0.1/"},
               {"id": "never-1", "name": hostile("never", SCRIPT), "province": hostile("never province", SCRIPT),
                "level": hostile("never level", IMG), "url": "http://127.0.0.1/"}]
    path.write_text(yaml.safe_dump({"portals": entries}, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    hostile_store(tmp / "store.db", datetime.now(UTC))
    out = tmp / "report.html"
    done = subprocess.run([sys.executable, "-m", "crawler.cli", "report", "--store", f"sqlite:///{tmp / 'store.db'}",
                           "--portals", str(registry(tmp / "portals.yaml")), "--out", str(out), "--days", "30"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def test_hostile_strings_are_shown_as_text_never_as_markup(report: Path) -> None:
    html = report.read_text("utf-8")
    page = Page.of(html)
    assert_no_live_markup(page, "the file")
    shown = page.all_text + "\n".join(page.attribute_values())
    # the strings did reach the page, as text: each payload is there verbatim, in every place
    for label in ("outcome", "message", "code", "province", "level", "name", "registry name", "registry province",
                  "never", "never province", "never level"):
        assert any(f"{label} {p}" in shown for p in PAYLOADS), f"{label!r} is not on the page"
    for payload in PAYLOADS:
        assert payload in page.all_text
    assert f"evil-3{IMG}" in page.all_text and f"evil-3{IMG}" in page.attribute_values()  # data-portal="…"
    assert "<script" not in html and "<img" not in html
    assert len(re.findall(r"<svg\b", html)) == 3


def test_a_browser_builds_no_element_from_the_data(report: Path, tmp_path: Path) -> None:
    binary = require_browser()
    dom = chromium(binary, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=2000", report.as_uri())
    assert "<html" in dom.stdout, dom.stderr[-2000:]
    page = Page.of(dom.stdout)
    assert_no_live_markup(page, "the DOM")
    head_title = re.search(r"<title>(.*?)</title>", dom.stdout, re.S)  # the first one: the document's
    assert head_title is not None and head_title.group(1) == TITLE  # no script renamed it
    assert SCRIPT in page.all_text


def test_times_are_vietnam_time_and_partial_crawls_are_counted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.open()
    try:
        for pid, outcome in (("a", "ok"), ("b", "partial"), ("c", "interrupted"), ("d", "ok")):
            store.save_run(RunRecord(run_id=pid, portal_id=pid, started_at="2026-02-27T20:30:00+00:00",
                                     finished_at="2026-02-27T21:10:00+00:00", outcome=outcome, pages_fetched=5))
        store.upsert_documents([Document(url="http://127.0.0.1/a/1.html", portal_id="a", title="Tin", body="Nội dung",
                                         published_at="2026-02-27T18:00:00+00:00",
                                         crawled_at="2026-02-27T21:00:00+00:00")])
    finally:
        store.close()
    out = tmp_path / "r.html"
    done = subprocess.run([sys.executable, "-m", "crawler.cli", "report", "--store", f"sqlite:///{tmp_path / 's.db'}",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = Page.of(out.read_text("utf-8"))
    text = page.all_text
    assert "All times are Vietnam time (UTC+07:00)." in text
    assert "last crawl (+07:00)" in text and "(UTC)" not in text
    # 20:30 UTC on 27 February is 03:30 on 28 February in Vietnam; the article's date is the 28th there too
    assert text.count("2026-02-28 03:30") == 4 and "2026-02-27 20:30" not in text
    assert "2026-02-28 (" in text and "2026-02-27 (" not in text
    generated = re.search(r"generated (\d{4}-\d\d-\d\d \d\d:\d\d) Vietnam time", text)
    assert generated is not None
    shown = datetime.strptime(generated.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC) - timedelta(hours=7)
    assert abs((shown - datetime.now(UTC)).total_seconds()) < 600
    cards = re.findall(r'<div class="card (\w*)"><b>(\d+)</b><span>([^<]+)</span></div>', out.read_text("utf-8"))
    by_label = {label: (int(value), css) for css, value, label in cards}
    assert by_label["last crawl partial"] == (2, "warn")  # the partial crawl and the interrupted one
    assert by_label["portals"] == (4, "")
