"""Layout-independent signals shared by the generic extractors.

These encode how Vietnamese portals are built in general, not how one site is built:
class-name vocabularies of boilerplate (sidebars, related boxes, tools, tags) and of
content, "chrome" (header/nav/footer), "foreign" items (a list item of another
article, as in "Tin xem nhiều"), meta lines (date / view count / tags), captions and
author/source lines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pipelines.extract.document import Block
from pipelines.normalize.dates import LABEL_RE, MAX_YEAR, VN_TZ, find_datetimes
from pipelines.normalize.numbers import VIEW_LABEL_RE, find_view_count

logger = logging.getLogger(__name__)

__all__ = [
    "AUTHOR_LABEL_RE",
    "SUMMARY_ATTR_RE",
    "ArticleFrame",
    "article_scope",
    "boilerplate_line",
    "caption_attrs",
    "class_weight",
    "enclosing_item_group",
    "in_chrome",
    "is_foreign",
    "is_meta_line",
    "max_repeated_items",
    "negative_attrs",
    "wrapper_lines",
]

_TOKEN_SPLIT = re.compile(r"[\s_\-]+")
_NEGATIVE_TOKENS = frozenset(
    [
        "side",
        "sidebar",
        "widget",
        "widgets",
        "related",
        "relate",
        "relates",
        "other",
        "others",
        "comment",
        "comments",
        "footer",
        "header",
        "menu",
        "nav",
        "navbar",
        "navigation",
        "breadcrumb",
        "breadcrumbs",
        "share",
        "sharing",
        "social",
        "tag",
        "tags",
        "taglist",
        "keyword",
        "keywords",
        "tool",
        "tools",
        "toolbar",
        "print",
        "banner",
        "ad",
        "ads",
        "advert",
        "adv",
        "advertisement",
        "quangcao",
        "promo",
        "popular",
        "hot",
        "most",
        "tophits",
        "xemnhieu",
        "tinkhac",
        "tinlienquan",
        "lienquan",
        "cungchuyenmuc",
        "pagination",
        "paging",
        "pager",
        "login",
        "search",
        "copyright",
        "rating",
        "vote",
        "rss",
        "hitstotal",
        "luotxem",
        "sendmail",
        "email",
        "fontsize",
        "subscribe",
        "newsletter",
        "download",
        "attach",
        "attachment",
        "attachments",
        "poll",
        "weather",
        "gallery",
        "slide",
        "slider",
        "marquee",
    ]
)
_NEGATIVE_SUBSTR = re.compile(
    r"sidebar|related|xemnhieu|xem-nhieu|xem_nhieu|tin-khac|tinkhac|tin_khac|lien-quan|lienquan|"
    r"cung-chuyen-muc|othernews|other-news|morenews|more-news|most-view|mostview|comment|footer|breadcrumb|"
    r"share|social|toolbar|banner|quang-cao|advert|tag-list|tags|keyword|rating|pagination|paging"
)
_POSITIVE_SUBSTR = re.compile(
    r"content|detail|article|body|entry|post|story|noidung|noi-dung|chitiet|chi-tiet|baiviet|bai-viet|"
    r"fulltext|rtestate|news-text|maincontent|main-content"
)
_CHROME_TOKENS = frozenset(
    ["header", "footer", "menu", "nav", "navbar", "topbar", "top-bar", "mainmenu", "megamenu"]
)
_CHROME_TAGS = frozenset(("header", "footer", "nav", "aside"))
SUMMARY_ATTR_RE = re.compile(
    r"summary|sapo|lead|desc|intro|hometext|tomtat|tom-tat|trichdan|trich-dan|mota|mo-ta|abstract|teaser|chapeau|excerpt"
)
_CAPTION_ATTR_RE = re.compile(
    r"caption|chuthich|chu-thich|chu_thich|image-desc|img-desc|imgdesc|photo-desc|desc-img|imgcaption|"
    r"image_caption|note-img|image-note|photocms|figcaption|picture-desc|expnoedit"
)
_IMAGE_BOX_RE = re.compile(r"(?:^|[\s_\-])(?:image|img|photo|picture|pic|figure|thumb|anh|hinh)(?:$|[\s_\-])")
AUTHOR_LABEL_RE = re.compile(
    r"^\s*(?:tác\s+giả(?:\s+bài\s+viết)?|người\s+viết|bài\s+viết|bút\s+danh|phóng\s+viên|tin\s*(?:,|và)\s*ảnh|bài\s*(?:,|và)\s*ảnh|"
    r"tin\s+bài|bài|tin|nguồn\s+tin|nguồn|theo|by|author|source)\s*[:：]\s*",
    re.IGNORECASE,
)
_BOILERPLATE_RE = re.compile(
    r"^\s*(?:tags?|từ\s+khóa|từ\s+khoá|chia\s+sẻ|share|in\s+bài|bản\s+in|in\s+trang|gửi\s+email|gửi\s+bài|"
    r"lên\s+đầu\s+trang|về\s+đầu\s+trang|đầu\s+trang|quay\s+lại|trở\s+về|trở\s+lại|xem\s+thêm|tin\s+liên\s+quan|"
    r"tin\s+khác|các\s+tin\s+khác|bài\s+liên\s+quan|tin\s+cùng\s+chuyên\s+mục|bình\s+luận|ý\s+kiến\s+bạn\s+đọc|"
    r"gửi\s+ý\s+kiến|đánh\s+giá|tổng\s+số\s+điểm|cỡ\s+chữ|a-\s*a\+|những\s+tin\s+(?:mới|cũ)\s+hơn|lượt\s+thích)"
    r"(?![\w])",
    re.IGNORECASE,
)


def _tokens(attrs: str) -> set[str]:
    return set(_TOKEN_SPLIT.split(attrs)) if attrs else set()


# The vocabulary tests below run once per distinct class/id string (a portal repeats a few
# dozen): memoised pure functions, measured to matter on the extraction's hot path.
@lru_cache(maxsize=8192)
def negative_attrs(attrs: str) -> bool:
    """Class/id names that mark boilerplate (sidebars, related boxes, tools, tags ...)."""
    if not attrs:
        return False
    if _tokens(attrs) & _NEGATIVE_TOKENS:
        return True
    return bool(_NEGATIVE_SUBSTR.search(attrs))


@lru_cache(maxsize=8192)
def positive_attrs(attrs: str) -> bool:
    return bool(attrs) and bool(_POSITIVE_SUBSTR.search(attrs))


@lru_cache(maxsize=8192)
def caption_attrs(attrs: str) -> bool:
    return bool(attrs) and bool(_CAPTION_ATTR_RE.search(attrs))


@lru_cache(maxsize=8192)
def image_box_attrs(attrs: str) -> bool:
    return bool(attrs) and bool(_IMAGE_BOX_RE.search(attrs))


def class_weight(block: Block) -> float:
    """Multiplier for a container's content score from its tag and class/id names."""
    weight = 1.0
    if block.tag in _CHROME_TAGS:
        weight *= 0.2
    if negative_attrs(block.attrs):
        weight *= 0.25
    elif positive_attrs(block.attrs):
        weight *= 1.3
    if block.tag in ("article", "main"):
        weight *= 1.2
    return weight


