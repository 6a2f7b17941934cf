"""Generic (layout-independent) field extractors: title, date, views, author, category, URL.

* **title**: headings and title-ish elements scored against ``<title>`` (minus the site
  name), og:title and JSON-LD ``headline``; the text shown on the page wins.
* **date**: the first date in the short lines between the title and the body
  (publication labels first), then just before the title (inside the article, then a
  breadcrumb/date bar next to it), then labelled lines after the body;
  machine-readable dates (``article:published_time``, JSON-LD ``datePublished``,
  ``<time datetime>``) fill in or add precision; a date in the URL path is the last
  resort.  Lines of other articles' items (sidebars, related boxes) and "today" bars
  in the page header are never used.
* **views**: labelled counts ("Lượt xem", "Số lượt xem", "Lượt đọc", "View count" ...)
  or a number right after a view icon, never from another article's item or the page
  chrome; the one closest to the title wins.
* **category**: breadcrumb, then a category heading, then a short link (breadcrumb or
  category label) right above the title, then the menu link whose URL is the longest
  prefix of the page URL, then ``article:section``.
* **author**: "Tác giả: ..." in the article, the trailing author/source line of the
  body, then metadata.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from pipelines.extract import byline
from pipelines.extract.body import BodyResult
from pipelines.extract.document import Block, PageDocument, element_text
from pipelines.extract.heuristics import (
    ArticleFrame,
    article_scope,
    boilerplate_line,
    in_chrome,
    is_foreign,
    is_meta_line,
    wrapper_lines,
)
from pipelines.normalize.dates import VN_TZ, DateMatch, best_match, find_datetimes, parse_iso_datetime
from pipelines.normalize.numbers import VIEW_LABEL_RE, find_view_count, parse_count
from pipelines.normalize.text import normalize_text, text_key

logger = logging.getLogger(__name__)

__all__ = [
    "TitleResult",
    "find_author",
    "find_canonical",
    "find_category",
    "find_date",
    "find_title",
    "find_views",
    "site_names",
    "strip_site_name",
    "title_agrees",
]

PRECISION_RANK: Mapping[str, int] = MappingProxyType({"day": 0, "hour": 1, "minute": 2, "second": 3})
_TODAY_ATTR = re.compile(
    r"today|hom-?nay|homnay|ngay-?hien-?tai|ngayhientai|current-?date|currentdate|clock|date-?now|time-?now"
)
_TODAY_TEXT = re.compile(r"hôm\s+nay|today", re.IGNORECASE)
_TITLE_SEP = re.compile(r"\s+(?:[-|–—»·•:]|::|/)\s+|\s*\|\s*")
_SITE_WORDS = re.compile(
    r"cổng\s+thông\s+tin|cổng\s+tt|trang\s+thông\s+tin|trang\s+tin\s+điện\s+tử|website|portal|ttđt|"
    r"\bcttđt\b|trang\s+chủ|home\s*page",
    re.IGNORECASE,
)
_AUTHORITY_WORDS = re.compile(
    r"^\s*(?:ubnd|ủy\s+ban\s+nhân\s+dân|uỷ\s+ban\s+nhân\s+dân|sở|bộ|ban)\b", re.IGNORECASE
)
_SITE_ATTR = re.compile(
    r"logo|site-?name|site_name|sitename|site-title|brand|banner|portal-name|ten-?cong|tencong"
)
_TITLE_ATTR = re.compile(r"title|tieude|tieu-de|tieu_de|headline|heading")
_HOME_WORDS = frozenset(("trangchu", "home", "trangnhat", "trangchinh", "trangchủ", "trangnhất", "trangchính", "homepage"))
_STRUCTURED_DATE_KEYS = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "dc.date.issued",
    "dc.date",
    "date",
)
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?=/)")
_TIME_XPATH = etree.XPath("//time[@datetime]|//*[@itemprop='datePublished']")
_MODIFIED_XPATH = etree.XPath("//time[@datetime]|//*[@itemprop='dateModified']")


class TitleResult:
    """The title text, the block showing it (None when only metadata had it), and whether
    it agrees with the page's ``<title>`` / og:title."""

    __slots__ = ("block", "element", "matched", "text")

    def __init__(
        self, text: str | None, block: Block | None, element: Any = None, *, matched: bool = False
    ) -> None:
        self.text = text
        self.block = block
        self.element = element
        self.matched = matched


