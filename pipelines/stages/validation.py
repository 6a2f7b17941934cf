"""ValidationPipeline: check every article against the document JSON Schema before storage.

Each page classified as an article is turned into the document that would be stored
(:func:`pipelines.model.items.article_document`) and checked against
``pipelines/schemas/document.schema.json`` plus the minimum body length
(``PORTALNEWS_MIN_BODY_CHARS``).  An invalid article is never dropped silently:

* it raises :class:`~pipelines.stages.drops.InvalidArticle` (a ``DropItem``) carrying the
  problems as data (the storage pipeline records the page as ``rejected`` and counts the
  reason in the portal's run record);
* it is counted per portal and reason (``portalnews/dropped/<portal>/<reason>``) and per
  portal and field (``portalnews/invalid/<portal>/<field>``) in the crawl stats;
* it is appended to the dead-letter file (``PORTALNEWS_DEAD_LETTER``, default
  ``data/dead-letter.jsonl``): one JSON object per line with ``time``, ``url``,
  ``portal_id``, ``reasons``, ``errors`` (field and message) and the extracted ``fields``.

Extraction failures are counted for every article page, valid or not, per portal and
field (``portalnews/missing_field/<portal>/<field>`` for ``title``, ``body``,
``published_at`` and ``view_count``), next to ``portalnews/article_pages/<portal>``; the
storage pipeline copies them into the run record so coverage and the alert rules see the
failure rate.  An article without a date is valid (stored with a null date) but counted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

from itemadapter import ItemAdapter
from jsonschema import Draft202012Validator
from scrapy import Spider
from scrapy.crawler import Crawler

from pipelines.model.items import ArticleDocument, ArticleFields, article_document
from pipelines.model.kinds import DropReason, PageKind
from pipelines.stages.drops import InvalidArticle, Problem, count_drop

logger = logging.getLogger(__name__)

DEFAULT_DEAD_LETTER = "data/dead-letter.jsonl"
#: Fields whose absence on an article page counts as an extraction failure.
MONITORED_FIELDS = ("title", "body", "published_at", "view_count")
_MAX_DEAD_BODY = 20000


@cache
def document_schema() -> dict[str, Any]:
    """The JSON Schema of a stored document (``pipelines/schemas/document.schema.json``)."""
    text = resources.files("pipelines").joinpath("schemas/document.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(data)
    return data


def missing_fields(fields: ArticleFields) -> list[str]:
    """The monitored fields an extraction did not find."""
    out = []
    for name in MONITORED_FIELDS:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(name)
    return out


class DeadLetterFile:
    """Append-only JSON-lines file of rejected items; opened on the first write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.written = 0
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()
        self._failed = False

    def append(self, record: dict[str, Any]) -> bool:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._failed:
                return False
            try:
                if self._fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fh = self.path.open("a", encoding="utf-8")
                self._fh.write(line)
                self._fh.flush()
            except OSError as exc:
                self._failed = True
                logger.error("cannot write the dead-letter file %s: %s (rejected items are still counted "
                             "and logged)", self.path, exc)
                return False
            self.written += 1
            return True

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def dead_letter_path(settings: Any) -> str:
    """``PORTALNEWS_DEAD_LETTER`` from the Scrapy settings, else the environment, else the default."""
    value = settings.get("PORTALNEWS_DEAD_LETTER") if settings is not None else None
    return str(value or os.environ.get("PORTALNEWS_DEAD_LETTER") or DEFAULT_DEAD_LETTER)


class ValidationPipeline:
    def __init__(self, crawler: Crawler, min_body_chars: int, dead_letter: DeadLetterFile | None = None) -> None:
        self.stats = crawler.stats
        self.min_body_chars = min_body_chars
        self.validator = Draft202012Validator(document_schema())
        self.dead_letter = dead_letter

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidationPipeline:
        s = crawler.settings
        return cls(crawler, s.getint("PORTALNEWS_MIN_BODY_CHARS", 80), DeadLetterFile(dead_letter_path(s)))

    # --- checks -------------------------------------------------------------------------
    def check(self, doc: ArticleDocument) -> list[Problem]:
        """The problems of a document, one per field."""
        found: dict[str, Problem] = {}
        title = doc.get("title")
        if not (isinstance(title, str) and title.strip()):
            found["title"] = Problem("title", DropReason.NO_TITLE, "no title was found")
        body = doc.get("body")
        if not (isinstance(body, str) and body.strip()):
            found["body"] = Problem("body", DropReason.NO_BODY, "no body text was found")
        elif len(body.strip()) < self.min_body_chars:
            found["body"] = Problem("body", DropReason.BODY_TOO_SHORT,
                                    f"body has {len(body.strip())} characters, fewer than {self.min_body_chars}")
        for err in self.validator.iter_errors(doc):
            if err.validator == "required":
                name = str(err.message).split("'")[1] if "'" in str(err.message) else "document"
            else:
                name = str(err.absolute_path[0]) if err.absolute_path else "document"
            if name in found:
                continue
            message = str(err.message)
            found[name] = Problem(name, DropReason.invalid(name),
                                  message if len(message) < 300 else message[:297] + "...")
        return list(found.values())

    # --- pipeline ------------------------------------------------------------------------
    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        adapter = ItemAdapter(item)
        if adapter.get("kind") != PageKind.ARTICLE:
            return item
        portal = adapter["portal_id"]
        self.stats.inc_value(f"portalnews/article_pages/{portal}")
        for name in missing_fields(adapter.get("fields") or ArticleFields()):
            self.stats.inc_value(f"portalnews/missing_field/{portal}/{name}")
        doc = article_document(adapter)
        problems = self.check(doc)
        if not problems:
            return item
        for problem in problems:
            self.stats.inc_value(f"portalnews/invalid/{portal}/{problem.field}")
        self._dead_letter(adapter, doc, problems)
        raise count_drop(self.stats, InvalidArticle(portal, adapter["url"], problems))

    def _dead_letter(self, adapter: ItemAdapter, doc: ArticleDocument, problems: list[Problem]) -> None:
        if self.dead_letter is None:
            return
        fields: dict[str, Any] = dict(doc)
        body = fields.get("body")
        if isinstance(body, str) and len(body) > _MAX_DEAD_BODY:
            fields["body"] = body[:_MAX_DEAD_BODY]
            fields["body_truncated"] = True
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "url": adapter["url"],
            "portal_id": adapter["portal_id"],
            "reasons": [p.reason for p in problems],
            "errors": [{"field": p.field, "message": p.message} for p in problems],
            "status": adapter.get("status"),
            "fields": fields,
        }
        if self.dead_letter.append(record):
            self.stats.inc_value(f"portalnews/dead_letter/{adapter['portal_id']}")
            self.stats.set_value("portalnews/dead_letter_file", str(self.dead_letter.path))

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.dead_letter is not None:
            if self.dead_letter.written:
                logger.warning("%d rejected article(s) written to %s", self.dead_letter.written,
                               self.dead_letter.path)
            self.dead_letter.close()