_ARTICLE_TAGS = frozenset(("article", "main"))


def _article_like(block: Block) -> bool:
    return block.tag in _ARTICLE_TAGS or positive_attrs(block.attrs)


def in_chrome(block: Block) -> bool:
    """True for blocks inside the page header, navigation, sidebars (``aside``) or footer.

    ``<header>``/``<footer>`` elements (and header/footer/menu class names) inside an
    article or a content container are the article's own header/footer, not chrome.
    """
    chain: list[Block] = []
    node: Block | None = block
    while node is not None and node.chrome < 0:
        chain.append(node)
        node = node.parent
    inherited = node is not None and node.chrome == 1
    for node in reversed(chain):
        inherited = inherited or _own_chrome(node)
        node.chrome = int(inherited)
    return bool(block.chrome)


_LANDMARK_ROLES = frozenset(("banner", "contentinfo", "navigation", "complementary", "search"))


def _own_chrome(node: Block) -> bool:
    if node.tag in ("nav", "aside"):
        return True
    if (node.el.get("role") or "").strip().lower() in _LANDMARK_ROLES:
        return True  # an ARIA landmark the page itself declares as header, footer, menu or sidebar
    chrome_tag = node.tag in ("header", "footer")
    chrome_cls = bool(node.attrs) and bool(_tokens(node.cls or node.attrs) & _CHROME_TOKENS)
    if not (chrome_tag or chrome_cls) or _article_like(node):
        return False
    return not _has_article_ancestor(node)


def _has_article_ancestor(node: Block) -> bool:
    """Whether an ancestor of ``node`` is an article/content container (cached)."""
    chain: list[Block] = []
    parent = node.parent
    while parent is not None and parent.article_ancestor < 0:
        chain.append(parent)
        parent = parent.parent
    top = chain[-1] if chain else node
    while top.parent is not None:
        top = top.parent
    page_text = top.sub_text_len

    def content_like(b: Block) -> bool:
        # a wrapper around (nearly) the whole page, e.g. <div class="body">, is not an article
        return _article_like(b) and not (page_text and b.sub_text_len >= 0.9 * page_text)

    found = parent is not None and (parent.article_ancestor == 1 or content_like(parent))
    # Fill from the top: a block has an article ancestor when its parent is one or has one.
    for item in reversed(chain):
        item.article_ancestor = int(found)
        found = found or content_like(item)
    return found