def site_names(doc: PageDocument) -> set[str]:
    """Comparison keys of the site's own name as found in metadata and the header (once
    per document)."""
    cached: set[str] | None = doc.memo.get("site_names")
    if cached is None:
        cached = doc.memo["site_names"] = _site_names(doc)
    return cached


def _site_names(doc: PageDocument) -> set[str]:
    names: set[str] = set()
    for key in ("og:site_name", "application-name", "apple-mobile-web-app-title"):
        if doc.meta.get(key):
            names.add(text_key(doc.meta[key]))
    for b in doc.blocks[:200]:
        if b.attrs and _SITE_ATTR.search(b.attrs) and 0 < b.sub_text_len <= 150:
            text = " ".join(x.text for x in doc.subtree(b) if x.text)
            if text:
                names.add(text_key(text))
    for el in doc.root.iter("a", "img", "span"):
        attrs = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
        if not _SITE_ATTR.search(attrs):
            continue
        for val in (el.get("title"), el.get("alt"), element_text(el) if el.tag != "img" else None):
            if val and len(val) <= 150:
                names.add(text_key(val))
    names.discard("")
    return names


def _is_site_part(part: str, names: set[str], *, strong_only: bool = False) -> bool:
    """True when a ``<title>`` part names the site rather than the page."""
    key = text_key(part)
    if not key:
        return True
    for n in names:
        if key == n or (len(n) >= 6 and n in key) or (key in n and len(key) >= 0.6 * len(n)):
            return True
    if _SITE_WORDS.search(part):
        return True
    # "... | UBND huyện Tây Hòa": an authority name, only as a short trailing part.
    return not strong_only and bool(_AUTHORITY_WORDS.match(part)) and len(part.split()) <= 7


def strip_site_name(title: str, names: set[str]) -> str:
    """``<title>`` without the site-name part(s), trailing ones first, else leading ones."""
    parts = _TITLE_SEP.split(title)
    seps = _TITLE_SEP.findall(title)
    if len(parts) <= 1:
        return title
    lo, hi = 0, len(parts)
    if _is_site_part(parts[-1], names):
        while hi - lo > 1 and _is_site_part(parts[hi - 1], names):
            hi -= 1
    else:
        while hi - lo > 1 and _is_site_part(parts[lo], names, strong_only=True):
            lo += 1
    if (lo, hi) == (0, len(parts)):
        return title
    out = parts[lo]
    for i in range(lo + 1, hi):
        out += seps[i - 1] + parts[i]
    return out.strip()


def _meta_title(doc: PageDocument) -> str:
    for item in doc.json_ld:
        headline = item.get("headline") or (
            item.get("name") if "Article" in str(item.get("@type", "")) else None
        )
        if isinstance(headline, str) and headline.strip():
            return normalize_text(headline)
    for key in ("og:title", "twitter:title"):
        if doc.meta.get(key):
            return normalize_text(doc.meta[key])
    return ""


def _inside(el: Any, tags: frozenset[str]) -> bool:
    node = el.getparent()
    while node is not None:
        if isinstance(node.tag, str) and node.tag.lower() in tags:
            return True
        node = node.getparent()
    return False


_LINK_TAGS = frozenset(("a",))


def _title_hints(doc: PageDocument) -> tuple[set[str], set[str], str, str]:
    """(site-name keys, page-title keys, full <title> key, best metadata title), once per document."""
    cached: tuple[set[str], set[str], str, str] | None = doc.memo.get("title_hints")
    if cached is None:
        cached = doc.memo["title_hints"] = _compute_title_hints(doc)
    return cached


