"""Parsed page model shared by every extractor.

A page is parsed with lxml once.  One walk over the body then produces *blocks*: every
block-level element (p, div, li, td, h1 ...) with the text that belongs to it directly
(inline descendants included, nested blocks excluded), split into lines at ``<br>`` and
at nested blocks, and counters the heuristics need (link text, bold/italic text,
title-like links in the subtree, images).  Blocks are kept in document order and know
their subtree range, so "is X inside Y" is an integer comparison.  Each line also knows
where it stands among the blocks (``line_pos``): text written straight into a wrapper,
between its child blocks (a date after the ``<h1>``, the last paragraph of a body left
unwrapped), can be read in document order.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from pipelines.normalize.numbers import VIEW_LABEL_RE
from pipelines.normalize.text import UNCLEAN_RE, normalize_text, strip_invisible

logger = logging.getLogger(__name__)

__all__ = [
    "Block",
    "Link",
    "PageDocument",
    "build_document",
    "drop_element",
    "element_text",
    "parse_document",
    "parse_html",
]

BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "aside",
        "header",
        "footer",
        "nav",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "form",
        "fieldset",
        "address",
        "center",
        "details",
        "summary",
        "body",
        "html",
        "hr",
        "menu",
    ]
)
HEADING_TAGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "object",
    "embed",
    "select",
    "option",
    "textarea",
    "button",
    "input",
    "canvas",
    "map",
    "audio",
    "video",
    "source",
    "link",
    "meta",
)
BOLD_TAGS = frozenset(("b", "strong"))
ITALIC_TAGS = frozenset(("i", "em", "cite"))
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Classes the common CSS frameworks hide elements with (Bootstrap, Liferay, Drupal, WordPress):
# screen-reader-only copies of the title, hidden duplicates.
_HIDDEN_CLASS = re.compile(
    r"(?:^|\s)(?:sr-only|visually-?hidden|screen-reader-(?:text|only)|element-(?:invisible|hidden)|"
    r"hide-accessible|hidden-accessible|d-none|hidden|invisible)(?:$|\s)",
    re.IGNORECASE,
)
_ALIGN_STYLE = re.compile(r"text-align\s*:\s*(right|center)", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
LONG_LINK_CHARS = 28
LONG_LINK_WORDS = 5
ITEM_LINK_WORDS = 3
_MARK = "\x00"
_VIEW_ICON_CLASS = re.compile(
    r"(?:^|[\s_\-])(?:fa-eye|icon-eye|ion-eye|bi-eye|eye|views?|view-?count|luot-?xem|luotxem|hits?|"
    r"icon-view|luot-?doc|solandoc|so-lan-doc)(?:$|[\s_\-])"
)
_TITLE_TAGS = frozenset(("h1", "h2", "h3"))
_NO_ATTRS: Mapping[str, str] = MappingProxyType({})
_HIDDEN, _LINK, _BOLD, _ITALIC, _BLOCK = 1, 2, 4, 8, 16
# Links to tag / keyword / search pages never name another article.
_TAG_HREF = re.compile(
    r"/(?:tags?|keywords?|tu-?khoa|tukhoa|search|tim-?kiem|timkiem|topic)(?:[/=?.]|$)|[?&](?:q|keyword|tag|tukhoa)=",
    re.IGNORECASE,
)
_ROLE_RE = re.compile(
    r"(?P<breadcrumb>bread|duong-?dan|duong_dan|pathway|navigation-path|vitri|vi-tri)|"
    r"(?P<category>category|cat-title|cat-name|catname|cate-name|cat-links|chuyen-?muc|chuyen_muc|tenchuyenmuc)|"
    r"(?P<title>title|tieude|tieu-de|tieu_de|headline)"
)
_INLINE_MARK_TAGS = frozenset(("i", "span", "em", "img", "b", "strong", "small", "label", "svg", "font"))


class Block:
    """A block-level element and the text directly inside it.

    A plain class with ``__slots__`` and an explicit ``__init__``: a page builds dozens of
    blocks, and this constructs them about 2.4x faster than the equivalent dataclass with
    default factories (measured on the corpus)."""

    __slots__ = (
        "_buf", "_pos", "align", "article_ancestor", "attrs", "bold_len", "children", "chrome", "cls", "depth", "el",
        "end_idx", "hidden", "idx", "images", "italic_len", "item_links", "line_pos", "lines", "link_len",
        "long_links", "parent", "sub_images", "sub_item_links", "sub_link_len", "sub_long_links", "sub_text_len",
        "tag", "text", "text_len", "view_marks",
    )
    el: Any
    idx: int
    tag: str
    parent: Block | None
    depth: int
    attrs: str  # lower-cased "class id itemprop itemtype" string
    cls: str  # lower-cased class attribute
    align: str | None
    lines: list[str]
    # per line: how many blocks start before it in document order (the line stands between
    # block ``line_pos[i] - 1`` and block ``line_pos[i]``)
    line_pos: list[int]
    text: str
    text_len: int
    link_len: int
    bold_len: int
    italic_len: int
    images: int
    long_links: int
    item_links: int
    end_idx: int
    sub_text_len: int
    sub_link_len: int
    sub_long_links: int
    sub_item_links: int
    sub_images: int
    hidden: bool
    # Per-document caches filled by the heuristics (-1: not computed yet).
    chrome: int
    article_ancestor: int
    view_marks: list[int]
    children: list[Block]
    _buf: list[list[str]]
    _pos: list[int]

    def __init__(self, el: Any, idx: int, tag: str, parent: Block | None, depth: int, attrs: str, cls: str,
                 align: str | None, hidden: bool = False) -> None:
        self.el = el
        self.idx = idx
        self.tag = tag
        self.parent = parent
        self.depth = depth
        self.attrs = attrs
        self.cls = cls
        self.align = align
        self.hidden = hidden
        self.lines = self.line_pos = self.view_marks = _EMPTY
        self.text = ""
        self.text_len = self.link_len = self.bold_len = self.italic_len = self.images = 0
        self.long_links = self.item_links = self.end_idx = 0
        self.sub_text_len = self.sub_link_len = self.sub_long_links = self.sub_item_links = self.sub_images = 0
        self.chrome = self.article_ancestor = -1
        self.children = []
        self._buf = [[]]
        self._pos = [idx + 1]

    def __repr__(self) -> str:
        return f"Block(idx={self.idx}, tag={self.tag!r}, attrs={self.attrs!r}, end_idx={self.end_idx})"

    def contains(self, other: Block) -> bool:
        """True when ``other`` is this block or inside it."""
        return self.idx <= other.idx <= self.end_idx

    @property
    def link_density(self) -> float:
        return self.link_len / self.text_len if self.text_len else 0.0

    @property
    def sub_link_density(self) -> float:
        return self.sub_link_len / self.sub_text_len if self.sub_text_len else 0.0

    def ancestors(self) -> list[Block]:
        out = []
        node = self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out


_EMPTY: list[Any] = []  # shared, never mutated: a block's lines and marks are replaced, not appended to


@dataclass(frozen=True, slots=True)
class Link:
    """An ``<a href>`` with its text and the block it starts in."""

    href: str
    text: str
    block: Block
    long: bool


@dataclass
class PageDocument:
    """The parsed page: lxml tree, head metadata and the block list."""

    url: str
    root: Any
    blocks: list[Block]
    links: list[Link]
    title_tag: str
    meta: dict[str, str]
    json_ld: list[dict[str, Any]]
    canonical: str | None
    block_of: dict[Any, Block]
    roles: dict[str, list[Any]] = field(default_factory=dict)
    # per-document results the extractors compute once (site names, the name index …)
    memo: dict[str, Any] = field(default_factory=dict)

    def role(self, name: str) -> list[Any]:
        """Elements (document order) whose tag/class/id/itemprop suggest a role:
        ``title``, ``breadcrumb`` or ``category``."""
        return self.roles.get(name, [])

    def block_for(self, el: Any) -> Block | None:
        """The block an element belongs to (itself when it is a block)."""
        node = el
        while node is not None:
            b = self.block_of.get(node)
            if b is not None:
                return b
            node = node.getparent()
        return None

    def subtree(self, block: Block) -> list[Block]:
        return self.blocks[block.idx : block.end_idx + 1]

    def absolute(self, href: str | None) -> str | None:
        if not href:
            return None
        href = href.strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            return None
        try:
            return urljoin(self.url, href)
        except ValueError:
            return None


def _attrs(attrs: Mapping[str, str]) -> str:
    return _attrs_of(attrs.get("class"), attrs.get("id"), attrs.get("itemprop"), attrs.get("itemtype"))


@lru_cache(maxsize=8192)
def _attrs_of(*values: str | None) -> str:
    return " ".join(v for v in values if v).lower()


def _finish_block(block: Block) -> None:
    buf, pos_list = block._buf, block._pos
    block._buf = block._pos = _EMPTY
    if len(buf) == 1 and not buf[0]:  # most wrappers hold no text of their own
        return
    lines = []
    positions = []
    marks: list[int] = []
    offset = 0
    for parts, pos in zip(buf, pos_list, strict=True):
        if not parts:
            continue
        line = "".join(parts)
        if UNCLEAN_RE.search(line):
            # Zero-width and control characters go (hostile pages carry terminal escapes); the
            # block marks this walk inserted stay.
            line = _MARK.join(strip_invisible(piece) for piece in line.split(_MARK))
        line = " ".join(line.split())
        if _MARK in line:
            pieces = line.split(_MARK)
            line = ""
            for i, piece in enumerate(pieces):
                if i:
                    marks.append(offset + len(line))
                line += piece
            line = " ".join(line.split())
        if line:
            lines.append(line)
            positions.append(pos)
            offset += len(line) + 1
    if lines:
        block.lines = lines
        block.line_pos = positions
        block.text = lines[0] if len(lines) == 1 else " ".join(lines)
    if marks:
        block.view_marks = marks


@lru_cache(maxsize=8192)
def _link_kind(raw: str, href: str) -> tuple[str, bool, bool]:
    """A link's text (normalised), whether it names another article (title-like: long; an
    item's: three words or more), memoised: menus and sidebars repeat on every page."""
    text = normalize_text(raw, decode_entities=False)
    if href.startswith(("javascript:", "#", "mailto:")) or _TAG_HREF.search(href):
        return text, False, False
    words = len(_WORD.findall(text))
    return text, len(text) >= LONG_LINK_CHARS and words >= LONG_LINK_WORDS, words >= ITEM_LINK_WORDS


