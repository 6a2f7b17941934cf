"""Main-text (body) extraction.

Generic algorithm, no site knowledge:

1. Every block with enough own text and a low link density is a paragraph; it scores
   ``1 + commas + min(len / 100, 3)`` for its parent and half of that for its
   grandparent.  Containers are weighted by ``1 - link density`` and by their class/id
   vocabulary (content-ish names up, sidebar/related/tools names down).
2. The best container is the body.  Lead-like siblings between the title and the body
   (the sapo of most CMSs) are prepended; strong siblings after it are appended.
3. Inside, paragraphs are kept in document order, dropping nested boilerplate boxes,
   link lists, captions (``figcaption``, caption classes, italic lines under images),
   the title, date/view/tag lines, and trailing author/source lines (which become the
   author).
4. The summary is the lead paragraph: a prepended sibling, a summary-like class
   (sapo, lead, desc, intro, hometext ...), or a bold-only first paragraph.

A profile can name the body container, the summary, and extra elements to remove; the
same paragraph filters then run inside the profile's container.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipelines.extract.byline import clean_author
from pipelines.extract.document import HEADING_TAGS, Block, PageDocument
from pipelines.extract.heuristics import (
    AUTHOR_LABEL_RE,
    SUMMARY_ATTR_RE,
    boilerplate_line,
    caption_attrs,
    class_weight,
    image_box_attrs,
    in_chrome,
    is_meta_line,
    negative_attrs,
)
from pipelines.normalize.text import text_key

logger = logging.getLogger(__name__)

__all__ = ["BodyResult", "Paragraph", "best_container", "extract_body", "lead_blocks"]

MIN_PARAGRAPH_CHARS = 25
_CELL_TAGS = frozenset(("li", "td", "th", "dd", "dt"))
_SENTENCE_END = re.compile(r"[.!?…;:\"”»)]\s*$")
_CAPTION_TEXT_RE = re.compile(
    r"^\s*\(?\s*(?:ảnh|hình|video|clip|photo)(?:\s+minh\s+họa)?\s*[:：)]", re.IGNORECASE
)
_AUTHOR_CLASS_RE = re.compile(r"author|tacgia|tac-gia|byline|nguon|source|signature")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class Paragraph:
    """A kept body paragraph."""

    block: Block | None
    text: str
    lead: bool = False


@dataclass
class BodyResult:
    """What the body extractor found."""

    container: Block | None
    paragraphs: list[Paragraph] = field(default_factory=list)
    summary: str | None = None
    author_line: str | None = None
    author_labelled: bool = False
    # credit lines taken out of the text (a closing byline, "Nguồn: …", an author box), raw
    credits: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)

    @property
    def char_count(self) -> int:
        return sum(len(p.text) for p in self.paragraphs)

    @property
    def cell_share(self) -> float:
        """Share of body characters that come from the records of a table (rows of two or more
        short text cells: a document list, a schedule) and from short list items; list items
        written as sentences (the points of an announcement) are prose, and so is a layout
        table's cell holding the text (the ASP.NET-era portals lay whole articles out so)."""
        total = self.char_count
        if not total:
            return 0.0
        cells = sum(len(p.text) for p in self.paragraphs if _tabular(p, self.container))
        return cells / total


_DATA_CELL_CHARS = 500


def _tabular(p: Paragraph, stop: Block | None) -> bool:
    if p.block is None:
        return False
    cell = _cell_block(p.block, stop)
    if cell is None:
        return False
    if cell.tag == "li":
        prose = len(p.text) >= 80 and p.block.link_density < 0.2 and _SENTENCE_END.search(p.text)
        return not prose
    return _data_row(cell)


def _cell_block(block: Block, stop: Block | None) -> Block | None:
    node: Block | None = block
    while node is not None and node is not stop:
        if node.tag in _CELL_TAGS:
            return node
        node = node.parent
    return None


def _text_cell(cell: Block) -> bool:
    return cell.tag in ("td", "th") and cell.sub_text_len > 0 and cell.sub_link_density < 0.5