def _compute_title_hints(doc: PageDocument) -> tuple[set[str], set[str], str, str]:
    names = site_names(doc)
    tag_title = strip_site_name(doc.title_tag, names) if doc.title_tag else ""
    if tag_title and tag_title == doc.title_tag and _is_site_part(tag_title, names, strong_only=True):
        # The <title> is just the site's name (common on old portals).
        names.add(text_key(tag_title))
        tag_title = ""
    meta_title = _meta_title(doc)
    meta_title_stripped = strip_site_name(meta_title, names) if meta_title else ""
    if meta_title_stripped == meta_title and _is_site_part(meta_title, names, strong_only=True):
        meta_title = meta_title_stripped = ""
    keys = {text_key(t) for t in (tag_title, meta_title, meta_title_stripped) if t}
    full_key = text_key(doc.title_tag) if tag_title else ""
    return names, keys, full_key, meta_title_stripped or tag_title


def _key_match(key: str, keys: set[str], full_key: str) -> int:
    """6: equals a metadata title; 4: prefix/suffix of the full <title>; 2: loose prefix; 0."""
    if key in keys:
        return 6
    if len(key) >= 12 and full_key and (full_key.startswith(key) or full_key.endswith(key)):
        return 4
    if len(key) >= 12 and any(k and (k.startswith(key) or key.startswith(k)) for k in keys):
        return 2
    return 0


def title_agrees(doc: PageDocument, title: str) -> bool:
    """False only when the page's metadata names a title and ``title`` is not it."""
    _names, keys, full_key, _fallback = _title_hints(doc)
    return not keys or _key_match(text_key(title), keys, full_key) >= 4


def find_title(doc: PageDocument) -> TitleResult:
    """The article title as shown on the page."""
    names, keys, full_key, fallback_title = _title_hints(doc)
    scored: list[tuple[float, int, int, str, Any, Block | None]] = []
    seen: set[Any] = set()
    for order, el in enumerate(doc.role("title")):
        if el in seen or not isinstance(el.tag, str):
            continue
        seen.add(el)
        text = normalize_text(element_text(el), decode_entities=False)
        if not 4 <= len(text) <= 400:
            continue
        key = text_key(text)
        if not key:
            continue
        tag = el.tag.lower()
        attrs = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
        match = _key_match(key, keys, full_key)
        score = float(match)
        if tag == "h1":
            score += 3
        elif tag == "h2":
            score += 1
        elif tag == "h3":
            score += 0.5
        if el.get("itemprop") == "headline":
            score += 3
        if _TITLE_ATTR.search(attrs):
            score += 1
        if tag == "a" or _inside(el, _LINK_TAGS) or (el.find(".//a") is not None and tag != "a"):
            links = el.iterdescendants("a")
            link_text = sum(len(element_text(a).strip()) for a in links)
            if tag == "a" or _inside(el, _LINK_TAGS) or link_text >= 0.5 * len(text):
                score -= 5
        block = doc.block_for(el)
        if block is not None and block.hidden:
            continue  # a screen-reader-only or hidden copy is not what the page shows
        if block is not None and in_chrome(block):
            score -= 6
        if _SITE_ATTR.search(attrs) or key in names:
            score -= 8
        words = len(text.split())
        if words < 3:
            score -= 2
        elif len(text) >= 20:
            score += 1
        scored.append((score, order, match, text, el, block))
    # A date line right under a heading marks the article title: worth 2 points, only
    # checked where it can change the winner.
    best: tuple[float, int, str, Any] | None = None
    best_match_score = 0
    for score, order, match, text, el, block in sorted(scored, key=lambda c: (-c[0], c[1])):
        if best is not None and score + 2 <= best[0]:
            break
        if score >= 1 and block is not None and _dated_after(doc, block):
            score += 2
        if best is None or score > best[0] or (score == best[0] and order < best[1]):
            best = (score, order, text, el)
            best_match_score = match
    if best is not None and best[0] >= 3 and best_match_score >= 4:
        el = best[3]
        return TitleResult(best[2], doc.block_for(el), el, matched=True)
    if fallback_title:
        # The title is shown in some non-heading element (a <p>, a <td> ...): find it.
        key = text_key(fallback_title)
        for b in doc.blocks:
            if (
                b.text
                and abs(len(b.text) - len(fallback_title)) <= 3
                and b.link_density < 0.5
                and text_key(b.text) == key
            ) and not in_chrome(b):
                return TitleResult(b.text, b, b.el, matched=True)
    if best is not None and best[0] >= 3:
        el = best[3]
        return TitleResult(best[2], doc.block_for(el), el, matched=best_match_score >= 4)
    if not fallback_title:
        return TitleResult(None, None)
    return TitleResult(fallback_title, None, matched=True)


