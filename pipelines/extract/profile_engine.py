"""Applying site-family profiles: detection and selector-based field extraction.

A profile (see :mod:`pipelines.extract.profiles`) only ever *adds* knowledge: every field it
cannot produce (no selector, no match, or a value that does not validate) is left to
the generic extractor by the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree

from pipelines.extract.body import BodyResult, assemble, collect_paragraphs, lead_blocks
from pipelines.extract.byline import clean_author
from pipelines.extract.document import Block, PageDocument, drop_element, element_text
from pipelines.extract.profiles import FieldSelector, Profile, ProfileSet
from pipelines.normalize.dates import parse_iso_datetime, parse_vietnamese_datetime
from pipelines.normalize.numbers import find_view_count, parse_count
from pipelines.normalize.text import normalize_text, text_key

logger = logging.getLogger(__name__)

__all__ = [
    "NameIndex",
    "apply_removals",
    "detect",
    "profile_author",
    "profile_body",
    "profile_category",
    "profile_date",
    "profile_summary",
    "profile_title",
    "profile_views",
]


def _generator(root: Any) -> str:
    for el in root.iter("meta"):
        if (el.get("name") or "").lower() == "generator":
            return (el.get("content") or "").lower()
    return ""


class NameIndex:
    """The class tokens and ids of a page, read once (two attribute XPaths), to answer the
    simple detection selectors and to skip the profile selectors a page cannot match:
    measured about ten times cheaper than an XPath per rule."""

    _CLASSES = etree.XPath("//@class")
    _IDS = etree.XPath("//@id")

    def __init__(self, root: Any) -> None:
        self._class_values: list[Any] = self._CLASSES(root)  # attribute "smart strings" (getparent())
        self._id_values: list[Any] = self._IDS(root)
        self.classes: set[str] = {token for value in self._class_values for token in value.split()}
        self.ids: set[str] = {value.strip() for value in self._id_values}

    def has_name(self, kind: str, name: str) -> bool:
        return name in (self.ids if kind == "#" else self.classes)

    def has(self, tag: str, kind: str, name: str) -> bool:
        """Whether an element (of ``tag``, when given) has the id (``#``) or class (``.``)
        ``name``, or a class starting with it (``^``)."""
        if kind == "^":
            return any(c.startswith(name) for c in self.classes)
        if not self.has_name(kind, name):
            return False
        if not tag:
            return True
        values = self._id_values if kind == "#" else self._class_values
        return any(name in value.split() and value.getparent().tag == tag for value in values if name in value)


def detect(root: Any, url: str, html: str, profiles: ProfileSet,
           index: NameIndex | None = None) -> tuple[Profile | None, float]:
    """The best-matching profile (score >= its threshold) and its score."""
    generator = _generator(root)
    best: tuple[Profile | None, float] = (None, 0.0)
    for profile in profiles:
        score = 0.0
        for rule in profile.rules:
            hit = False
            if rule.kind == "url":
                hit = bool(rule.pattern and rule.pattern.search(url))
            elif rule.simple is not None:
                index = index or NameIndex(root)
                hit = index.has(*rule.simple)
            elif rule.kind in ("selector", "class_prefix"):
                hit = bool(rule.xpath is not None and rule.xpath(root))
            elif rule.kind == "generator":
                hit = rule.value in generator
            elif rule.kind == "contains":
                hit = rule.value in html
            if hit:
                score += rule.weight
        if score >= profile.threshold and score > best[1]:
            best = (profile, score)
    return best


def apply_removals(profile: Profile, index: NameIndex | None = None) -> Callable[[Any], None]:
    """A tree-preparation callback dropping the profile's ``remove`` elements."""

    def prepare(root: Any) -> None:
        for sel in profile.remove:
            for node in sel.select(root, index):
                if not isinstance(node, str):
                    drop_element(node)

    return prepare


def _values(doc: PageDocument, sel: FieldSelector) -> list[tuple[str, Any]]:
    """(text, element-or-None) for every match of one selector, honouring attr/regex/pick."""
    out: list[tuple[str, Any]] = []
    for node in sel.select(doc.root, doc.memo.get("names")):
        if isinstance(node, str):
            raw, el = str(node), getattr(node, "getparent", lambda: None)()
        elif sel.attr:
            raw, el = node.get(sel.attr) or "", node
        else:
            raw, el = element_text(node), node
        text = normalize_text(raw, decode_entities=False)
        if sel.regex is not None:
            m = sel.regex.search(text)
            if not m:
                continue
            text = normalize_text(m.group(1) if sel.regex.groups else m.group(0), decode_entities=False)
        if text:
            out.append((text, el))
    if not out:
        return out
    if sel.pick == "last":
        return out[-1:]
    if sel.pick == "first":
        return out[:1]
    return out


def _first_text(doc: PageDocument, profile: Profile, field_name: str) -> tuple[str, Any] | None:
    for sel in profile.selectors(field_name):
        values = _values(doc, sel)
        if values:
            return values[0]
    return None


def profile_title(doc: PageDocument, profile: Profile) -> tuple[str, Block | None] | None:
    for sel in profile.selectors("title"):
        for text, el in _values(doc, sel):
            if 4 <= len(text) <= 400:
                return text, doc.block_for(el) if el is not None else None
    return None


def profile_date(
    doc: PageDocument, profile: Profile, own: Callable[[Any], bool] | None = None, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """The first date a ``date`` selector finds in an element ``own`` accepts (the article's
    own meta area, not a sidebar item that happens to match the selector too)."""
    for sel in profile.selectors("date"):
        for text, el in _values(doc, sel):
            if own is not None and el is not None and not own(el):
                continue
            parsed = parse_iso_datetime(text, now) if sel.attr else parse_vietnamese_datetime(text, now)
            if parsed:
                return parsed
    return None


def profile_views(doc: PageDocument, profile: Profile, own: Callable[[Any], bool] | None = None) -> int | None:
    """The first count a ``views`` selector finds in an element ``own`` accepts."""
    for sel in profile.selectors("views"):
        for text, el in _values(doc, sel):
            if own is not None and el is not None and not own(el):
                continue
            found = find_view_count(text)
            if found is not None:
                return found[0]
            count = parse_count(text)
            if count is not None:
                return count
    return None


def profile_summary(doc: PageDocument, profile: Profile) -> tuple[str, Any] | None:
    found = _first_text(doc, profile, "summary")
    if found and len(found[0]) >= 10:
        return found
    return None


def profile_author(doc: PageDocument, profile: Profile) -> tuple[str, Any] | None:
    for sel in profile.selectors("author"):
        for text, el in _values(doc, sel):
            name = clean_author(text)
            if name and len(name) <= 150:
                return name, el
    return None


def profile_category(doc: PageDocument, profile: Profile) -> str | None:
    found = _first_text(doc, profile, "category")
    if found and len(found[0]) <= 120:
        return found[0]
    return None


def profile_body(
    doc: PageDocument,
    profile: Profile,
    *,
    title: str | None,
    title_block: Block | None,
    summary: tuple[str, Any] | None,
    author_el: Any,
) -> BodyResult | None:
    """Body from the profile's container selector(s), or None to use the generic one."""
    containers: list[Block] = []
    for sel in profile.selectors("body"):
        for node in sel.select(doc.root, doc.memo.get("names")):
            if isinstance(node, str):
                continue
            block = doc.block_for(node)
            if block is not None and block not in containers:
                containers.append(block)
        if containers:
            break
    if not containers:
        return None
    # Nested matches: keep the outermost.
    containers = [c for c in containers if not any(o is not c and o.contains(c) for o in containers)]
    skip: list[Block] = []
    for el in (summary[1] if summary else None, author_el):
        if el is None:
            continue
        block = doc.block_for(el)
        if (
            block is not None
            and block.tag not in ("body", "html")
            and not any(block is c for c in containers)
        ):
            skip.append(block)
    if title_block is not None and not any(title_block is c for c in containers):
        skip.append(title_block)
    title_key = text_key(title)
    leads: list[Block] = []
    if summary is None:  # a lead the profile does not name, between the title and the body
        leads = [b for b in lead_blocks(doc, containers[0], title_block, title_key)
                 if not any(c.contains(b) for c in containers)]
    paragraphs, authors = collect_paragraphs(doc, [*leads, *containers], skip=skip, title_key=title_key,
                                             lead_containers=leads)
    if not paragraphs:
        return None
    container = containers[0]
    result = assemble(doc, container, paragraphs, authors, summary_hint=summary[0] if summary else None)
    return result if result.paragraphs else None