_ITEM_TAGS = frozenset(("li", "tr", "dd", "dt", "article"))


def _item_like(node: Block) -> bool:
    return 0 < node.sub_item_links <= 3


def _repeated(node: Block, minimum: int = 2) -> bool:
    """True when ``node`` is one of ``minimum`` or more same-tag, same-class siblings that
    each hold a link (the items of a list of articles)."""
    parent = node.parent
    if parent is None or not (node.cls or node.tag in _ITEM_TAGS):
        return False
    count = 0
    for sibling in parent.children:
        if sibling.tag == node.tag and sibling.cls == node.cls and _item_like(sibling):
            count += 1
            if count >= minimum:
                return True
    return False


def _listing_item(node: Block) -> bool:
    """An item of a list of articles: a few links, and a title line, a picture or mostly
    link text (a paragraph that merely quotes a document link is not one)."""
    if not _item_like(node) or not (node.cls or node.tag in _ITEM_TAGS):
        return False
    if node.sub_link_density >= 0.2 or node.sub_images:
        return True
    return any(c.text and c.link_density >= 0.5 for c in node.children)


def enclosing_item_group(block: Block, levels: int = 5) -> int:
    """When ``block`` (or one of its ``levels`` nearest ancestors) is an item of a list of
    articles, the number of items in that list; else 0.  An article's text is never one
    item of such a list: a listing's text (an item's teaser) is."""
    node: Block | None = block
    for _ in range(levels):
        if node is None or node.parent is None:
            break
        if _listing_item(node):
            group = sum(1 for sib in node.parent.children
                        if sib.tag == node.tag and sib.cls == node.cls and _listing_item(sib))
            if group >= 3:
                return group
        node = node.parent
    return 0


def max_repeated_items(blocks: list[Block]) -> int:
    """Size of the largest group of same-tag, same-class sibling items of a list of articles."""
    best = 0
    for parent in blocks:
        if len(parent.children) < 2:
            continue
        groups: dict[tuple[str, str], int] = {}
        for child in parent.children:
            if _listing_item(child):
                key = (child.tag, child.cls)
                groups[key] = groups.get(key, 0) + 1
        if groups:
            best = max(best, *groups.values())
    return best


@dataclass(frozen=True)
class ArticleFrame:
    """Where the article sits on the page: its anchor (title block), the meta area between
    the title and the body text, and the body container's block range."""

    anchor: Block | None = None
    zone: tuple[int, int] | None = None
    body: tuple[int, int] | None = None

    def in_zone(self, block: Block) -> bool:
        return self.zone is not None and self.zone[0] < block.idx < self.zone[1]

    def holds_body(self, block: Block) -> bool:
        """The block holds the whole body container (so it is the article, not an item)."""
        return self.body is not None and block.idx <= self.body[0] and block.end_idx >= self.body[1]

    def outside_article(self, block: Block) -> bool:
        """After the body, or well before the title: where sidebars and related boxes live."""
        if self.body is not None and block.idx > self.body[1]:
            return True
        return self.anchor is not None and block.idx < self.anchor.idx - 4


def is_foreign(block: Block, frame: ArticleFrame | Block | None) -> bool:
    """True when ``block`` belongs to an item about another article.

    Three signals, each stopping at the first ancestor that holds the article's anchor
    (its title):

    * the smallest ancestor holding a title-like (long) link is an item of a list of
      other articles (most viewed, related, listing);
    * the block sits in a list item / table row / one of several repeated same-class
      siblings that carries a link of three words or more (inside the meta area between
      title and body only repeated groups of three count: the article's own meta line
      may hold a category link);
    * outside the article (after the body, well before the title) the block itself
      holds such a link next to its number/date.
    """
    if not isinstance(frame, ArticleFrame):
        frame = ArticleFrame(anchor=frame)
    anchor = frame.anchor
    node: Block | None = block
    while node is not None and node.sub_long_links == 0:
        node = node.parent
    if node is not None and not frame.holds_body(node):
        # (a wrapper around the article's own text, with the related links after it, is not an item)
        if anchor is None:
            if node.tag in ("li", "tr") or node.sub_long_links <= 2:
                return True
        elif not node.contains(anchor):
            return True
    in_zone = frame.in_zone(block)
    if block.item_links and not in_zone and frame.outside_article(block):
        return True
    node = block
    depth = 0
    while node is not None and depth < 6:
        if (anchor is not None and node.contains(anchor)) or frame.holds_body(node):
            return False
        if _item_like(node):
            if in_zone:
                if _repeated(node, 3):
                    return True
            elif node.tag in _ITEM_TAGS or _repeated(node):
                return True
        node = node.parent
        depth += 1
    return False