def _dated_after(doc: PageDocument, block: Block) -> bool:
    """A short date line follows the block (or ends it): the mark of an article heading."""
    if block.text and len(block.text) <= 400 and any(m.labelled for m in find_datetimes(block.text)):
        return True
    seen = 0
    for b in doc.blocks[block.end_idx + 1 :]:
        if not b.text:
            continue
        seen += 1
        if seen > 3:
            return False
        if len(b.text) <= 200 and not is_foreign(b, block) and not _today(b) and find_datetimes(b.text):
            return True
    return False


def _today(b: Block) -> bool:
    """Lines showing today's date in the page header ("Hôm nay: Thứ năm, 28/11/2025")."""
    return bool(_TODAY_ATTR.search(b.attrs)) or bool(_TODAY_TEXT.search(b.text))


def _structured_date(doc: PageDocument) -> tuple[datetime, str] | None:
    """The machine-readable publication date: JSON-LD ``datePublished``, publication meta
    tags, then ``itemprop="datePublished"``, then a ``<time datetime>`` not marked as the
    modification date."""
    for item in doc.json_ld:
        value = item.get("datePublished")
        if isinstance(value, str):
            parsed = parse_iso_datetime(value)
            if parsed:
                return parsed
    for key in _STRUCTURED_DATE_KEYS:
        value = doc.meta.get(key)
        if value:
            parsed = parse_iso_datetime(value)
            if parsed:
                return parsed
    elements = _TIME_XPATH(doc.root)
    ranked = sorted(elements, key=lambda el: (el.get("itemprop") != "datePublished", _modified_mark(el)))
    for el in ranked:
        if _modified_mark(el):
            continue
        value = el.get("datetime") or el.get("content")
        if value:
            parsed = parse_iso_datetime(value)
            if parsed:
                return parsed
    return None


def _modified_mark(el: Any) -> bool:
    """An element that carries the modification date (``itemprop="dateModified"``, WordPress's
    ``<time class="updated">`` without ``published``)."""
    if el.get("itemprop") == "dateModified":
        return True
    classes = (el.get("class") or "").lower().split()
    return ("updated" in classes or "modified" in classes) and "published" not in classes


def _modified_dates(doc: PageDocument) -> set[datetime]:
    """Every machine-readable modification date of the page."""
    found: set[datetime] = set()
    values = [item.get("dateModified") for item in doc.json_ld]
    values += [doc.meta.get(key) for key in ("article:modified_time", "og:updated_time", "datemodified")]
    values += [el.get("datetime") or el.get("content") for el in _MODIFIED_XPATH(doc.root) if _modified_mark(el)]
    for value in values:
        if isinstance(value, str):
            parsed = parse_iso_datetime(value)
            if parsed:
                found.add(parsed[0])
    return found


def _pick(
    text: str, *, labelled_only: bool = False, max_offset: int | None = None, now: datetime | None = None
) -> DateMatch | None:
    matches = find_datetimes(text, now)
    if max_offset is not None:
        matches = [m for m in matches if m.start <= max_offset]
    if labelled_only:
        matches = [m for m in matches if m.labelled]
    return best_match(matches)


def header_zone(anchor: Block | None, body: BodyResult | None) -> tuple[int, int] | None:
    """Block-index range strictly between the title and the body text (the meta area)."""
    container = body.container if body is not None else None
    if anchor is None or container is None or container.end_idx <= anchor.idx:
        return None
    end = container.idx
    if body is not None:
        for p in body.paragraphs:
            if p.block is not None and not p.lead:
                end = max(end, p.block.idx)
                break
    if end <= anchor.idx:
        return None
    return anchor.idx, end