def _data_row(cell: Block) -> bool:
    """A table cell that is one field of a record: a short cell in a row of two or more text
    cells, in a table with at least two such rows.  A layout table's cell holding a whole
    article, beside a menu column, is not."""
    if cell.tag not in ("td", "th", "dd", "dt"):
        return True
    if cell.tag in ("dd", "dt"):
        return True
    row = cell.parent
    if row is None or row.tag != "tr" or cell.sub_text_len > _DATA_CELL_CHARS:
        return False
    if sum(1 for c in row.children if _text_cell(c)) < 2:
        return False
    table = row.parent
    if table is not None and table.tag in ("tbody", "thead", "tfoot"):
        table = table.parent
    if table is None:
        return False
    rows = 0
    for section in table.children:
        for tr in section.children if section.tag in ("tbody", "thead", "tfoot") else (section,):
            if tr.tag == "tr" and sum(1 for c in tr.children if _text_cell(c)) >= 2:
                rows += 1
                if rows >= 2:
                    return True
    return False


def _paragraph_score(b: Block) -> float:
    text = b.text
    return 1.0 + text.count(",") + min(b.text_len / 100.0, 3.0)


def score_containers(doc: PageDocument) -> dict[int, float]:
    """Raw content scores per block index (before class/link weighting)."""
    scores: dict[int, float] = {}
    for b in doc.blocks:
        if b.hidden or b.text_len < MIN_PARAGRAPH_CHARS or b.tag in HEADING_TAGS:
            continue
        if b.link_density > 0.33:
            continue
        s = _paragraph_score(b)
        if b.tag in _CELL_TAGS:
            s *= 0.5
        parent = b.parent
        if parent is None:
            continue
        scores[parent.idx] = scores.get(parent.idx, 0.0) + s
        grand = parent.parent
        if grand is not None:
            scores[grand.idx] = scores.get(grand.idx, 0.0) + s / 2
    return scores


def _in_chrome_element(b: Block) -> bool:
    """Inside (or being) a chrome element by tag, not only by class name."""
    node: Block | None = b
    while node is not None:
        if node.tag in ("footer", "nav", "aside", "header") and in_chrome(node):
            return True
        node = node.parent
    return False


def best_container(doc: PageDocument, scores: dict[int, float] | None = None) -> tuple[Block | None, float]:
    """The block most likely to hold the article text, with its weighted score."""
    if scores is None:
        scores = score_containers(doc)
    best: Block | None = None
    best_score = 0.0
    for idx, raw in scores.items():
        b = doc.blocks[idx]
        if b.tag in ("html",):
            continue
        weighted = raw * (1.0 - b.sub_link_density) * class_weight(b)
        if in_chrome(b):
            if _in_chrome_element(b):
                continue  # the page's <footer>, <nav>, <aside> or <header>: never the article
            weighted *= 0.3
        if weighted > best_score:
            best, best_score = b, weighted
    return best, best_score


def _is_caption(doc: PageDocument, b: Block, prev: Block | None, stop: Block) -> bool:
    if b.tag == "figcaption" or caption_attrs(b.attrs):
        return True
    text = b.text
    n = b.text_len
    if _CAPTION_TEXT_RE.match(text) and n < 200:
        return True
    # Inside an image box / figure (up to the container).
    node = b.parent if b is not stop else None
    while node is not None and node is not stop and stop.contains(node):
        if node.tag == "figcaption" or caption_attrs(node.attrs):
            return True
        if node.tag == "figure":
            return not _holds_table(doc, node)  # Gutenberg wraps tables in a <figure> too
        if image_box_attrs(node.attrs) and n < 250 and node.sub_images:
            return True
        if node.tag == "table" and node.sub_images and n < 250 and node.sub_text_len < 400:
            # A small table holding a picture and its caption.
            return True
        if node.sub_images and node.sub_text_len < 250 and n < 200 and node.images:
            # A small box holding a picture and a line of text under it.
            return True
        node = node.parent
    if b.images and n < 160:
        return True
    italic = b.italic_len >= 0.8 * n
    after_image = (
        prev is not None and prev.images > 0 and prev.text_len == 0 and prev.end_idx + 1 >= b.idx - 1
    )
    if italic and n < 300 and (after_image or b.align == "center"):
        return True
    return after_image and b.align == "center" and n < 200


