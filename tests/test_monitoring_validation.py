"""Item validation: every article is checked against the document JSON Schema before storage;
invalid ones are counted by portal and field and kept in the dead-letter file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from pipelines.model.items import PageItem
from pipelines.stages.validation import ValidationPipeline, document_schema

BODY = ("Sáng ngày 5/3, Ủy ban nhân dân xã tổ chức hội nghị triển khai nhiệm vụ năm 2025 với sự tham gia của "
        "đại diện các ban, ngành, đoàn thể.")


def article(n: int, **fields: Any) -> PageItem:
    base = {"title": f"Hội nghị số {n}", "body": BODY, "published_at": "2025-03-05T08:00:00+07:00",
            "date_precision": "minute", "view_count": 12, "summary": None, "author": None, "category": None,
            "profile": "metaline"}
    base.update(fields)
    return PageItem(url=f"http://127.0.0.1/tin/{n}.html", portal_id="xa-a", status=200,
                    fetched_at="2026-01-01T00:00:00+00:00", kind="article", fields=base)


@pytest.fixture()
def pipeline(tmp_path: Path) -> tuple[ValidationPipeline, Any, Path]:
    dead = tmp_path / "dead" / "letters.jsonl"
    crawler = get_crawler(settings_dict={"PORTALNEWS_DEAD_LETTER": str(dead)})
    crawler.stats.open_spider()
    return ValidationPipeline.from_crawler(crawler), crawler.stats, dead


def test_schema_is_valid_and_accepts_a_good_document() -> None:
    Draft202012Validator.check_schema(document_schema())


def test_valid_articles_pass_and_missing_fields_are_counted(pipeline: tuple[ValidationPipeline, Any, Path]) -> None:
    p, stats, dead = pipeline
    assert p.process_item(article(1)) is not None
    assert p.process_item(article(2, published_at=None, date_precision=None, view_count=None)) is not None
    other = PageItem(url="http://127.0.0.1/", portal_id="xa-a", status=200, fetched_at="x", kind="listing")
    assert p.process_item(other) is other
    assert stats.get_value("portalnews/article_pages/xa-a") == 2
    assert stats.get_value("portalnews/missing_field/xa-a/published_at") == 1
    assert stats.get_value("portalnews/missing_field/xa-a/view_count") == 1
    assert stats.get_value("portalnews/missing_field/xa-a/title") is None
    p.close_spider()
    assert not dead.exists()  # nothing rejected, no file


@pytest.mark.parametrize(("fields", "reasons", "field_names"), [
    ({"title": "  "}, ["no title"], ["title"]),
    ({"body": None}, ["no body"], ["body"]),
    ({"body": "ngắn"}, ["body too short"], ["body"]),
    ({"view_count": -5}, ["invalid view count"], ["view_count"]),
    ({"view_count": "1.234"}, ["invalid view count"], ["view_count"]),
    ({"published_at": "17/05/2024"}, ["invalid date"], ["published_at"]),
    ({"date_precision": "week"}, ["invalid date_precision"], ["date_precision"]),
    ({"title": None, "published_at": 20240517}, ["no title", "invalid date"], ["title", "published_at"]),
])
def test_invalid_articles_are_dropped_counted_and_dead_lettered(
        pipeline: tuple[ValidationPipeline, Any, Path], fields: dict[str, Any], reasons: list[str],
        field_names: list[str]) -> None:
    p, stats, dead = pipeline
    with pytest.raises(DropItem) as exc:
        p.process_item(article(7, **fields))
    assert str(exc.value).endswith(": " + ", ".join(reasons))
    assert stats.get_value(f"portalnews/dropped/xa-a/{reasons[0]}") == 1
    for name in field_names:
        assert stats.get_value(f"portalnews/invalid/xa-a/{name}") == 1
    assert stats.get_value("portalnews/article_pages/xa-a") == 1
    p.close_spider()
    records = [json.loads(line) for line in dead.read_text("utf-8").splitlines()]
    assert len(records) == 1
    rec = records[0]
    assert (rec["url"], rec["portal_id"], rec["reasons"]) == ("http://127.0.0.1/tin/7.html", "xa-a", reasons)
    assert [e["field"] for e in rec["errors"]] == field_names
    assert rec["fields"]["title"] == article(7, **fields).fields["title"]
    assert rec["time"].startswith("20")
    assert stats.get_value("portalnews/dead_letter/xa-a") == 1


def test_dead_letter_file_that_cannot_be_written_does_not_stop_validation(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    crawler = get_crawler(settings_dict={"PORTALNEWS_DEAD_LETTER": str(blocker / "sub" / "dead.jsonl")})
    crawler.stats.open_spider()
    p = ValidationPipeline.from_crawler(crawler)
    for _ in range(2):
        with pytest.raises(DropItem):
            p.process_item(article(3, body=""))
    assert crawler.stats.get_value("portalnews/dropped/xa-a/no body") == 2
    p.close_spider()