# The class vocabulary of a portal is small and every page repeats it: the regexes over class
# and id values run once per distinct value (measured: the role regex alone took a third of
# the walk before).  Pure functions of their argument, so a bounded memo is safe.
@lru_cache(maxsize=8192)
def _role_of(names: str) -> str | None:
    m = _ROLE_RE.search(names)
    return (m.lastgroup or "title") if m else None


@lru_cache(maxsize=8192)
def _style_of(style: str) -> tuple[bool, str | None]:
    """(hidden, text-align right/center) of a style attribute."""
    align = _ALIGN_STYLE.search(style)
    return bool(_HIDDEN_STYLE.search(style)), align.group(1).lower() if align else None


@lru_cache(maxsize=8192)
def _hidden_class(cls: str) -> bool:
    return bool(_HIDDEN_CLASS.search(cls))


@lru_cache(maxsize=8192)
def _view_icon_class(cls: str) -> bool:
    return bool(_VIEW_ICON_CLASS.search(cls.lower()))


def _view_icon(attrs: Mapping[str, str]) -> bool:
    cls = attrs.get("class")
    if cls and _view_icon_class(cls):
        return True
    label = attrs.get("title") or attrs.get("aria-label")
    return bool(label and VIEW_LABEL_RE.search(label))


# What the walk needs of an element's start tag, from its tag and attributes (see
# _start_info).  Links and images carry attributes unique to each (href, src, alt …) that
# play no part in it: they are left out of the memo key.
_A_KEYS = frozenset(("class", "id", "style", "hidden", "itemprop", "itemtype", "rel", "aria-label", "align"))
_IMG_KEYS = _A_KEYS | {"title"}
StartInfo = tuple[str | None, str | None, bool, str | None, str, str, bool]