def _author_like(b: Block, text: str) -> bool:
    n = len(text)
    if n > 120 or n == 0:
        return False
    if AUTHOR_LABEL_RE.match(text):
        return True
    if b.align == "right":
        return True
    if _AUTHOR_CLASS_RE.search(b.attrs):
        return True
    if b.bold_len >= 0.9 * b.text_len or b.italic_len >= 0.9 * b.text_len:
        return n <= 100 and not _SENTENCE_END.search(text)
    words = len(text.split())
    return words <= 8 and not _SENTENCE_END.search(text) and not _DIGITS.search(text)


def collect_paragraphs(
    doc: PageDocument,
    containers: Sequence[Block],
    *,
    skip: Iterable[Block] = (),
    title_key: str = "",
    lead_containers: Iterable[Block] = (),
) -> tuple[list[Paragraph], list[str]]:
    """Body paragraphs inside ``containers`` (in document order: text written straight into
    a wrapper between its child blocks, such as a last paragraph left unwrapped or lines
    separated by ``<br>``, stands where the page shows it) and author-like lines seen in
    author-classed elements that were dropped.  A line repeating the title is left out,
    unless it is all the body there is; a paragraph repeated inside one container is kept
    (the page shows it twice), one repeating another container's (a lead shown again at
    the top of the text) is not."""
    skip_set = {b.idx for b in skip}
    lead_set = {b.idx for b in lead_containers}
    out: list[Paragraph] = []
    authors: list[str] = []
    seen: set[str] = set()
    title_lines: list[Paragraph] = []
    for container in sorted(containers, key=lambda c: c.idx):
        is_lead = container.idx in lead_set
        kept = _kept_blocks(doc, container, skip_set, authors)
        # (position among the blocks, deeper first, line order) puts every line where it stands
        lines = sorted(
            ((pos, -b.depth, n, b, line) for b in kept for n, (line, pos) in enumerate(zip(b.lines, b.line_pos,
                                                                                         strict=True))),
            key=lambda item: item[:3],
        )
        here: set[str] = set()
        for b, line in _join_table_rows(lines, container):
            # The comparison key only where it can matter: a line as long as the title, or a
            # short one (text_key over every long paragraph was a hot spot); long lines are
            # compared as they are, which is what repeats look like.
            key = text_key(line) if len(line) <= max(2 * len(title_key), 120) else line
            if not key:
                continue
            if key == title_key:
                title_lines.append(Paragraph(block=b, text=line, lead=is_lead))
                continue
            if is_meta_line(line) or boilerplate_line(line):
                continue
            if key in seen and key not in here:
                continue
            seen.add(key)
            here.add(key)
            out.append(Paragraph(block=b, text=line, lead=is_lead))
    if not out and title_lines:
        out = title_lines[:1]  # a body that only repeats its title is still that body
    return out, authors


def _holds_table(doc: PageDocument, b: Block) -> bool:
    return any(x.tag == "table" for x in doc.subtree(b))


def _join_table_rows(lines: list[tuple[int, int, int, Block, str]], container: Block) -> list[tuple[Block, str]]:
    """``(block, line)`` in order, the cells of one record row of a table (a row of two or
    more short text cells) joined by a space into one line: a table in a body is one line
    per row."""
    out: list[tuple[Block, str]] = []
    last_row: Block | None = None
    for _pos, _depth, _n, b, line in lines:
        cell = _cell_block(b, container)
        row = cell.parent if cell is not None and cell.tag in ("td", "th") and _data_row(cell) else None
        if row is not None and row is last_row:
            out[-1] = (out[-1][0], f"{out[-1][1]} {line}")
        else:
            out.append((b, line))
        last_row = row
    return out