def wrapper_lines(anchor: Block, after: int, upto: int, levels: int = 4) -> list[tuple[Block, str]]:
    """Text written straight into the blocks around ``anchor`` (up to ``levels`` ancestors)
    that stands after block ``after`` and before block ``upto + 1`` in document order: one
    joined text per ancestor, nearest first."""
    out: list[tuple[Block, str]] = []
    node = anchor.parent
    for _ in range(levels):
        if node is None or node.tag in ("body", "html"):
            break
        texts = [line for line, pos in zip(node.lines, node.line_pos, strict=True) if after < pos <= upto]
        if texts:
            out.append((node, " ".join(texts)))
        node = node.parent
    return out


def article_scope(anchor: Block | None, body_container: Block | None) -> Block | None:
    """The smallest block holding both the title and the body container."""
    if anchor is None:
        return body_container.parent if body_container is not None else None
    if body_container is None:
        return anchor.parent
    node: Block | None = anchor
    while node is not None and not node.contains(body_container):
        node = node.parent
    return node


_VIEW_PART_RE = re.compile(
    VIEW_LABEL_RE.pattern + r"\s*[:：]?\s*[\d.,]+|[\d.,]+\s*" + VIEW_LABEL_RE.pattern, re.IGNORECASE
)
# Any reference time makes relative dates ("2 giờ trước") count as dates: only their spans are used here.
# The last day a date may have, so that find_datetimes, which drops dates after the day after
# its reference time (a publication date cannot follow the fetch), drops none of them here.
_SPAN_NOW = datetime(MAX_YEAR, 12, 30, tzinfo=VN_TZ)
_META_GLUE_RE = re.compile(r"\b(?:lúc|vào|gmt|utc|am|pm|sa|ch)\b|[+\-]\d{1,2}\b", re.IGNORECASE)
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
# "Chuyên mục: Tin tức", "Category: News" in a meta line, up to the next separator or the end.
_CATEGORY_PART_RE = re.compile(
    r"(?:chuyên\s+mục|danh\s+mục|thể\s+loại|lĩnh\s+vực|categor(?:y|ies)|filed\s+under)\s*[:：]\s*"
    r"[^|·•\n]{0,60}?(?=\s*[|·•]|$)",
    re.IGNORECASE,
)
# "Tác giả: Thùy Linh", "Viết bởi Hoàng Minh Đức", "By Minh Anh" beside a date: a byline part
# of a meta line (a name of up to six words, up to the next separator).
_BYLINE_PART_RE = re.compile(
    r"(?:tác\s+giả|người\s+viết|bài\s*(?:và|,)\s*ảnh|nguồn(?:\s+tin)?|(?:được\s+)?(?:viết|đăng|gửi)\s+bởi|"
    r"submitted\s+by|posted\s+by|written\s+by|by|author|source)\s*[:：]?\s*[^\W\d_][^|·•\n:：]{0,60}?"
    r"(?=\s*(?:[|·•]|$|\s(?:lúc|ngày|on|vào)\b))",
    re.IGNORECASE,
)


def is_meta_line(text: str) -> bool:
    """A short line that shows a labelled date, a view count, or tags/tools."""
    if len(text) > 220:
        return False
    if boilerplate_line(text):
        return True
    views = VIEW_LABEL_RE.search(text) is not None and find_view_count(text) is not None
    matches = find_datetimes(text, _SPAN_NOW)
    if not matches and not views:
        return False
    # A meta line: once the dates, view counts, labels and glue words are gone, (almost)
    # nothing is left; a sentence that mentions a date keeps its words.
    residual = []
    pos = 0
    for m in matches:
        residual.append(text[pos : m.start])
        pos = m.end
    residual.append(text[pos:])
    rest = " ".join(residual)
    if views:
        rest = _VIEW_PART_RE.sub(" ", rest)
    rest = _CATEGORY_PART_RE.sub(" ", rest)
    rest = _BYLINE_PART_RE.sub(" ", rest)
    rest = LABEL_RE.sub(" ", rest)
    rest = _META_GLUE_RE.sub(" ", rest)
    return len(_LETTER_WORD.findall(rest)) <= (4 if views else 2)


def boilerplate_line(text: str) -> bool:
    """Tags / share / print / related headings and similar tool lines: a tool word that
    is the whole (short) line or a label ("Từ khóa: ...")."""
    if len(text) > 250:
        return False
    m = _BOILERPLATE_RE.match(text)
    if not m:
        return False
    rest = text[m.end() :]
    return len(text) <= 40 or rest.lstrip().startswith((":", "：", "|", "»", ">", "("))
