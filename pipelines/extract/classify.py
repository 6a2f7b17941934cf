"""Page classification: ``article`` / ``listing`` / ``other``.

An article is a single dated item: a title, a publication date found next to it (not
in another article's item), and a substantial paragraph body with few links.  Home
pages, category listings and their pagination show many title-like links with dates
instead; about/contact pages have no date; schedules and document lists are tables;
RSS/XML is not HTML at all.  Profile navigation regexes are used as hints.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipelines.extract.body import BodyResult
from pipelines.extract.document import Block, PageDocument
from pipelines.extract.heuristics import enclosing_item_group, in_chrome, max_repeated_items
from pipelines.extract.profiles import Profile

logger = logging.getLogger(__name__)

__all__ = ["Classification", "classify", "sniff_non_html"]

ARTICLE = "article"
LISTING = "listing"
OTHER = "other"
MIN_BODY_CHARS = 250
MIN_UNDATED_BODY_CHARS = 500

_FEED_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF|urlset|sitemapindex)\b",
    re.DOTALL | re.IGNORECASE,
)
_HTML_HINT = re.compile(r"<(?:html|body|head|div|p|title)\b", re.IGNORECASE)
_FILE_EXT = re.compile(
    r"\.(?:pdf|docx?|xlsx?|pptx?|zip|rar|7z|jpe?g|png|gif|mp4|mp3|xml|rss|txt|csv)$", re.IGNORECASE
)
_SEARCH_URL = re.compile(
    r"(?:/|\b)(?:search|tim-kiem|timkiem|tra-cuu|ket-qua-tim-kiem)(?:[/.?]|$)|[?&](?:q|keyword|tukhoa|search|s)=",
    re.IGNORECASE,
)
_SCHEDULE_TITLE = re.compile(
    r"^\s*(?:lịch\s+công\s+tác|lịch\s+làm\s+việc|lịch\s+tuần|lịch\s+họp)", re.IGNORECASE
)
_SECTION_TITLE = re.compile(
    r"^\s*(?:giới\s+thiệu(?:\s+chung)?|liên\s+hệ|thông\s+tin\s+liên\s+hệ|văn\s+bản(?:\s+(?:chỉ\s+đạo.*|pháp\s+luật|mới))?|"
    r"tìm\s+kiếm|kết\s+quả\s+tìm\s+kiếm|sơ\s+đồ\s+(?:cổng|trang|website|tổ\s+chức)|danh\s+bạ(?:\s+điện\s+thoại)?|"
    r"hỏi\s+đáp(?:\s+trực\s+tuyến)?|góp\s+ý|thủ\s+tục\s+hành\s+chính|dịch\s+vụ\s+công(?:\s+trực\s+tuyến)?|trang\s+chủ|tin\s+tức|"
    r"điều\s+khoản\s+sử\s+dụng|chính\s+sách\s+bảo\s+mật|quy\s+chế\s+hoạt\s+động|"
    r"chức\s+năng,?\s+nhiệm\s+vụ.*|cơ\s+cấu\s+tổ\s+chức|lịch\s+sử\s+hình\s+thành.*|tổng\s+quan|"
    r"điều\s+kiện\s+tự\s+nhiên.*|ban\s+lãnh\s+đạo|thư\s+viện\s+(?:ảnh|video)|album\s+ảnh|rss)\s*$",
    re.IGNORECASE,
)
_ARTICLE_TYPES = re.compile(r"(?:News)?Article|BlogPosting|Report", re.IGNORECASE)
# schema.org types of a page's main entity that is not an article (a dataset, a gallery, a
# contact or about page, search results); WebSite / Organization / BreadcrumbList go with any page.
_OTHER_TYPES = frozenset((
    "dataset", "datacatalog", "datadownload", "faqpage", "qapage", "contactpage", "aboutpage", "collectionpage",
    "searchresultspage", "imagegallery", "mediagallery", "event", "governmentservice", "service", "product",
    "profilepage", "place",
))
# A page that says it is an error ("Không tìm thấy trang", "404 - Page not found").
_ERROR_TITLE = re.compile(
    r"^\s*(?:lỗi\s*)?(?:404|403|500)\b|không\s+tìm\s+thấy\s+(?:trang|nội\s+dung|bài\s+viết)|"
    r"(?:trang|bài\s+viết|tin\s+bài|nội\s+dung)\s+(?:này\s+)?không\s+tồn\s+tại|page\s+not\s+found|^\s*not\s+found\s*$|"
    r"có\s+lỗi\s+xảy\s+ra|đã\s+xảy\s+ra\s+lỗi|access\s+denied|truy\s+cập\s+bị\s+từ\s+chối",
    re.IGNORECASE,
)
# Titles of static pages that carry no date (an about page under another name).
_STATIC_TITLE = re.compile(
    r"^\s*(?:giới\s+thiệu|lịch\s+sử|tổng\s+quan|chức\s+năng|cơ\s+cấu|sơ\s+đồ|liên\s+hệ|điều\s+khoản|chính\s+sách|"
    r"thông\s+tin\s+chung|about|overview|history|contact|introduction)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str


def sniff_non_html(text: str, url: str) -> Classification | None:
    """Feeds, sitemaps, files and other non-HTML content, before any parsing."""
    head = text[:2048]
    if _FEED_START.match(head):
        return Classification(OTHER, "RSS/XML feed")
    if head.lstrip().startswith("%PDF"):
        return Classification(OTHER, "PDF document")
    if not _HTML_HINT.search(text[:20000]):
        if _FILE_EXT.search(urlsplit(url).path):
            return Classification(OTHER, "file download")
        return Classification(OTHER, "not HTML")
    return None


def _structured_types(doc: PageDocument) -> set[str]:
    types: set[str] = set()
    for item in doc.json_ld:
        value = item.get("@type", "")
        for t in value if isinstance(value, list) else [value]:
            types.add(str(t).lower())
    return types


def _structured_non_article(doc: PageDocument) -> str | None:
    """The schema.org type of a page whose structured data says it is something else than
    an article (and nowhere that it is one)."""
    types = _structured_types(doc)
    if any(_ARTICLE_TYPES.fullmatch(t) for t in types):
        return None
    found = sorted(types & _OTHER_TYPES)
    return found[0] if found else None


def _structured_article(doc: PageDocument) -> bool:
    if (doc.meta.get("og:type") or "").lower() == "article":
        return True
    if any(_ARTICLE_TYPES.fullmatch(str(item.get("@type", ""))) for item in doc.json_ld):
        return True
    return any(
        "Article" in (el.get("itemtype") or "") for el in doc.root.iter("div", "article", "section", "main")
    )


def _list_links(doc: PageDocument) -> int:
    """Title-like links outside header/nav/footer."""
    return sum(1 for link in doc.links if link.long and not in_chrome(link.block))


def classify(
    doc: PageDocument,
    *,
    title: str | None,
    has_date: bool,
    body: BodyResult,
    profile: Profile | None,
    anchor: Block | None = None,
) -> Classification:
    """Decide the page kind from the extracted fields and page structure (``anchor``: the
    block of the title)."""
    url = doc.url
    path = urlsplit(url).path
    list_links = _list_links(doc)
    container = body.container
    repeated = max_repeated_items(doc.subtree(container)) if container is not None else 0

    def non_article(reason: str) -> Classification:
        # Listings are made of links to articles; about/contact/document pages are not.
        listing = repeated >= 3 or list_links >= 8 or (list_links >= 5 and body.char_count < 100 * list_links)
        return Classification(LISTING if listing else OTHER, reason)

    if _FILE_EXT.search(path):
        return Classification(OTHER, "file URL")
    if _SEARCH_URL.search(url):
        return Classification(LISTING, "search page")
    profile_listing = profile is not None and profile.matches_listing_url(url)
    profile_article = profile is not None and profile.matches_article_url(url)
    if profile_listing and not profile_article:
        return non_article(f"{profile.name if profile else ''} listing URL")
    if not title:
        return non_article(f"no title; {list_links} list links")
    if _ERROR_TITLE.search(title):
        return Classification(OTHER, "error page")
    other_type = _structured_non_article(doc)
    if other_type is not None:
        return non_article(f"structured data: {other_type}")
    if (anchor is not None and container is not None and not profile_article
            and container.end_idx < anchor.idx and not container.contains(anchor)):
        # An article's text follows its title; text that ends before it is a box of the page
        # (a notice in the left column, a banner) on a page that has no text of its own.
        return non_article("the only text is a box before the title")
    if _SCHEDULE_TITLE.match(title):
        return Classification(OTHER, "work schedule")
    if _SECTION_TITLE.match(title):
        return non_article("section page title")
    chars = body.char_count
    if repeated >= 3:
        return Classification(LISTING, f"main content is a list of {repeated} linked items")
    group = enclosing_item_group(container) if container is not None and not profile_article else 0
    if group:
        return Classification(LISTING, f"the text is one item of a list of {group} linked items")
    if container is not None:
        links_in_body = container.sub_long_links
        if links_in_body >= 4 and chars < 200 * links_in_body:
            return Classification(LISTING, f"body container holds {links_in_body} article links")
    if profile_article and has_date and chars and list_links < 5:
        # The family's article URL with a dated title and no list: an article, however short.
        return Classification(ARTICLE, f"{profile.name if profile else ''} article URL, dated, {chars}-char body")
    if chars and body.cell_share > 0.5:
        return non_article("tabular page (documents / schedule)")
    if chars < MIN_BODY_CHARS:
        return non_article(f"body too short ({chars} chars); {list_links} list links")
    if not has_date:
        if _STATIC_TITLE.match(title):
            return non_article("undated page with a static page's title")
        if (profile_article or _structured_article(doc)) and chars >= MIN_UNDATED_BODY_CHARS:
            return Classification(ARTICLE, f"undated article markup + {chars}-char body")
        return non_article(f"no publication date; {list_links} list links")
    paragraphs = len(body.paragraphs)
    if paragraphs < 2 and chars < 2 * MIN_BODY_CHARS:
        return non_article(f"single short paragraph ({chars} chars)")
    return Classification(ARTICLE, f"dated title + {paragraphs}-paragraph body ({chars} chars)")
