"""The portalnews CLI as a user drives it: help, search, export, coverage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from crawler.cli import build_parser, main
from pipelines.storage import Document, RunRecord
from pipelines.storage.sqlite import SQLiteStore

COMMANDS = ["crawl", "schedule", "export", "import", "search", "coverage", "check", "report", "serve", "reindex", "migrate", "portals", "demo"]


@pytest.fixture()
def store_url(tmp_path: Path) -> str:
    store = SQLiteStore(tmp_path / "cli.db")
    store.open()
    store.upsert_documents([
        Document(url="http://127.0.0.1/tin/1.html", portal_id="son-hoa", title="Hội nghị tổng kết năm 2025",
                 body="UBND huyện Sơn Hòa tổ chức hội nghị tổng kết công tác năm 2025.",
                 published_at="2025-12-20T08:00:00+07:00", view_count=1234, province="Phú Yên",
                 crawled_at="2026-01-01T00:00:00+00:00", summary="Tóm tắt"),
        Document(url="http://127.0.0.1/tin/2.html", portal_id="dong-tien", title="Khánh thành cầu dân sinh",
                 body="Xã Đồng Tiến khánh thành cầu dân sinh phục vụ bà con.",
                 published_at="2024-03-01T00:00:00+07:00", view_count=None, province="Bến Tre",
                 crawled_at="2026-01-01T00:00:00+00:00"),
    ])
    store.save_run(RunRecord(run_id="r", portal_id="son-hoa", started_at="2026-01-01T00:00:00+00:00",
                             finished_at="2026-01-01T00:01:00+00:00", outcome="ok", pages_fetched=12))
    store.close()
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert "usage: portalnews " + command in capsys.readouterr().out


def test_search_without_diacritics_finds_the_article(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "hoi nghi", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "Hội nghị tổng kết năm 2025" in out
    assert "[hội nghị]" in out  # highlighted snippet (no colour when not a terminal)
    assert "Khánh thành" not in out


def test_search_json_filters_and_sort(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "", "--store", store_url, "--json", "--sort", "views"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [r["view_count"] for r in answer["hits"]] == [1234, None] and answer["total"] == 2
    assert main(["search", "", "--store", store_url, "--json", "--province", "ben tre"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [r["portal_id"] for r in answer["hits"]] == ["dong-tien"]
    assert answer["facets"]["province"] == [{"value": "Vĩnh Long", "count": 1}]  # Bến Tre since 2025
    assert main(["search", "cau", "--store", store_url, "--json", "--since", "2025-01-01"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["total"], answer["hits"]) == (0, [])
    # one line per hit
    assert main(["search", "", "--store", store_url, "--jsonl", "--sort", "views"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["view_count"] for r in rows] == [1234, None]


def test_export_jsonl_and_csv(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.jsonl"
    assert main(["export", "--store", store_url, "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(
        ["url", "portal_id", "title", "published_at", "view_count", "body", "summary", "author", "category",
         "crawled_at", "date_precision", "province", "current_province", "level", "portal_name", "profile",
         "story_id", "story_size", "is_source"]))}
    assert all(r["story_id"] and r["story_size"] >= 1 and isinstance(r["is_source"], bool) for r in rows)
    assert main(["export", "--store", store_url, "--format", "csv", "--portal", "son-hoa"]) == 0
    reader = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["title"] for r in reader] == ["Hội nghị tổng kết năm 2025"]


def test_coverage_table_and_json(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--store", store_url]) == 0
    assert "son-hoa" in capsys.readouterr().out
    assert main(["coverage", "--store", store_url, "--json"]) == 0
    rows = {r["portal_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["son-hoa"]["articles"] == 1 and rows["son-hoa"]["pages_fetched"] == 12


def test_bad_store_url_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "x", "--store", "ftp://nowhere"]) == 2
    err = capsys.readouterr().err
    assert "unknown store URL" in err and "Traceback" not in err