def article_frame(anchor: Block | None, body: BodyResult | None) -> ArticleFrame:
    """The frame used to tell the article's own lines from other articles' items."""
    container = body.container if body is not None else None
    span = (container.idx, container.end_idx) if container is not None else None
    if span is not None and anchor is not None and span[1] < anchor.idx:
        span = None
    return ArticleFrame(anchor=anchor, zone=header_zone(anchor, body), body=span)


def own_element_test(doc: PageDocument, anchor: Block | None, body: BodyResult | None) -> Callable[[Any], bool]:
    """A test telling whether an element belongs to the article itself: shown, not in the
    page chrome, not in another article's item (a "Tin xem nhiều" entry, a related box)."""
    frame = article_frame(anchor, body)

    def own(el: Any) -> bool:
        block = doc.block_for(el)
        return block is None or (not block.hidden and not is_foreign(block, frame) and not in_chrome(block))

    return own


def _usable(b: Block, frame: ArticleFrame) -> bool:
    return bool(b.text) and not b.hidden and not is_foreign(b, frame) and not in_chrome(b) and not _today(b)


def visible_date(
    doc: PageDocument, anchor: Block | None, body: BodyResult | None, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """The publication date printed near the title: the first candidate (see
    :func:`_date_candidates`), unless it is labelled as an update date ("Cập nhật", "Sửa
    đổi lần cuối"): then the next one labelled as a publication date or standing in a
    short meta line (not a date mentioned in the lead), else that update date."""
    first_update: DateMatch | None = None
    for found, text in _date_candidates(doc, anchor, body, now):
        if found.label != "update" and (first_update is None or found.label == "publish" or is_meta_line(text)):
            return found.value, found.precision
        first_update = first_update or found
    return (first_update.value, first_update.precision) if first_update is not None else None


def _date_candidates(
    doc: PageDocument, anchor: Block | None, body: BodyResult | None, now: datetime | None
) -> Iterator[tuple[DateMatch, str]]:
    """Dates near the title, best places first: the title block itself (labelled), the meta
    area between the title and the body text (its blocks, then text written straight into
    the title's wrapper), up to eight short blocks or wrapper lines before the title inside
    the article, then just above it, then labelled lines after the body inside the article;
    without a body, the ten blocks after the title.  Each with the text it was read in."""
    container = body.container if body is not None else None
    frame = article_frame(anchor, body)
    zone = frame.zone
    blocks = doc.blocks
    found: DateMatch | None
    if anchor is None:
        if container is None:
            return
        anchor = container
    elif anchor.text and len(anchor.text) <= 400:
        found = _pick(anchor.text, labelled_only=True, now=now)
        if found:
            yield found, anchor.text
    if zone is not None:
        forward = blocks[zone[0] + 1 : zone[1]]
    elif container is None or container.idx < anchor.idx:
        forward = blocks[anchor.idx + 1 : anchor.idx + 11]
    else:
        forward = []
    body_blocks = {p.block.idx for p in body.paragraphs if p.block is not None} if body is not None else set()
    for b in forward:
        if b.contains(anchor) or not _usable(b, frame):
            continue
        if b.idx in body_blocks and not is_meta_line(b.text):
            continue  # a date a paragraph of the text mentions is not when it was published
        found = _pick(b.text, labelled_only=len(b.text) > 250, max_offset=40 if len(b.text) > 250 else None,
                      now=now)
        if found:
            yield found, b.text
    # A date line written straight into the wrapper of the title, right after it
    # ("<h1>…</h1> 30 tháng 8, 2024 <div class=content>").
    end = zone[1] if zone is not None else (container.idx if container is not None and container.idx > anchor.idx
                                            else anchor.end_idx + 11)
    for b, text in wrapper_lines(anchor, anchor.end_idx, end):
        if _usable(b, frame) and len(text) <= 250:
            found = _pick(text, now=now)
            if found:
                yield found, text
    scope = article_scope(anchor, container)
    lower = scope.idx if scope is not None else max(0, anchor.idx - 8)
    first = max(0, anchor.idx - 8)
    # Before the title, nearest first: blocks, and lines written into the title's wrapper.
    before: list[tuple[float, Block, str]] = [(b.idx, b, b.text) for b in blocks[first : anchor.idx]
                                               if not b.contains(anchor)]
    before += [(b.idx + 0.5, b, text) for b, text in wrapper_lines(anchor, first, anchor.idx)]
    before.sort(key=lambda c: -c[0])
    near = _near_ancestor(anchor)
    # Inside the article first, then just above it (a breadcrumb/date bar next to the
    # article, not a "today" bar at the top of the page).
    for inside in (True, False):
        for _, b, text in before:
            if (b.idx >= lower) != inside:
                continue
            if not inside and (near is None or not near.contains(b)):
                continue
            if not _usable(b, frame) or len(text) > 200:
                continue
            found = _pick(text, now=now)
            if found:
                yield found, text
    if scope is not None:
        start = (
            container.end_idx + 1 if container is not None and container.idx > anchor.idx else anchor.idx + 1
        )
        for b in blocks[start : scope.end_idx + 1]:
            if b.idx in body_blocks and not is_meta_line(b.text):
                continue
            if _usable(b, frame) and len(b.text) <= 200:
                found = _pick(b.text, labelled_only=True, now=now)
                if found:
                    yield found, b.text


def _near_ancestor(anchor: Block) -> Block | None:
    """The anchor's ancestor three levels up, unless that is already the page body."""
    node: Block | None = anchor
    for _ in range(3):
        if node is None or node.parent is None or node.parent.tag in ("body", "html"):
            break
        node = node.parent
    return None if node is None or node.tag in ("body", "html") else node


def find_date(
    doc: PageDocument, anchor: Block | None, body: BodyResult | None, now: datetime | None = None
) -> tuple[datetime, str] | None:
    """Publication date: the visible one, refined or replaced by machine-readable metadata.
    ``now`` (the fetch time) resolves relative dates ("2 giờ trước", "hôm qua")."""
    visible = visible_date(doc, anchor, body, now)
    structured = _structured_date(doc)
    if visible and structured and visible[0] != structured[0] and visible[0] in _modified_dates(doc):
        return structured  # the date shown first is the one the page marks as its update
    if visible and structured:
        same_day = visible[0].date() == structured[0].date()
        if same_day and PRECISION_RANK[structured[1]] > PRECISION_RANK[visible[1]]:
            return structured
        return visible
    return visible or structured or _url_date(doc.url)


def _url_date(url: str) -> tuple[datetime, str] | None:
    """Last resort: a date in the URL path (/2024/05/17/..., /Pages/2024-5-17/...)."""
    m = _URL_DATE.search(urlsplit(url).path)
    if not m:
        return None
    try:
        value = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=VN_TZ)
    except ValueError:
        return None
    return value, "day"


