"""Bylines: who wrote the article, else where it comes from.

Portals credit an article in many places: a labelled byline in the meta line ("Tác giả:
Thùy Linh", "Viết bởi …", "Submitted by … on …", "By …"), an element marked as the author
(``class="author"``, ``itemprop="author"``, ``data-role="author"``, a Drupal
``field-tac-gia``), a right-aligned or bold name closing the text, the page's metadata
(JSON-LD ``author``, ``<meta name="author">``), or only a source closing the text ("Nguồn:
Báo Hà Giang", "(Theo Báo Vĩnh Phúc)", "Source: …").  :func:`find_author` returns the
byline when there is one and such a source otherwise, in that order of trust;
:func:`clean_author` strips the labels, brackets and trailing dates of a credit line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pipelines.extract.document import Block, PageDocument, element_text
from pipelines.extract.heuristics import ArticleFrame, article_scope, boilerplate_line, in_chrome, is_foreign
from pipelines.normalize.text import normalize_text, text_key

if TYPE_CHECKING:
    from pipelines.extract.body import BodyResult

logger = logging.getLogger(__name__)

__all__ = ["SOURCE_LINE_RE", "clean_author", "find_author", "is_source_line"]

# A credit line that names a source, not a writer.
SOURCE_LINE_RE = re.compile(r"^\s*[(\[]?\s*(?:nguồn(?:\s+tin)?|theo|source)\b", re.IGNORECASE)
_LABEL = re.compile(
    r"^\s*(?:tác\s+giả(?:\s+bài\s+viết)?|người\s+viết|bài\s+viết|bút\s+danh|phóng\s+viên|tin\s*(?:,|và)\s*ảnh|"
    r"bài\s*(?:,|và)\s*ảnh|tin\s+bài|bài|tin|nguồn\s+tin|nguồn|theo|by|author|source|"
    r"(?:submitted|posted|written)\s+by|(?:được\s+)?(?:viết|đăng|gửi)\s+bởi|bởi)\s*[:：]?\s*",
    re.IGNORECASE,
)
# A byline label anywhere in a short line ("Ngày đăng: 27/08/2024 16:20 Tác giả: Thùy Linh").
_BYLINE_IN_LINE = re.compile(
    r"(?:^|[\s|·•(,])(?:tác\s+giả(?:\s+bài\s+viết)?|người\s+viết|bút\s+danh|phóng\s+viên|tin\s*(?:,|và)\s*ảnh|"
    r"bài\s*(?:,|và)\s*ảnh|author|(?:submitted|posted|written)\s+by|(?:được\s+)?(?:viết|đăng|gửi)\s+bởi)"
    r"\s*[:：]?\s*(?P<name>[^\W\d_][^|·•:：\n]{0,80})",
    re.IGNORECASE,
)
_BY_START = re.compile(r"^\s*(?:by|bởi)\s+(?P<name>[^\W\d_][^|·•:：\n]{0,80})", re.IGNORECASE)
# Where a name ends in a meta line: a date, a time, "on …", "lúc …", a separator.
_NAME_END = re.compile(
    r"\s+(?:on|lúc|vào|ngày|at)\s+.*$|\s+[-–—]\s+\d.*$|\s+\d.*$|\s+(?:thứ\s+\S+|chủ\s+nhật)\b.*$|"
    r"\s+(?:chuyên\s+mục|danh\s+mục|lượt\s+(?:xem|đọc))\b.*$|\s+(?:nguồn(?:\s+tin)?|source)\s*[:：].*$",
    re.IGNORECASE,
)
_MARK_ATTRS = ("class", "id", "itemprop", "rel", "data-role", "property")
_BYLINE_MARK = re.compile(r"author|tac-?gia|byline|createdby|created-by|vcard|signature")
_SITE_WORDS = re.compile(r"cổng\s+thông\s+tin|trang\s+thông\s+tin|website|portal\b|\badmin\b|quản\s+trị", re.IGNORECASE)
_MAX_NAME_WORDS = 12
_DIGIT = re.compile(r"\d")
_ORGANISATION = re.compile(
    r"^\s*(?:sở|bộ|ban|phòng|ubnd|ủy\s+ban|uỷ\s+ban|trung\s+tâm|chi\s+cục|cục|tổng\s+cục|văn\s+phòng|cổng|trang|báo|"
    r"đài|hội|huyện|xã|phường|tỉnh|thành\s+phố|thị\s+xã|công\s+ty|trường|bệnh\s+viện|viện)\b",
    re.IGNORECASE,
)


def is_source_line(text: str) -> bool:
    """"Nguồn: …", "Nguồn tin: …", "(Theo …)", "Source: …"."""
    return bool(SOURCE_LINE_RE.match(text))


def clean_author(text: str) -> str:
    """The name in a credit line: labels ("Tác giả:", "Nguồn:", "Viết bởi", "By", "(Theo …)"),
    brackets, a trailing date or meta part and surrounding punctuation removed."""
    text = normalize_text(text, decode_entities=False)
    if text.startswith(("(", "[")) and text.endswith((")", "]")) and text.count("(") <= 1:
        text = text[1:-1].strip()
    text = _LABEL.sub("", text, count=1)
    text = re.split(r"\s+\|\s+|\s*[·•]\s*", text, maxsplit=1)[0]  # "Hồng Vân | 08:45 | 14/02/2023"
    text = _NAME_END.sub("", text).strip(" \t-–—:;,.")
    if text.endswith(")") and text.count("(") < text.count(")"):
        text = text[:-1]
    if text.startswith("(") and text.count("(") > text.count(")"):
        text = text[1:]
    return text.strip()


def _name(text: str, *, lenient: bool = False) -> str | None:
    """``text`` cleaned, when it can be a name (or a unit): a few words, no digits, starting
    with a capital (unless ``lenient``), not a tool line."""
    name = clean_author(text)
    if not name or len(name) > 90 or _DIGIT.search(name) or boilerplate_line(name):
        return None
    words = name.split()
    if not 1 <= len(words) <= _MAX_NAME_WORDS or not (lenient or words[0][:1].isupper()):
        return None
    return name


def _marks(el: Any) -> str:
    return " ".join(el.get(a) or "" for a in _MARK_ATTRS).lower()


def find_author(
    doc: PageDocument, anchor: Block | None, body: BodyResult | None, frame: ArticleFrame, site_names: set[str]
) -> str | None:
    """The byline, else the source the text ends with.  In order: a labelled byline in a
    short line of the article, a name closing the text (not a source line), a bare "By …",
    an element marked as the author, a right-aligned or bold name after the text, a person
    named in the metadata, a source line closing the text
    ("Nguồn: …", "(Theo …)"), an organisation named in the metadata.  A source shown as a
    field of its own outside the text (NukeViet's "Nguồn tin:") is not a byline and is not
    returned, as the labelled corpus has it."""
    container = body.container if body is not None else None
    scope = article_scope(anchor, container)
    credits = body.credits if body is not None else []
    person, organisation = _metadata_author(doc, site_names)
    for found in (
        lambda: _labelled_byline(doc, scope, frame, bare=False),
        lambda: next((n for line in credits if not is_source_line(line) and (n := _name(line))), None),
        lambda: _labelled_byline(doc, scope, frame, bare=True),
        lambda: _marked(doc, scope, frame),
        lambda: _closing_name(doc, container, scope, frame),
        lambda: person,
        lambda: next((n for line in credits if is_source_line(line) and (n := _name(line))), None),
        lambda: organisation,
    ):
        name = found()
        if name:
            return name
    return None


def _scope_blocks(doc: PageDocument, scope: Block | None, frame: ArticleFrame) -> Iterator[Block]:
    if scope is None:
        return
    for b in doc.subtree(scope):
        if b.text and not b.hidden and len(b.text) <= 200 and not is_foreign(b, frame) and not in_chrome(b):
            yield b


def _labelled_byline(doc: PageDocument, scope: Block | None, frame: ArticleFrame, *, bare: bool) -> str | None:
    """A byline label and its name in a short line: "Tác giả: …", "Viết bởi …" (``bare``
    False), or a line that starts with a bare "By …" / "bởi …" (``bare`` True)."""
    for b in _scope_blocks(doc, scope, frame):
        for line in b.lines:
            m = (_BY_START.match(line) if len(line) <= 80 else None) if bare else _BYLINE_IN_LINE.search(line)
            if m:
                name = _name(m.group("name"))
                if name:
                    return name
    return None


def _marked(doc: PageDocument, scope: Block | None, frame: ArticleFrame) -> str | None:
    """A short element of the article marked as the author whose text is not a source line."""
    if scope is None:
        return None
    for el in scope.el.iter():
        if not isinstance(el.tag, str):
            continue
        marks = _marks(el)
        if not marks.strip():
            continue
        if not _BYLINE_MARK.search(marks):
            continue
        block = doc.block_for(el)
        if block is None or block.hidden or is_foreign(block, frame) or in_chrome(block):
            continue
        text = normalize_text(element_text(el))
        if len(text) > 120 or is_source_line(text):
            continue
        name = _name(text, lenient=True)  # an account name may be lower case ("admin admin")
        if name:
            return name
    return None


def _closing_name(doc: PageDocument, container: Block | None, scope: Block | None,
                  frame: ArticleFrame) -> str | None:
    """A right-aligned or bold short name in the first text block after the body (a table
    row or a div of its own), when it is not a source line."""
    if container is None or scope is None:
        return None
    for b in doc.blocks[container.end_idx + 1 : scope.end_idx + 1]:
        if not b.text:
            continue
        if b.hidden or is_foreign(b, frame) or in_chrome(b) or len(b.text) > 80 or b.link_density > 0.3:
            return None
        first = b.lines[0]
        emphasised = b.align == "right" or (b.text_len and b.bold_len >= 0.9 * len(first))
        if emphasised and not is_source_line(first):
            return _name(first)
        return None
    return None


def _metadata_author(doc: PageDocument, site_names: set[str]) -> tuple[str | None, str | None]:
    """The metadata author (JSON-LD ``author``, ``<meta name="author">``) as ``(person,
    organisation)``: a CMS often fills it with the body that runs the site ("Sở Nông nghiệp
    và PTNT …"), which is worth less than a visible source line."""
    names: list[Any] = []
    for item in doc.json_ld:
        author = item.get("author")
        names += author if isinstance(author, list) else [author]
    names.append(doc.meta.get("author"))
    person = organisation = None
    for value in names:
        if isinstance(value, dict):
            value = value.get("name")
        if not isinstance(value, str) or not value.strip():
            continue
        text = normalize_text(value)
        if text_key(text) in site_names or _SITE_WORDS.search(text):
            continue
        name = _name(text)
        if name is None:
            continue
        if _ORGANISATION.match(name):
            organisation = organisation or name
        else:
            person = person or name
    return person, organisation