def _kept_blocks(doc: PageDocument, container: Block, skip_set: set[int], authors: list[str]) -> list[Block]:
    """The blocks of ``container`` whose text is body text: not skipped, hidden, a nested
    boilerplate box or link list, a figure, an author box (whose text goes to ``authors``),
    a link line or a caption."""
    kept: list[Block] = []
    prev: Block | None = None
    i = container.idx
    while i <= container.end_idx:
        b = doc.blocks[i]
        i += 1
        if b.idx in skip_set or b.hidden:
            i = b.end_idx + 1
            continue
        if b is not container:
            if _AUTHOR_CLASS_RE.search(b.attrs) and b.sub_text_len < 150:
                authors += [line for x in doc.subtree(b) for line in x.lines]  # a name, then "Nguồn: …"
                i = b.end_idx + 1
                continue
            if negative_attrs(b.attrs) or (b.sub_long_links >= 2 and b.sub_link_density > 0.3):
                i = b.end_idx + 1
                continue
            if b.tag in ("figcaption", "nav", "aside") or (b.tag == "figure" and not _holds_table(doc, b)):
                i = b.end_idx + 1  # (a figure holding a table, as Gutenberg writes them, is body)
                continue
        if not b.lines:
            if b.images:
                prev = b
            continue
        if b.link_density > 0.5 or _is_caption(doc, b, prev, container):
            prev = b
            continue
        prev = b
        kept.append(b)
    return kept


def strip_author_lines(paragraphs: list[Paragraph]) -> tuple[list[Paragraph], str | None, bool, list[str]]:
    """Remove up to two trailing author/source lines; return the author text and the raw
    lines removed (in page order)."""
    author: str | None = None
    labelled = False
    stripped: list[str] = []
    while paragraphs and len(stripped) < 2 and len(paragraphs) > 1:
        last = paragraphs[-1]
        if last.lead or last.block is None or not _author_like(last.block, last.text):
            break
        paragraphs = paragraphs[:-1]
        stripped.insert(0, last.text)
        is_label = bool(AUTHOR_LABEL_RE.match(last.text))
        text = clean_author(last.text)
        if text and (author is None or (is_label and not labelled)):
            author, labelled = text, is_label or labelled
    return paragraphs, author, labelled, stripped


_SKIP, _NO, _LEAD = 0, 1, 2


def _lead_like(doc: PageDocument, b: Block, title_key: str) -> int:
    """Whether a block can be the lead (sapo) shown before the body: ``_LEAD`` for a few
    lines of text that are not links, a heading (unless marked as a summary or long), the
    title again, a meta, tool or caption line; ``_SKIP`` when nothing inside it can be
    (hidden, boilerplate, chrome, links); ``_NO`` when only a part of it may be."""
    if b.hidden or negative_attrs(b.attrs) or in_chrome(b) or b.sub_long_links or b.sub_link_density > 0.2:
        return _SKIP
    if b.sub_text_len < 40 or caption_attrs(b.attrs):
        return _SKIP
    if b.tag in HEADING_TAGS and not (is_summary_block(b) or b.sub_text_len >= 100):
        return _NO
    if b.sub_images and b.sub_text_len < 250 and not is_summary_block(b):
        return _NO  # a picture and its caption, maybe beside the lead
    texts = [x.text for x in doc.subtree(b) if x.text]
    joined = " ".join(texts)
    if text_key(joined) == title_key or is_meta_line(joined) or boilerplate_line(joined) or len(texts) > 3:
        return _NO
    return _LEAD


def lead_blocks(doc: PageDocument, container: Block, anchor: Block | None, title_key: str) -> list[Block]:
    """Lead-like blocks between the title and the body container, wherever the layout put
    them (a sibling of the body, another table cell, a field of its own, beside a picture);
    without a title before the body, the lead-like siblings before the container."""
    if anchor is not None and anchor.end_idx < container.idx:
        leads: list[Block] = []
        i = anchor.end_idx + 1
        while i < container.idx:
            b = doc.blocks[i]
            verdict = _NO if b.contains(container) else _lead_like(doc, b, title_key)
            if verdict == _LEAD:
                leads.append(b)
            i = i + 1 if verdict == _NO else b.end_idx + 1  # look inside a block that is not one
        return leads
    parent = container.parent
    if parent is None:
        return []
    return [sib for sib in parent.children if sib.idx < container.idx
            and (anchor is None or sib.idx > anchor.idx) and _lead_like(doc, sib, title_key) == _LEAD]