_MARKED_COUNT = re.compile(r"^\s*[:：\-]?\s*(\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+|\d+)(?![\d]|[/.:,\-]\d)")


def _marked_count(b: Block) -> int | None:
    for offset in b.view_marks:
        m = _MARKED_COUNT.match(b.text[offset:])
        if m:
            return parse_count(m.group(1))
    return None


def find_views(doc: PageDocument, anchor: Block | None, body: BodyResult | None) -> int | None:
    """The article's own view count, or None.

    Candidates are labelled counts ("Lượt xem: 1.234") and numbers right after a view
    icon (``fa-eye``, ``class="views"``, ``title="Lượt xem"``); counts inside other
    articles' items, the page chrome or hidden elements are ignored.  The candidate
    closest to the title (after it first) wins; labelled ones beat icon-only ones.
    """
    ref = anchor or (body.container if body is not None else None)
    frame = article_frame(ref, body)
    best: tuple[tuple[int, int, int], int] | None = None
    for b in doc.blocks:
        text = b.text
        if not text:
            continue
        labelled = VIEW_LABEL_RE.search(text) is not None
        if not (labelled or b.view_marks) or b.hidden or is_foreign(b, frame) or in_chrome(b):
            continue
        count: int | None = None
        kind = 0
        if labelled:
            found = find_view_count(text)
            if found is not None:
                count = found[0]
        if count is None and b.view_marks:
            count = _marked_count(b)
            kind = 1
        if count is None:
            continue
        if ref is None:
            rank = (kind, 0, b.idx)
        else:
            rank = (kind, 0, b.idx - ref.idx) if b.idx >= ref.idx else (kind, 1, ref.idx - b.idx)
        if best is None or rank < best[0]:
            best = (rank, count)
    return best[1] if best is not None else None


