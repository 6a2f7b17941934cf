"""``portalnews web``, every route through Starlette's TestClient, on a real SQLite store filled
by the real crawl (tests/web_support.py): what an analyst sees on the page is what
``/api/search`` answers, the export is the whole result set, and nothing crawled runs live."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from starlette.testclient import TestClient

from crawler.web.app import create_app
from pipelines.monitoring import check_store, load_rules
from pipelines.storage.base import EXPORT_FIELDS, document_id
from pipelines.storage.sqlite import SQLiteStore
from tests.web_support import (
    HOSTILE_PORTAL,
    HOSTILE_URL,
    HOSTILE_VIEWS,
    WebStore,
    all_hits,
)

HOSTILE_ID = document_id(HOSTILE_URL)
#: Characters that must never reach a page: C0 (but tab, newline, carriage return), DEL, C1, bidi controls.
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def api(web_client: TestClient, **params: Any) -> dict[str, Any]:
    resp = web_client.get("/api/search", params=params)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def every_hit(web_client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return all_hits(lambda **p: api(web_client, **p), **params)


def page(web_client: TestClient, url: str, **params: Any) -> lxml.html.HtmlElement:
    resp = web_client.get(url, params=params) if params else web_client.get(url)  # params={} would drop url's query
    assert resp.status_code == 200, resp.text[-2000:]
    assert_nothing_live(resp.text)
    return lxml.html.fromstring(resp.text)


def assert_nothing_live(html: str) -> None:
    """No script, no event handler, no frame, no control character: crawled text stays text."""
    assert "<script" not in html.lower()
    assert not UNSAFE_CHARS.search(html), repr(UNSAFE_CHARS.search(html))
    tree = lxml.html.fromstring(html)
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag.lower() not in {"script", "iframe", "object", "embed", "img"}, el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name, value)
            assert not value.strip().lower().startswith("javascript:"), (el.tag, name, value)


def total_on(tree: lxml.html.HtmlElement) -> int:
    return int(tree.get_element_by_id("total").get("data-total"))


def hit_ids(tree: lxml.html.HtmlElement) -> list[str]:
    return [li.get("data-id") for li in tree.cssselect("li.hit")]


def query_of(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


# --- the search page -------------------------------------------------------------------------------
def test_search_page_shows_what_the_api_answers(web_client: TestClient) -> None:
    tree = page(web_client, "/", q="hoi nghi")
    data = api(web_client, q="hoi nghi")
    assert data["total"] > 20, "the query must fill more than one page"
    assert total_on(tree) == data["total"]
    shown = tree.get_element_by_id("total").text_content()
    assert f"{data['total']} documents match" in " ".join(shown.split()).replace(".", "")
    assert hit_ids(tree) == [h["id"] for h in data["hits"]]
    first = tree.cssselect("li.hit")[0]
    assert first.cssselect("h3 a")[0].text_content() == data["hits"][0]["title"]
    assert first.cssselect("h3 a")[0].get("href") == f"/article/{data['hits'][0]['id']}"
    assert first.cssselect("p.snippet mark"), "matches are highlighted"
    for facet in ("province", "level", "portal_id", "category"):
        section = tree.cssselect(f'section[data-facet="{facet}"]')
        assert section, facet
        shown_counts = {a.get("data-value"): int(a.getnext().text_content().replace(".", ""))
                        for a in section[0].cssselect("li a")}
        assert shown_counts == {v["value"]: v["count"] for v in data["facets"][facet][:len(shown_counts)]}
    bars = tree.cssselect('svg[data-chart="months"] rect')
    months = {v["value"]: v["count"] for v in data["facets"]["month"]}
    assert {b.get("data-month"): int(b.get("data-count")) for b in bars if int(b.get("data-count"))} == months
    assert sum(months.values()) == data["total"], "every match of the mirror is dated"


def test_a_facet_link_adds_its_filter(web_client: TestClient) -> None:
    tree = page(web_client, "/", q="hoi nghi")
    link = tree.cssselect('section[data-facet="province"] li a')[0]
    value = link.get("data-value")
    assert query_of(link.get("href")) == {"q": ["hoi nghi"], "province": [value]}
    narrowed = page(web_client, link.get("href"))
    data = api(web_client, q="hoi nghi", province=value)
    assert total_on(narrowed) == data["total"] == int(link.getnext().text_content().replace(".", ""))
    assert {h["province"] for h in data["hits"]} == {value}
    # portals add up: a second portal link keeps the first
    p1 = narrowed.cssselect('section[data-facet="portal_id"] li a')[0]
    both = page(web_client, p1.get("href"))
    assert query_of(p1.get("href"))["portal"] == [p1.get("data-value")]
    chip = both.cssselect("p.filters a.chip")
    assert len(chip) == 2, "province and portal are shown as removable filters"
    removed = page(web_client, chip[0].get("href"))
    assert total_on(removed) == api(web_client, q="hoi nghi", province=value)["total"]


def test_paging_forward_and_sorting(web_client: TestClient) -> None:
    tree = page(web_client, "/", q="hoi", per_page=10)
    nxt = tree.cssselect('nav.pages a[rel="next"]')[0]
    second = page(web_client, nxt.get("href"))
    data = api(web_client, q="hoi", per_page=10, page=2)
    assert hit_ids(second) == [h["id"] for h in data["hits"]]
    assert second.cssselect("ol.hits")[0].get("start") == "11"
    assert not set(hit_ids(second)) & set(hit_ids(tree))
    by_date = api(web_client, q="hoi", sort="date", per_page=100)["hits"]
    dates = [h["published_at"] for h in by_date if h["published_at"]]
    assert dates == sorted(dates, reverse=True)
    by_views = page(web_client, "/", q="hoi", sort="views")
    views = [int(s.text_content().split()[0].replace(".", "").replace("–", "-1"))
             for s in by_views.cssselect("li.hit span.views")]
    assert views == sorted(views, reverse=True) and views[0] > 0
    assert by_views.cssselect("p.sort b")[0].text_content() == "views"


def test_date_range_and_minimum_views(web_client: TestClient) -> None:
    params = {"q": "", "since": "2023-01-01", "until": "2024-06-30", "min_views": "500"}
    tree = page(web_client, "/", **params)
    hits = every_hit(web_client, **params)
    assert total_on(tree) == len(hits) > 0
    everything = every_hit(web_client)
    expected = [h for h in everything if h["published_at"] and "2023-01-01" <= h["published_at"][:10] <= "2024-06-30"
                and (h["view_count"] or 0) >= 500]
    assert {h["id"] for h in hits} == {h["id"] for h in expected}
    assert tree.cssselect("#since")[0].get("value") == "2023-01-01"
    # a bar of the histogram narrows the search to its month
    bar_link = page(web_client, "/").cssselect('svg[data-chart="months"] a')[-1].get("href")
    month = query_of(bar_link)
    assert month["since"][0][:7] == month["until"][0][:7]


# --- the article page --------------------------------------------------------------------------------
def test_article_page_shows_every_field_the_original_and_the_history(web_client: TestClient, web_store: WebStore) -> None:
    doc_id = api(web_client, q="hoi nghi")["hits"][0]["id"]
    s = SQLiteStore(web_store.path)
    s.open()
    try:
        doc = s.get_document(doc_id)
    finally:
        s.close()
    assert doc is not None
    tree = page(web_client, f"/article/{doc_id}")
    assert tree.get_element_by_id("title").text_content() == doc.title
    assert tree.get_element_by_id("original").get("href") == doc.url
    fields = {tr.cssselect("th")[0].text_content(): tr.cssselect("td")[0].text_content()
              for tr in tree.cssselect("section.fields tr")}
    for name in ("id", "url", "portal_id", "title", "published_at", "category", "province", "level", "crawled_at"):
        value = getattr(doc, name)
        assert fields[name] == (str(value) if value is not None else "–"), name
    body = " ".join(p.text_content() for p in tree.cssselect("section.body p"))
    assert doc.body.split("\n")[0].strip()[:80] in body


def test_view_history_chart_and_earlier_versions(web_client: TestClient) -> None:
    tree = page(web_client, f"/article/{HOSTILE_ID}")
    points = tree.cssselect('svg[data-chart="views"] circle')
    assert [(c.get("data-t"), int(c.get("data-views"))) for c in points] == list(HOSTILE_VIEWS)
    ys = [float(c.get("cy")) for c in points]
    assert ys[0] > ys[1] > ys[2], "more views is higher on the chart"
    versions = tree.cssselect("details.version")
    assert [v.get("data-version") for v in versions] == ["1"]
    assert "Bản đầu tiên" in versions[0].text_content()
    fields = {tr.cssselect("th")[0].text_content(): tr.cssselect("td")[0].text_content()
              for tr in tree.cssselect("section.fields tr")}
    assert fields["version"] == "2"


@pytest.mark.parametrize("path", ["/article/" + "0" * 40, "/article/nothex", "/article/%2e%2e%2fcoverage", "/nowhere"])
def test_unknown_articles_and_pages_are_404(web_client: TestClient, path: str) -> None:
    resp = web_client.get(path)
    assert resp.status_code == 404
    assert "Not found" in resp.text
    assert_nothing_live(resp.text)


# --- export --------------------------------------------------------------------------------------------
def test_csv_export_is_the_whole_result_set(web_client: TestClient) -> None:
    expected = every_hit(web_client, q="hoi")
    assert len(expected) > 20
    resp = web_client.get("/export", params={"q": "hoi", "page": 2, "format": "csv"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    raw = resp.content
    assert raw.startswith("\ufeff".encode()), "a byte-order mark, for Excel"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == list(EXPORT_FIELDS)
    assert sorted(r[0] for r in rows[1:]) == sorted(h["url"] for h in expected)
    assert any("Ủy ban" in r[5] or "UBND" in r[5] for r in rows[1:]), "Vietnamese intact"


def test_export_neutralises_formulas_and_follows_the_filters(web_client: TestClient) -> None:
    resp = web_client.get("/export", params={"portal": HOSTILE_PORTAL, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    assert rows[0]["category"].startswith("'="), "a formula cell is made text"
    params = {"q": "UBND", "portal": ["demo-district-1", "demo-tandan-1"], "since": "2022-01-01"}
    expected = every_hit(web_client, **params)
    lines = web_client.get("/export", params={**params, "format": "jsonl"}).text.splitlines()
    docs = [json.loads(line) for line in lines]
    assert sorted(d["url"] for d in docs) == sorted(h["url"] for h in expected) and docs
    assert {d["portal_id"] for d in docs} <= {"demo-district-1", "demo-tandan-1"}
    assert list(docs[0]) == list(EXPORT_FIELDS)


def test_export_of_nothing_is_a_header(web_client: TestClient) -> None:
    resp = web_client.get("/export", params={"q": "zzzkhongcogi", "format": "csv"})
    assert resp.status_code == 200
    assert resp.content.decode("utf-8-sig").splitlines() == [",".join(EXPORT_FIELDS)]
    assert web_client.get("/export", params={"q": "zzzkhongcogi", "format": "jsonl"}).text == ""


# --- coverage --------------------------------------------------------------------------------------------
def test_coverage_links_to_every_portal_and_its_articles(web_client: TestClient, web_store: WebStore) -> None:
    s = SQLiteStore(web_store.path)
    s.open()
    try:
        report, alerts = check_store(s, load_rules())
    finally:
        s.close()
    tree = page(web_client, "/coverage")
    rows = {tr.get("data-portal"): tr for tr in tree.cssselect("table#coverage tbody tr")}
    assert list(rows) == [p.portal_id for p in report.portals], "worst first, as the CLI"
    assert "demo-broken-1" in rows and "unreachable" in rows["demo-broken-1"].text_content()
    assert {a.portal_id for a in alerts} <= set(rows)
    for p in report.portals:
        link = rows[p.portal_id].cssselect("a[data-articles]")[0]
        assert int(link.get("data-articles")) == p.articles
        assert query_of(link.get("href")) == {"portal": [p.portal_id]}
        assert total_on(page(web_client, link.get("href"))) == p.articles


# --- bad parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "name"), [
    ({"page": "0"}, "page"), ({"page": "two"}, "page"), ({"page": "600"}, "page"), ({"per_page": "101"}, "per_page"),
    ({"per_page": "-5"}, "per_page"), ({"sort": "best"}, "sort"), ({"since": "2024-13-01"}, "since"),
    ({"until": "yesterday"}, "until"), ({"min_views": "-1"}, "min_views"), ({"min_views": "1e3"}, "min_views"),
    ({"province": ["Huế", "Hà Nội"]}, "province"), ({"q": "x" * 1001}, "q"),
])
def test_bad_parameters_are_400_naming_the_parameter(web_client: TestClient, params: dict[str, Any], name: str) -> None:
    resp = web_client.get("/api/search", params=params)
    assert resp.status_code == 400
    assert resp.json()["parameter"] == name and name in resp.json()["error"]
    html = web_client.get("/", params=params)
    assert html.status_code == 400 and name in html.text
    assert_nothing_live(html.text)
    assert web_client.get("/export", params=params).status_code == 400


def test_bad_export_format_is_400(web_client: TestClient) -> None:
    resp = web_client.get("/export", params={"format": "xlsx"})
    assert resp.status_code == 400 and "format" in resp.text


# --- hostile content ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/?q=H%C3%B2a", f"/?portal={HOSTILE_PORTAL}", f"/article/{HOSTILE_ID}", "/coverage",
                                 "/?q=%3Cscript%3Ealert(1)%3C/script%3E", "/?sort=%3Cscript%3E",
                                 "/?province=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E"])
def test_hostile_strings_never_appear_live(web_client: TestClient, url: str) -> None:
    resp = web_client.get(url)
    assert resp.status_code in (200, 400)
    assert_nothing_live(resp.text)
    if "hostile" in url or "article" in url:
        assert "&lt;script&gt;" in resp.text, "the text is shown, escaped"


def test_the_hostile_article_is_found_and_shown_escaped(web_client: TestClient) -> None:
    tree = page(web_client, "/", portal=HOSTILE_PORTAL)
    assert hit_ids(tree) == [HOSTILE_ID]
    title = tree.cssselect("li.hit h3 a")[0].text_content()
    assert '<script>alert("t")</script>' in title and "?[2J" in title, "shown as text, control characters as ?"
    data = api(web_client, q="UBND", portal=HOSTILE_PORTAL)
    assert data["total"] == 1
    assert "<script" not in data["hits"][0]["snippet_html"] and "<mark>" in data["hits"][0]["snippet_html"]


# --- an unusable store ----------------------------------------------------------------------------------------
def test_a_missing_store_is_a_503_and_is_never_created(tmp_path: Path, web_store: WebStore) -> None:
    missing = tmp_path / "later" / "store.db"
    with TestClient(create_app(f"sqlite:///{missing}")) as c:
        for url in ("/", "/coverage", f"/article/{HOSTILE_ID}", "/export?format=csv"):
            resp = c.get(url)
            assert resp.status_code == 503, url
            assert str(missing) in resp.text and "no portalnews store" in resp.text
            assert_nothing_live(resp.text)
        resp = c.get("/api/search", params={"q": "hoi"})
        assert resp.status_code == 503 and "no portalnews store" in resp.json()["error"]
        assert not missing.exists() and not missing.parent.exists(), "the web app never creates a store"
        # the app kept running: once the store is there, the same app answers
        missing.parent.mkdir()
        shutil.copy(web_store.path, missing)
        assert c.get("/api/search", params={"q": "hoi"}).json()["total"] == api_total_of(web_store, "hoi")


def api_total_of(web_store: WebStore, q: str) -> int:
    with TestClient(create_app(web_store.url)) as c:
        total: int = c.get("/api/search", params={"q": q}).json()["total"]
        return total


def test_a_store_that_is_not_a_store_is_a_503(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are not the articles you are looking for\n" * 100, "utf-8")
    with TestClient(create_app(f"sqlite:///{bogus}")) as c:
        resp = c.get("/")
        assert resp.status_code == 503 and "not a usable portalnews SQLite store" in resp.text
        assert c.get("/coverage").status_code == 503


def test_an_unreachable_engine_is_a_503() -> None:
    with TestClient(create_app("opensearch://127.0.0.1:9?prefix=tdown")) as c:  # nothing listens on port 9
        resp = c.get("/", params={"q": "hoi"})
        assert resp.status_code == 503 and "cannot reach the search engine" in resp.text
        api = c.get("/api/search")
        assert api.status_code == 503 and "cannot reach the search engine" in api.json()["error"]
