"""Watchlists (issue 11, item 5), with real components only.

* Real crawls of a loopback portal into a real SQLite store (and the live OpenSearch node),
  with a real webhook receiver on loopback: a watchlist saved after the first crawl gets,
  after a second crawl that adds three matching articles (and articles that match the text
  but not the filters, or nothing), exactly one notice listing those three; a third crawl
  with nothing new sends nothing; a notice the webhook did not take (receiver down) is kept,
  logged, and sent by the next crawl.
* The in-memory match of a watchlist agrees with the store's own ``search`` on both backends.
* The store's notice records: claimed once, kept when undelivered, forgotten with the watchlist.
* ``portalnews watch add|list|remove`` and their errors.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import build_parser, main
from pipelines.monitoring.notify import NotifyConfig
from pipelines.monitoring.watch import WatchlistMatcher, check_watchlists, search_query
from pipelines.search import IndexedDocument, abbreviations_from_settings
from pipelines.storage import Document, SearchQuery, Store, open_store
from pipelines.storage.base import now_iso
from pipelines.storage.watchlists import NoticeState, StoredArticle, Watchlist, WatchlistExists, WatchNotice
from tests.conftest import free_port, loopback_server
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.monitoring_servers import SMTPReceiver, WebhookReceiver
from tests.scheduling import FAST, run_cli

HOST = "127.0.0.47"

ARTICLE = """<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title></head><body>
<div class="menu"><a href="/">Trang chủ</a></div>
<div class="article"><h1>{title}</h1>
<div class="meta">Ngày đăng: {date} 08:15 | Lượt xem: {views}</div>
<p>{body}</p>
<p>Các đại biểu đã thảo luận, đánh giá những kết quả đạt được, chỉ ra những khó khăn, vướng mắc và đề xuất
nhiều giải pháp thiết thực trong thời gian tới nhằm hoàn thành các chỉ tiêu được giao trong năm.</p>
<p>Phát biểu chỉ đạo, đồng chí Chủ tịch đề nghị các cơ quan, đơn vị tiếp tục quán triệt, triển khai thực hiện
nghiêm túc các nhiệm vụ đã đề ra, tăng cường phối hợp, kịp thời tháo gỡ khó khăn cho người dân và doanh nghiệp.</p>
</div></body></html>"""


@dataclass
class Site:
    """A small portal whose articles the test adds between crawls."""

    articles: dict[str, str] = field(default_factory=dict)  # path -> html
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, slug: str, title: str, body: str, views: int = 500, date: str = "20/11/2026") -> str:
        with self.lock:
            self.articles[f"/tin/{slug}.html"] = ARTICLE.format(title=title, body=body, views=views, date=date)
        return f"/tin/{slug}.html"

    def page(self, path: str) -> str | None:
        with self.lock:
            if path == "/":
                links = "".join(f'<li><a href="{p}">Bài {i}</a></li>' for i, p in enumerate(self.articles, 1))
                return f'<html><head><meta charset="utf-8"><title>Tin tức</title></head><body><ul>{links}</ul></body></html>'
            return self.articles.get(path)


def serve(site: Site) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            page = site.page(self.path)
            robots = self.path == "/robots.txt"
            body = (page or ("User-agent: *\n" if robots else "not found")).encode("utf-8")
            self.send_response(200 if page or robots else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return loopback_server(HOST, Handler)


@pytest.fixture(params=["sqlite", "opensearch"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store of each backend (the live OpenSearch node: skipped or failed as tests/conftest.py says)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'watch.db'}"
        return
    url = opensearch_store_url(request.getfixturevalue("opensearch_url"), unique_prefix())
    try:
        yield url
    finally:
        drop_engine_indices(url)


@pytest.fixture()
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    opened.open()
    try:
        yield opened
    finally:
        opened.close()


def subject(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def watch_bodies(hook: WebhookReceiver) -> list[dict[str, Any]]:
    return [b for b in hook.bodies() if b.get("event") == "watchlist"]


# --- crawls, a webhook receiver, the store ---------------------------------------------------------
def test_one_notice_for_the_three_new_articles_then_nothing_then_a_kept_one(store_url: str, tmp_path: Path) -> None:
    site = Site()
    site.add("hoi-nghi", "Hội nghị tổng kết công tác năm 2025", "Ủy ban nhân dân xã tổ chức hội nghị tổng kết.")
    site.add("tan-hoa", "Xã Tân Hòa về đích nông thôn mới", "Xã Tân Hòa đạt chuẩn nông thôn mới năm 2025.")
    with serve(site) as port, WebhookReceiver() as hook:
        registry = tmp_path / "portals.yaml"
        registry.write_text("portals:\n  - {id: xa-tan-hoa, name: Xã Tân Hòa, level: commune, province: Lào Cai, "
                            f"url: 'http://{HOST}:{port}/'}}\n", "utf-8")
        env = {"PORTALNEWS_ALERT_WEBHOOK": hook.url}

        def crawl(webhook: str = hook.url) -> str:
            result = run_cli("crawl", "--portals", str(registry), "--store", store_url, *FAST,
                             env={"PORTALNEWS_ALERT_WEBHOOK": webhook})
            assert result.returncode == 0, result.stderr[-3000:]
            return result.stderr

        crawl()
        # saved after the first crawl: its matching article ("Tân Hòa … nông thôn mới") is not news
        added = run_cli("watch", "add", "Nông thôn mới", "NTM", "--province", "Lào Cai", "--min-views", "100",
                        "--store", store_url, env=env)
        assert added.returncode == 0, added.stderr
        assert run_cli("watch", "add", "giao thông", "an toàn giao thông", "--portal", "another-portal",
                       "--store", store_url).returncode == 0
        new = {
            site.add("ntm-1", "Huyện đẩy mạnh xây dựng NTM nâng cao", "Các xã tập trung xây dựng NTM."),
            site.add("ntm-2", "Ra mắt mô hình khu dân cư kiểu mẫu", "Mô hình góp phần xây dựng nông thôn mới."),
            site.add("ntm-3", "Nông thôn mới nâng cao: kết quả sau ba năm", "Tổng kết chương trình ở các thôn."),
        }
        site.add("ntm-few-views", "Thôn Nậm Mả đạt chuẩn nông thôn mới", "Bài ít người xem.", views=20)
        site.add("atgt", "Tuyên truyền an toàn giao thông cho học sinh", "Trường học tổ chức tuyên truyền.")
        log = crawl()
        notices = watch_bodies(hook)
        assert len(notices) == 1, log[-5000:]
        assert "watchlists: 1 notice(s) sent (Nông thôn mới: 3 new article(s))" in log
        notice = notices[0]
        assert set(notice) == {"event", "watchlist", "query", "articles"}
        assert (notice["event"], notice["watchlist"], notice["query"]) == ("watchlist", "Nông thôn mới", "NTM")
        assert {a["url"].split(str(port))[1] for a in notice["articles"]} == new
        for article in notice["articles"]:
            assert set(article) == {"url", "title", "portal_id", "published_at"}
            assert article["portal_id"] == "xa-tan-hoa" and article["published_at"].startswith("2026-11-20T08:15")
        # the same three as the saved search finds among the articles stored since the first crawl
        store = open_store(store_url)
        store.open()
        try:
            wl = {w.name: w for w in store.watchlists()}["Nông thôn mới"]
            found = {h.document.url for h in store.search(SearchQuery(**{**vars(search_query(wl)), "limit": 50}))}
        finally:
            store.close()
        tan_hoa = f"http://{HOST}:{port}/tin/tan-hoa.html"
        assert found == {a["url"] for a in notice["articles"]} | {tan_hoa}

        crawl()  # nothing new
        assert len(watch_bodies(hook)) == 1

        kept = site.add("ntm-4", "Lễ công bố xã đạt chuẩn NTM", "Xã được công nhận đạt chuẩn nông thôn mới.")
        log = crawl(webhook=f"http://127.0.0.1:{free_port()}/down")
        assert "watchlist Nông thôn mới" in log and "kept and sent at the next crawl" in log, log[-3000:]
        assert "watchlists: 0 notice(s) sent; 1 article(s) kept for the next crawl" in log
        assert len(watch_bodies(hook)) == 1

        crawl()  # nothing new on the portal: the kept notice goes out
        notices = watch_bodies(hook)
        assert len(notices) == 2
        assert [a["url"] for a in notices[1]["articles"]] == [f"http://{HOST}:{port}{kept}"]
        crawl()
        assert len(watch_bodies(hook)) == 2

        listed = run_cli("watch", "list", "--json", "--store", store_url)
        assert listed.returncode == 0, listed.stderr
        counts = {w["name"]: (w["notified"], w["pending"]) for w in json.loads(listed.stdout)}
        assert counts == {"Nông thôn mới": (4, 0), "giao thông": (0, 0)}


# --- the in-memory match is the search's ------------------------------------------------------------
DOCS = [
    Document(url="http://a.gov.vn/1", portal_id="a", title="Xã Tân Hòa về đích nông thôn mới", province="Lào Cai",
             body="Ủy ban nhân dân xã tổ chức hội nghị.", view_count=10, published_at="2026-11-01T08:00:00+07:00"),
    Document(url="http://a.gov.vn/2", portal_id="a", title="Văn hóa cơ sở", province="Yên Bái",
             body="UBND huyện chỉ đạo xây dựng NTM; chuyển đổi số.", view_count=300),
    Document(url="http://b.gov.vn/3", portal_id="b", title="Hội đồng nhân dân tỉnh họp", province="Hà Giang",
             body="HĐND tỉnh khai mạc kỳ họp; hỏi đáp chuyên đề.", view_count=None),
    Document(url="http://b.gov.vn/4", portal_id="b", title="Thủy lợi nội đồng", province="Tuyên Quang",
             body="Công trình thuỷ lợi phục vụ sản xuất, hội nghị tổng kết.", view_count=1200,
             published_at="2025-05-17T00:00:00+07:00"),
]
QUERIES = [
    Watchlist("a", "NTM"), Watchlist("b", '"Ủy ban nhân dân"'), Watchlist("c", "hoà"),
    Watchlist("d", "hoi -nghi"), Watchlist("e", "chuyen*"), Watchlist("f", "UBND OR HĐND"),
    Watchlist("g", "thủy lợi"), Watchlist("h", "hoi nghi", min_views=100),
    Watchlist("i", "hoi", province="Lào Cai"), Watchlist("j", "hoi", province="Tuyên Quang", portals=["b"]),
    Watchlist("k", "van hoa OR thuy"),
]


def test_a_watchlist_matches_what_search_finds(store: Store) -> None:
    store.upsert_documents(DOCS)
    abbr = abbreviations_from_settings(None)
    for wl in QUERIES:
        searched = {h.document.url for h in store.search(SearchQuery(**{**vars(search_query(wl)), "limit": 50}))}
        matcher = WatchlistMatcher(wl, abbr)
        indexed = {d.url: IndexedDocument.of(vars(d), abbr) for d in DOCS}
        matched = {d.url for d in DOCS if matcher.filters_pass(StoredArticle(d, None))
                   and matcher.matches_text(indexed[d.url])}
        assert matched == searched, (wl.query, wl.province, wl.portals, wl.min_views)
        quick = {d.url for d in DOCS if matcher.filters_pass(StoredArticle(d, None)) and matcher.matches_text(
            indexed[d.url], frozenset(w for text in indexed[d.url].folded for w in text))}
        assert quick == searched, wl.query  # the word-set shortcut changes nothing
        assert searched, f"{wl.query!r} should find something in this test"


# --- the store's notice records ----------------------------------------------------------------------
def test_notices_are_claimed_once_kept_when_undelivered_and_forgotten_with_the_watchlist(store: Store) -> None:
    store.add_watchlist(Watchlist("Lũ lụt", "lũ", created_at="2026-01-01T00:00:00+00:00"))
    notices = [WatchNotice.of("lũ lụt", d) for d in DOCS[:3]]
    first = store.claim_watch_notices("Lũ lụt", notices, now=1000.0)
    assert sorted(n.doc_id for n in first) == sorted(d.id for d in DOCS[:3])
    assert store.claim_watch_notices("LŨ LỤT", [WatchNotice.of("lũ lụt", d) for d in DOCS[:3]], now=1001.0) == []
    store.settle_watch_notices(first[:1], sent=True, now=1002.0)
    store.settle_watch_notices(first[1:], sent=False, now=1002.0)  # no channel took them
    again = store.claim_watch_notices("Lũ lụt", [WatchNotice.of("lũ lụt", DOCS[3])], now=1003.0)
    assert sorted(n.doc_id for n in again) == sorted([first[1].doc_id, first[2].doc_id, DOCS[3].id])
    assert all(n.url and n.title and n.state == NoticeState.CLAIMED for n in again)
    # a worker that died after claiming: its claims are taken over after the TTL, not before
    assert store.claim_watch_notices("Lũ lụt", [], now=1010.0) == []
    assert len(store.claim_watch_notices("Lũ lụt", [], now=1003.0 + 3601)) == 3
    states = {n.doc_id: n.state for n in store.watch_notices("lũ lụt")}
    assert states[first[0].doc_id] == NoticeState.SENT and len(states) == 4
    with pytest.raises(WatchlistExists):
        store.add_watchlist(Watchlist("lũ LỤT", "x"))
    removed = store.remove_watchlist("LŨ lụt")
    assert removed is not None and removed.name == "Lũ lụt"
    assert store.watch_notices("Lũ lụt") == [] and store.watchlists() == []
    assert store.remove_watchlist("Lũ lụt") is None


def test_check_sends_one_email_per_watchlist_and_only_articles_stored_after_it(store: Store) -> None:
    store.upsert_documents(DOCS[:1])  # before the watchlists: not news
    created = "2026-01-01T00:00:00+00:00"
    store.add_watchlist(Watchlist("NTM", "nông thôn mới", created_at=created))
    store.add_watchlist(Watchlist("Họp", "UBND OR HĐND", created_at=created))
    store.add_watchlist(Watchlist("Không có", "bão lũ", created_at=created))
    later = [Document(**{**vars(d), "crawled_at": now_iso(), "id": "", "content_hash": ""})
             for d in DOCS[1:]]
    store.upsert_documents(later)
    with SMTPReceiver() as smtp:
        config = NotifyConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_to=["analyst@example.org"])
        report = check_watchlists(store, config)
        mails = smtp.messages
        assert check_watchlists(store, config).notices_sent == 0
        assert len(smtp.messages) == 2
    assert report.notified == {"NTM": 1, "Họp": 2}, report.to_dict()
    subjects = sorted(subject(m.message) for m in mails)
    assert subjects == ["[portalnews] watchlist Họp: 2 new article(s)", "[portalnews] watchlist NTM: 1 new article(s)"]
    text = {subject(m.message): m.message.get_payload(decode=True).decode("utf-8") for m in mails}
    assert "http://a.gov.vn/2" in text[subjects[1]] and "http://a.gov.vn/1" not in text[subjects[1]]
    assert "Văn hóa cơ sở" in text[subjects[0]] and "Hội đồng nhân dân tỉnh họp" in text[subjects[0]]


# --- the command line ----------------------------------------------------------------------------------
def test_watch_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["watch", "list", "--store", store]) == 2  # a read-only command never creates a store
    assert "no portalnews store at" in capsys.readouterr().err and not (tmp_path / "cli.db").exists()
    empty = open_store(store)
    empty.open(create=True)
    empty.close()
    assert main(["watch", "list", "--store", store]) == 0
    assert "no watchlists saved" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "cli.db") as db:  # reading creates nothing: tables come with the first one
        assert not db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'watch%'").fetchall()
    assert main(["watch", "add", "Chuyển đổi số", "chuyen doi so", "--province", "Lào Cai", "--portal", "a",
                 "--portal", "b", "--min-views", "50", "--store", store]) == 0
    assert "saved watchlist 'Chuyển đổi số': chuyen doi so" in capsys.readouterr().out
    assert main(["watch", "add", "UBND", '"Ủy ban nhân dân" -"thể thao"', "--store", store]) == 0
    capsys.readouterr()
    assert main(["watch", "add", "chuyển đổi SỐ", "x", "--store", store]) == 2
    assert "a watchlist named 'chuyển đổi SỐ' exists already" in capsys.readouterr().err
    assert main(["watch", "add", "trống", "OR", "--store", store]) == 2
    assert "looks for no word" in capsys.readouterr().err
    assert main(["watch", "add", "--store", store, "chỉ loại trừ", "--", "-nghi"]) == 2
    assert "looks for no word" in capsys.readouterr().err
    assert main(["watch", "add", "bad\x1bname", "x", "--store", store]) == 2
    assert "control characters" in capsys.readouterr().err
    assert main(["watch", "add", "--store", store, "Bóng đá", "--", '-"thể thao" bóng đá']) == 0  # README
    assert "saved watchlist 'Bóng đá'" in capsys.readouterr().out
    assert main(["watch", "remove", "bóng đá", "--store", store]) == 0

    assert main(["watch", "list", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "Chuyển đổi số" in out and "province=Lào Cai portal=a portal=b min-views=50" in out and "UBND" in out
    assert main(["watch", "list", "--json", "--store", store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [w["name"] for w in listed] == ["chuyển đổi số".capitalize(), "UBND"]
    assert listed[0] | {"created_at": ""} == {"name": "Chuyển đổi số", "query": "chuyen doi so", "province": "Lào Cai",
                                              "portals": ["a", "b"], "min_views": 50, "level": None, "category": None,
                                              "created_at": "", "notified": 0, "pending": 0}

    assert main(["watch", "remove", "nope", "--store", store]) == 2
    assert "no watchlist named 'nope' (known: 'Chuyển đổi số', 'UBND')" in capsys.readouterr().err
    assert main(["watch", "remove", "ubnd", "--store", store]) == 0
    assert "removed watchlist 'UBND'" in capsys.readouterr().out
    assert main(["watch", "list", "--json", "--store", store]) == 0
    assert [w["name"] for w in json.loads(capsys.readouterr().out)] == ["Chuyển đổi số"]



@pytest.mark.parametrize("action", [[], ["add"], ["list"], ["remove"], ["check"]])
def test_watch_has_help(action: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["watch", *action, "--help"])
    assert exc.value.code == 0
    assert "usage: portalnews watch" + "".join(f" {a}" for a in action) in capsys.readouterr().out


def test_two_workers_checking_at_once_send_each_article_once(store_url: str, store: Store) -> None:
    store.add_watchlist(Watchlist("NTM", "nông thôn mới", created_at="2026-01-01T00:00:00+00:00"))
    store.upsert_documents([Document(**{**vars(d), "crawled_at": now_iso(), "id": "", "content_hash": ""})
                            for d in DOCS])
    with WebhookReceiver() as hook:
        config = NotifyConfig(webhook_url=hook.url)
        workers = [open_store(store_url) for _ in range(2)]
        for w in workers:
            w.open()
        start = threading.Barrier(2)
        reports = []

        def work(worker: Store) -> None:
            start.wait()
            reports.append(check_watchlists(worker, config))

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w in workers:
            w.close()
        urls = [a["url"] for body in watch_bodies(hook) for a in body["articles"]]
    assert sorted(urls) == ["http://a.gov.vn/1", "http://a.gov.vn/2"]  # "NTM" in the body of the second
    assert sum(r.articles_notified for r in reports) == 2 and not any(r.errors for r in reports)


def test_watch_check_keeps_what_no_channel_took(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    assert main(["watch", "add", "Họp", "UBND OR HĐND", "--store", url]) == 0
    opened = open_store(url)
    opened.open()
    opened.upsert_documents([Document(**{**vars(d), "crawled_at": now_iso(), "id": "", "content_hash": ""})
                             for d in DOCS])
    opened.close()
    monkeypatch.setenv("PORTALNEWS_ALERT_WEBHOOK", f"http://127.0.0.1:{free_port()}/down")
    assert main(["watch", "check", "--store", url]) == 1
    assert "0 notice(s) sent (0 article(s)), 3 article(s) kept" in capsys.readouterr().out
    with WebhookReceiver() as hook:
        monkeypatch.setenv("PORTALNEWS_ALERT_WEBHOOK", hook.url)
        assert main(["watch", "check", "--json", "--store", url]) == 0
        out = capsys.readouterr().out
        assert json.loads(out)["notified"] == {"Họp": 3}, out
        assert main(["watch", "check", "--store", url]) == 0
        assert "0 notice(s) sent" in capsys.readouterr().out
        bodies = watch_bodies(hook)
    assert len(bodies) == 1 and {a["url"] for a in bodies[0]["articles"]} == {d.url for d in DOCS[:3]}
    assert main(["watch", "list", "--json", "--store", url]) == 0
    assert [(w["notified"], w["pending"]) for w in json.loads(capsys.readouterr().out)] == [(3, 0)]
