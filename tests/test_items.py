"""Items the Scrapy way: the pipelines read and write items through ItemAdapter, the document
schema matches the document definition, and a dropped page carries its reason as data, so
the storage stage records a duplicate as a duplicate and anything else as rejected."""

from __future__ import annotations

import asyncio
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler.registry import Portal
from pipelines.model.items import ArticleDocument, ArticleFields, article_document
from pipelines.model.kinds import DatePrecision, DropReason, PageKind, RunOutcome
from pipelines.stages.dedup import DedupPipeline
from pipelines.stages.drops import DuplicatePage, InvalidArticle
from pipelines.stages.storage import StoragePipeline
from pipelines.stages.validation import ValidationPipeline, document_schema
from pipelines.storage import open_store
from pipelines.storage.extension import crawl_store

BODY = ("Sáng ngày 5/3, Ủy ban nhân dân xã tổ chức hội nghị triển khai nhiệm vụ năm 2025 với sự tham gia của "
        "đại diện các ban, ngành, đoàn thể và các thôn trên địa bàn xã.")
JSON_TYPES: dict[type, str] = {str: "string", int: "integer", type(None): "null"}


def json_types(annotation: Any) -> set[str]:
    """The JSON Schema types a Python annotation allows (str | None -> {"string", "null"})."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(json_types(a) for a in get_args(annotation)))
    if isinstance(annotation, type) and issubclass(annotation, DatePrecision):
        return {"string"}
    return {JSON_TYPES[annotation]}


def test_the_schema_and_the_document_definition_name_the_same_fields_with_compatible_types() -> None:
    schema = document_schema()
    hints = typing.get_type_hints(ArticleDocument)
    assert set(schema["properties"]) == set(hints)
    for name, spec in schema["properties"].items():
        allowed = json_types(hints[name])
        if "enum" in spec:  # date_precision: the enum's members, and null
            assert set(spec["enum"]) == {p.value for p in DatePrecision} | {None}, name
            assert allowed == {"string", "null"}, name
        else:
            declared = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            assert set(declared) == allowed, name
    assert set(schema["required"]) == set(ArticleDocument.__required_keys__)
    # the extracted fields are the document's, and article_document builds exactly the schema's shape
    assert set(ArticleFields.__annotations__) <= set(hints)
    doc = article_document({"url": "http://127.0.0.1/a.html", "portal_id": "xa-a", "fetched_at": "2025-01-01T00:00:00",
                            "fields": {"title": "t"}})
    assert set(doc) == set(schema["properties"])


def test_any_item_type_itemadapter_reads_goes_through_validation_and_dedup() -> None:
    item: dict[str, Any] = {  # a plain dict, not a PageItem
        "url": "http://127.0.0.1/tin/1.html", "portal_id": "xa-a", "status": 200, "fetched_at": "2026-01-01T00:00:00",
        "kind": "article", "fields": {"title": "Hội nghị", "body": BODY, "published_at": "2025-03-05T08:00:00+07:00",
                                      "date_precision": "minute", "view_count": 3}}
    crawler = get_crawler()
    crawler.stats.open_spider()
    valid = ValidationPipeline(crawler, min_body_chars=80)
    dedup = DedupPipeline(crawler)
    assert dedup.process_item(valid.process_item(item)) is item
    copy = {**item, "url": "http://127.0.0.1/in/1.html"}
    with pytest.raises(DuplicatePage) as exc:
        dedup.process_item(valid.process_item(copy))
    assert (exc.value.reason, exc.value.portal_id, exc.value.url) == (DropReason.DUPLICATE, "xa-a", copy["url"])
    assert crawler.stats.get_value("portalnews/dropped/xa-a/duplicate") == 1
    bad = {**item, "url": "http://127.0.0.1/tin/2.html", "fields": {**item["fields"], "title": " ", "view_count": -1}}
    with pytest.raises(InvalidArticle) as invalid:
        valid.process_item(bad)
    assert invalid.value.reason == DropReason.NO_TITLE
    assert [(p.field, p.reason) for p in invalid.value.problems] == [
        ("title", DropReason.NO_TITLE), ("view_count", DropReason.INVALID_VIEW_COUNT)]


def test_storage_records_drops_by_their_type_not_by_words(tmp_path: Path) -> None:
    """A duplicate is recorded as ``duplicate``; a drop whose message merely says "duplicate"
    is ``rejected``; the run record counts the reasons."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    crawler = get_crawler(settings_dict={"PORTALNEWS_STORE": url,
                                         "EXTENSIONS": {"pipelines.storage.extension.StoreExtension": 0}})
    crawler.stats.open_spider()
    portal = Portal(id="xa-a", name="Xã A", level="commune", province="Phú Yên", url="http://127.0.0.1/")
    spider = types.SimpleNamespace(portals=[portal])
    storage = StoragePipeline.from_crawler(crawler)

    def page(path: str, **extra: Any) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1{path}", "portal_id": "xa-a", "status": 200,
                "fetched_at": "2026-01-01T00:00:00+00:00", **extra}

    async def crawl() -> None:
        await storage.open_spider(spider)  # type: ignore[arg-type]
        await storage.process_item(page("/", kind=PageKind.LISTING))
        storage.item_dropped(page("/in/1.html"), None, DuplicatePage("xa-a", "http://127.0.0.1/in/1.html",
                                                                      "http://127.0.0.1/tin/1.html"), spider)
        storage.item_dropped(page("/tin/2.html"), None, DropItem("xa-a: http://127.0.0.1/tin/2.html: duplicate "
                                                                 "title in a foreign pipeline"), spider)
        crawler.stats.set_value("finish_reason", "finished")
        await storage.close_spider(spider)  # type: ignore[arg-type]

    asyncio.run(crawl())
    owner = crawl_store(crawler)
    assert owner is not None
    owner.close()
    with open_store(url) as store:
        known = store.known_pages("xa-a")
        run = store.runs("xa-a", limit=1)[0]
    assert known == {"http://127.0.0.1/": PageKind.LISTING, "http://127.0.0.1/in/1.html": PageKind.DUPLICATE,
                     "http://127.0.0.1/tin/2.html": PageKind.REJECTED}
    assert run.outcome == RunOutcome.OK
    assert run.drop_reasons == {"duplicate": 1, "DropItem": 1}
    assert (run.pages_fetched, run.dropped) == (3, 2)