def find_author(doc: PageDocument, anchor: Block | None, body: BodyResult | None) -> str | None:
    """The byline, else the source (see :func:`pipelines.extract.byline.find_author`)."""
    return byline.find_author(doc, anchor, body, article_frame(anchor, body), site_names(doc))


def _is_menu_item(el: Any) -> bool:
    """A menu entry that only carries a "breadcrumb" class (DNN marks the open menu path
    so): a list item holding a submenu."""
    return bool(el.tag == "li" and next(el.iter("ul", "ol"), None) is not None)


def _last_item(el: Any, title_key: str, tags: tuple[str, ...] = ("a", "span", "li")) -> str | None:
    """The last item of a breadcrumb-like element that is neither "home", nor a label, nor
    the title (whole or cut short: "Sở Thông tin và Truyền thông làm...")."""
    items = [normalize_text(element_text(a), decode_entities=False) for a in el.iter(*tags)]
    texts = [t for t in items if t and len(t) <= 80 and t not in (">", "»", "/", "›")]
    for text in reversed(texts):
        key = text_key(text)
        if not key or key == title_key or key in _HOME_WORDS or text.endswith(":"):  # "Bạn đang ở:"
            continue
        if title_key.startswith(key) and (len(key) >= 0.5 * len(title_key) or text.endswith(("...", "…"))):
            continue  # the title, cut short
        return text
    return None


def _breadcrumb_category(doc: PageDocument, title_key: str) -> str | None:
    for el in doc.role("breadcrumb"):
        if _is_menu_item(el):
            continue
        found = _last_item(el, title_key)
        if found:
            return found
    return None


_CRUMB_HOME = re.compile(r"^\s*(?:trang\s+chủ|trang\s+nhất|home)\s*(?:>>?|»|›|→|/)\s*", re.IGNORECASE)
_CRUMB_SPLIT = re.compile(r"\s*(?:>>?|»|›|→)\s*|\s+/\s+")


def _plain_breadcrumb_category(doc: PageDocument, anchor: Block | None, title_key: str) -> str | None:
    """A breadcrumb written as plain text ("Trang chủ » Tin tức - Sự kiện » Kinh tế"), the
    nearest one before the title: its last part that is not the title."""
    last = anchor.idx if anchor is not None else len(doc.blocks)
    for b in reversed(doc.blocks[:last]):
        if not b.text or len(b.text) > 200 or not _CRUMB_HOME.match(b.text):
            continue
        parts = [p for p in _CRUMB_SPLIT.split(b.text) if p.strip()]
        for part in reversed(parts[1:]):
            key = text_key(part)
            if key and key != title_key and key not in _HOME_WORDS and len(part) <= 80:
                return normalize_text(part)
    return None


_CRUMB_SEPARATOR = re.compile(r"\s(?:>>?|»|›|→|/)\s")  # not "|": that separates menu items


def _text_breadcrumb_category(doc: PageDocument, title_key: str) -> str | None:
    """An unmarked breadcrumb: a short line of links that starts at "Trang chủ" and
    separates them with ">", ">>", "»", "›" or "/" (the last link that is not the title)."""
    by_block: dict[int, list[str]] = {}
    for link in doc.links:
        by_block.setdefault(link.block.idx, []).append(link.text)
    for idx, texts in by_block.items():
        block = doc.blocks[idx]
        if not 2 <= len(texts) <= 6 or len(block.text) > 200 or text_key(texts[0]) not in _HOME_WORDS:
            continue
        if not _CRUMB_SEPARATOR.search(block.text) or block.sub_long_links > 1:
            continue
        for text in reversed(texts[1:]):
            key = text_key(text)
            if key and key != title_key and key not in _HOME_WORDS and len(text) <= 80:
                return normalize_text(text)
    return None