def _trailing_siblings(
    doc: PageDocument, container: Block, scores: dict[int, float], best_raw: float
) -> list[Block]:
    parent = container.parent
    if parent is None:
        return []
    out = []
    for sib in parent.children:
        if sib.idx <= container.idx:
            continue
        raw = scores.get(sib.idx, 0.0)
        if raw >= max(3.0, 0.3 * best_raw) and not negative_attrs(sib.attrs) and sib.sub_long_links == 0:
            out.append(sib)
    return out


def is_summary_block(b: Block) -> bool:
    return bool(SUMMARY_ATTR_RE.search(b.attrs)) or b.el.get("itemprop") == "description"


def assemble(
    doc: PageDocument,
    container: Block | None,
    paragraphs: list[Paragraph],
    authors: list[str],
    summary_hint: str | None = None,
) -> BodyResult:
    """Strip author lines, detect the summary, and build the result."""
    paragraphs, author, labelled, credits = strip_author_lines(paragraphs)
    credits += authors
    if author is None and authors:
        author = clean_author(authors[0])
        labelled = bool(AUTHOR_LABEL_RE.match(authors[0]))
    summary: str | None = None
    if summary_hint:
        summary = summary_hint
        key = text_key(summary_hint)
        paragraphs = [p for p in paragraphs if text_key(p.text) != key]
        paragraphs.insert(0, Paragraph(block=None, text=summary_hint, lead=True))
    elif paragraphs:
        first = paragraphs[0]
        b = first.block
        node: Block | None = b
        if b is None:
            return BodyResult(container=container, paragraphs=paragraphs, author_line=author,
                              author_labelled=labelled, credits=credits)
        summary_class = False
        while node is not None and (container is None or container.contains(node) or first.lead):
            if container is not None and node is container:
                break
            if is_summary_block(node):
                summary_class = True
                break
            node = node.parent
        bold = b.bold_len >= 0.9 * b.text_len and len(first.text) >= 40 and len(paragraphs) > 1
        if first.lead or summary_class or bold:
            summary = first.text
    return BodyResult(
        container=container,
        paragraphs=paragraphs,
        summary=summary,
        author_line=author,
        author_labelled=labelled,
        credits=credits,
    )


def _first_text_after(doc: PageDocument, anchor: Block) -> Block | None:
    """Where no block scores as a body (a post of one short line), the first block of text
    that follows the title, unless it is page chrome, a link line or a meta line."""
    for b in doc.blocks[anchor.end_idx + 1 : anchor.end_idx + 13]:
        if not b.text or b.hidden or in_chrome(b) or b.link_density >= 0.5:
            continue
        if is_meta_line(b.text) or boilerplate_line(b.text) or b.tag in HEADING_TAGS:
            continue
        return b
    return None


def extract_body(doc: PageDocument, anchor: Block | None, title: str | None) -> BodyResult:
    """Generic body extraction (no profile)."""
    scores = score_containers(doc)
    container, _ = best_container(doc, scores)
    if container is None and anchor is not None:
        container = _first_text_after(doc, anchor)
    if container is None:
        return BodyResult(container=None)
    title_key = text_key(title)
    best_raw = scores.get(container.idx, 0.0)
    leads = lead_blocks(doc, container, anchor, title_key)
    trailing = _trailing_siblings(doc, container, scores, best_raw)
    paragraphs, authors = collect_paragraphs(
        doc, [*leads, container, *trailing], title_key=title_key, lead_containers=leads
    )
    return assemble(doc, container, paragraphs, authors)