@lru_cache(maxsize=16384)
def _start_info(tag: str, items: tuple[tuple[str, str], ...]) -> StartInfo:
    """(role, second role, hidden, text-align, lower-cased names, lower-cased class, view icon)
    of a start tag.  A page repeats a few hundred distinct tag + attribute sets (measured on
    the corpus: 288 among 19,522 elements with attributes), so the walk reads each once."""
    attrs: Mapping[str, str] = dict(items) if items else _NO_ATTRS
    cls_attr = attrs.get("class")
    id_attr = attrs.get("id")
    style = attrs.get("style")
    role = None
    if tag in _TITLE_TAGS:
        role = "title"
    elif cls_attr or id_attr:
        role = _role_of(f"{cls_attr or ''} {id_attr or ''}".lower())
    role2 = None
    hidden = False
    if items:
        if attrs.get("itemprop") in ("headline", "name") and tag not in _TITLE_TAGS:
            role2 = "title"
        elif tag == "a" and "category" in (attrs.get("rel") or ""):
            role2 = "category"
        elif "BreadcrumbList" in (attrs.get("itemtype") or "") or "breadcrumb" in (attrs.get("aria-label") or "").lower():
            role2 = "breadcrumb"
        hidden = "hidden" in attrs or bool(style and _style_of(style)[0]) or bool(cls_attr and _hidden_class(cls_attr))
    align = (_style_of(style)[1] if style else None) or (attrs.get("align") or "").lower() or None
    return (role, role2, hidden, align, _attrs(attrs) if items else "", (cls_attr or "").lower(),
            bool(items) and _view_icon(attrs))