def _preceding_link_category(doc: PageDocument, anchor: Block | None, title_key: str) -> str | None:
    """A breadcrumb or category label right above the title: a short block of at most four
    short links (the last one that is not "home" nor the title)."""
    if anchor is None:
        return None
    by_block: dict[int, list[str]] = {}
    for link in doc.links:
        if not (anchor.idx - 4 <= link.block.idx < anchor.idx or link.block is anchor):
            continue
        target = doc.absolute(link.href)
        if target is None or target.rstrip("/") == doc.url.rstrip("/") or boilerplate_line(link.text):
            continue
        by_block.setdefault(link.block.idx, []).append(link.text)
    for idx in sorted(by_block, reverse=True):
        block = doc.blocks[idx]
        texts = [t for t in by_block[idx] if t]
        if (
            not texts
            or len(texts) > 4
            or len(block.text) > 150
            or block.sub_long_links
            or in_chrome(block)
            or (block.contains(anchor) and block is not anchor)
            or is_foreign(block, anchor)
            or find_datetimes(block.text)
        ):
            continue
        for text in reversed(texts):
            key = text_key(text)
            if key and key not in _HOME_WORDS and key != title_key and len(text.split()) <= 8:
                return text
    return None


def _url_prefix_category(doc: PageDocument) -> str | None:
    page = urlsplit(doc.url)
    page_path = page.path.rstrip("/")
    best: tuple[int, str] | None = None
    for link in doc.links:
        if not link.text or len(link.text) > 60 or (link.long and len(link.text) > 50):
            continue
        href = link.href.strip()
        if href.startswith("/") and not href.startswith("//"):
            # root-relative, most menu links: no need to resolve it (urljoin was a hot spot)
            if "?" in href:
                continue
            path = href.split("#", 1)[0].rstrip("/")
        else:
            absolute = doc.absolute(href)
            if absolute is None:
                continue
            parts = urlsplit(absolute)
            if parts.netloc.lower() != page.netloc.lower() or parts.query:
                continue
            path = parts.path.rstrip("/")
        for suffix in ("/index.html", "/index.htm", "/index.php", "/trang-1.html", "/page-1"):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
        if path.endswith((".html", ".htm", ".aspx", ".php")):
            path = path.rsplit(".", 1)[0]
        if len(path) < 2 or path == page_path:
            continue
        if page_path.startswith(path + "/") and (best is None or len(path) > best[0]):
            best = (len(path), link.text)
    return best[1] if best else None


def find_category(doc: PageDocument, title: str | None, anchor: Block | None = None) -> str | None:
    """Category name as shown: breadcrumb, category heading, menu link by URL prefix, metadata."""
    title_key = text_key(title)
    found = _breadcrumb_category(doc, title_key) or _text_breadcrumb_category(doc, title_key)
    if found:
        return found
    for el in doc.role("category"):
        block = doc.block_for(el)
        if block is not None and (in_chrome(block) or is_foreign(block, anchor)):
            continue
        text = normalize_text(element_text(el), decode_entities=False)
        if len(text) > 150:
            continue
        if len(list(el.iter("a", "span", "p", "li"))) >= 2:
            # several items ("Home › Chiến lược", a post's parent and child category): the last
            found = _last_item(el, title_key, ("a", "span", "p", "li"))
            if found:
                return found
            continue
        if 2 <= len(text) <= 80 and text_key(text) != title_key:
            return text
    found = _plain_breadcrumb_category(doc, anchor, title_key) or _preceding_link_category(doc, anchor, title_key)
    if found:
        return found
    found = _url_prefix_category(doc)
    if found:
        return found
    for item in doc.json_ld:
        section = item.get("articleSection")
        if isinstance(section, str) and section.strip():
            return normalize_text(section)
    section = doc.meta.get("article:section")
    return normalize_text(section) if section else None


def find_canonical(doc: PageDocument) -> str | None:
    """``<link rel=canonical>`` or ``og:url``, absolute."""
    if doc.canonical:
        return doc.canonical
    og = doc.meta.get("og:url")
    return doc.absolute(og) if og else None