def parse_html(html: str) -> Any:
    """Parse HTML text into an lxml tree (comments and processing instructions dropped).

    The plain ``lxml.etree`` HTML parser is used (no ``lxml.html`` element classes): it
    builds element proxies noticeably faster.
    """
    if html.lstrip().startswith("<?xml"):
        html = _XML_DECL.sub("", html, count=1)
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True)
    root = None
    try:
        root = etree.fromstring(html, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        root = etree.fromstring("<html><body></body></html>", parser)
    return root


def element_text(el: Any) -> str:
    """All text inside an element (its tail excluded), like lxml.html's ``text_content``."""
    return "".join(el.itertext())


def drop_element(el: Any) -> None:
    """Remove an element with its content, keeping the text that follows it."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _read_head(root: Any, url: str) -> tuple[str, dict[str, str], list[dict[str, Any]], str | None]:
    title_tag = ""
    meta: dict[str, str] = {}
    json_ld: list[dict[str, Any]] = []
    canonical: str | None = None
    for el in root.iter("title", "meta", "link", "script"):
        tag = el.tag
        if tag == "title":
            if not title_tag:
                title_tag = normalize_text(element_text(el), decode_entities=False)
        elif tag == "meta":
            key = (
                el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv") or ""
            ).lower()
            content = el.get("content")
            if key and content is not None and key not in meta:
                meta[key] = content
        elif tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if "canonical" in rel and canonical is None and el.get("href"):
                canonical = urljoin(url, el.get("href").strip())
        elif tag == "script" and (el.get("type") or "").lower() == "application/ld+json":
            try:
                data = json.loads(el.text or "")
            except ValueError:
                continue
            stack = [data]
            while stack:
                item = stack.pop()
                if isinstance(item, list):
                    stack.extend(item)
                elif isinstance(item, dict):
                    json_ld.append(item)
                    if "@graph" in item:
                        stack.append(item["@graph"])
    return title_tag, meta, json_ld, canonical


def parse_document(html: str, url: str, prepare: Callable[[Any], None] | None = None) -> PageDocument:
    """Parse ``html`` once and build the block model.

    ``prepare`` may modify the tree (e.g. drop a profile's ``remove`` elements) after the
    head was read and before the blocks are built.
    """
    return build_document(parse_html(html), url, prepare)


def build_document(root: Any, url: str, prepare: Callable[[Any], None] | None = None) -> PageDocument:
    """Build the block model of an already parsed tree (which it modifies)."""
    title_tag, meta, json_ld, canonical = _read_head(root, url)
    etree.strip_elements(root, *DROP_TAGS, with_tail=False)
    if prepare is not None:
        prepare(root)
    body = root.find("body")
    if body is None:
        body = root
    blocks: list[Block] = []
    links: list[Link] = []
    block_of: dict[Any, Block] = {}
    stack: list[Block] = []
    roles: dict[str, list[Any]] = {"title": [], "breadcrumb": [], "category": []}
    link_depth = bold_depth = italic_depth = hidden_depth = 0
    link_buf: list[str] = []
    link_start: list[tuple[Block, str]] = []

    def add(text: str, boundary: bool = False) -> None:
        if hidden_depth or not stack:
            return
        b = stack[-1]
        line = b._buf[-1]
        if boundary and line and text[:1].isdigit():
            last = line[-2] if line[-1] == _MARK and len(line) > 1 else line[-1]
            if last[-1:].isdigit():
                # "<span>15:45</span><span>3.210 lượt xem</span>": keep the numbers apart.
                line.insert(len(line) - 1 if line[-1] == _MARK else len(line), " ")
        line.append(text)
        n = len(text.strip())
        if not n:
            return
        b.text_len += n
        if link_depth:
            b.link_len += n
            link_buf.append(text)
        if bold_depth:
            b.bold_len += n
        if italic_depth:
            b.italic_len += n

    flags: list[int] = []  # per open element: _HIDDEN | _LINK | _BOLD | _ITALIC | _BLOCK
    for event, el in etree.iterwalk(body, events=("start", "end")):
        tag = el.tag
        if tag.__class__ is not str:  # comments / processing instructions
            if event == "end" and el.tail:
                add(el.tail)
            continue
        if event == "start":
            items = el.items()
            flag = 0
            if items:
                role, role2, hidden, align, names, cls, view_icon = _start_info(
                    tag, tuple(kv for kv in items if kv[0] in _A_KEYS) if tag == "a" else
                    tuple(kv for kv in items if kv[0] in _IMG_KEYS) if tag == "img" else tuple(items))
            else:
                role, role2, hidden, align, names, cls, view_icon = _start_info(tag, ())
            if role is not None:
                roles[role].append(el)
            if role2 is not None:
                roles[role2].append(el)
            if hidden:
                flag |= _HIDDEN
                hidden_depth += 1
            if tag in BLOCK_TAGS:
                flag |= _BLOCK
                parent = stack[-1] if stack else None
                if parent is not None and parent._buf[-1]:
                    parent._buf.append([])
                    parent._pos.append(len(blocks))
                b = Block(el, len(blocks), tag, parent, parent.depth + 1 if parent else 0, names, cls, align,
                          hidden or bool(parent and parent.hidden))
                blocks.append(b)
                block_of[el] = b
                stack.append(b)
                if parent is not None:
                    parent.children.append(b)
                if view_icon and not hidden_depth:
                    b._buf[-1].append(_MARK)
            elif tag == "br":
                if stack:
                    stack[-1]._buf.append([])
                    stack[-1]._pos.append(len(blocks))
            elif tag == "img" and stack and not hidden_depth:
                stack[-1].images += 1
            if view_icon and tag in _INLINE_MARK_TAGS and stack and not hidden_depth:
                stack[-1]._buf[-1].append(_MARK)
            if tag == "a":
                href = el.get("href")
                if href is not None:
                    flag |= _LINK
                    if link_depth == 0:
                        link_buf.clear()
                        if stack:
                            link_start.append((stack[-1], href))
                    link_depth += 1
            elif tag in BOLD_TAGS:
                flag |= _BOLD
                bold_depth += 1
            elif tag in ITALIC_TAGS:
                flag |= _ITALIC
                italic_depth += 1
            flags.append(flag)
            if el.text:
                add(el.text, True)
        else:
            flag = flags.pop() if flags else 0
            if flag & _LINK:
                link_depth -= 1
                if link_depth == 0 and link_start:
                    owner, href = link_start.pop()
                    text, is_long, is_item = _link_kind("".join(link_buf), href)
                    if is_long:
                        owner.long_links += 1
                    if is_item:
                        owner.item_links += 1
                    links.append(Link(href=href, text=text, block=owner, long=is_long))
            elif flag & _BOLD:
                bold_depth -= 1
            elif flag & _ITALIC:
                italic_depth -= 1
            if flag & _BLOCK and stack and stack[-1].el is el:
                b = stack.pop()
                _finish_block(b)
                b.end_idx = len(blocks) - 1
                b.sub_text_len += b.text_len
                b.sub_link_len += b.link_len
                b.sub_long_links += b.long_links
                b.sub_item_links += b.item_links
                b.sub_images += b.images
                if b.parent is not None:
                    p = b.parent
                    if p._buf[-1]:
                        p._buf.append([])
                        p._pos.append(len(blocks))
                    else:  # the text that follows the child block starts after it
                        p._pos[-1] = len(blocks)
                    p.sub_text_len += b.sub_text_len
                    p.sub_link_len += b.sub_link_len
                    p.sub_long_links += b.sub_long_links
                    p.sub_item_links += b.sub_item_links
                    p.sub_images += b.sub_images
            if flag & _HIDDEN:
                hidden_depth -= 1
            if el.tail:
                add(el.tail, True)
    while stack:  # unbalanced walk safety net
        b = stack.pop()
        _finish_block(b)
        b.end_idx = len(blocks) - 1
    return PageDocument(
        url=url,
        root=root,
        blocks=blocks,
        links=links,
        title_tag=title_tag,
        meta=meta,
        json_ld=json_ld,
        canonical=canonical,
        block_of=block_of,
        roles=roles,
    )
