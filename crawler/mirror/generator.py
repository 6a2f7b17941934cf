"""Synthetic mirror of Vietnamese government news portals, for the demo and the benchmark.

:func:`generate_mirror` writes a static copy of ``portals`` invented portals, one loopback
host each (``127.0.2.1``, ``127.0.2.2`` ... ``127.0.2.254``, then ``127.0.3.1`` ...: a thousand
portals fit, see :func:`portal_host`), cycling over five site layouts seen on real
portals:

``tandan``     Tân Dân SharePoint (``/portal/Pages/2024-5-17/<Slug>x1y2z3.aspx``), date only.
``nukeviet``   NukeViet CMS (``/vi/news/<cat>/<slug>-<id>.html``) with an RSS feed.
``liferay``    VNPT ePortal on Liferay (``/vi/news/<cat>/-/details/<group>/<slug>-<id>``).
``district``   a simple district portal (``/tin-tuc/<slug>-<id>.html``).
``wordpress``  an invented WordPress-like portal (``/2020/07/<slug>/``, ``?page=N``).

Besides the article pages every portal has a home page, paginated category listings
(10 items a page), about and contact pages, a ``robots.txt`` disallowing ``/admin/`` with
a footer link into it, and an offsite link.  Article text is produced from templates
with a seeded RNG, so a given seed always yields byte-identical files.  Bodies mix in
HTML named entities, ``&nbsp;``, zero-width spaces and one NFD-encoded paragraph, the way
text pasted into real CMS editors does.

Alongside ``site/`` the generator writes ``portals.yaml`` (a registry whose URLs carry
the literal ``{PORT}`` placeholder) and ``truth.jsonl`` (one label line per article).
Files are named with :func:`crawler.mirror.server.url_to_relpath`, the same rule the
mirror server uses to find them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
import random
import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from html.entities import codepoint2name
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from crawler.mirror.server import is_loopback, url_to_relpath
from pipelines.normalize.dates import VN_TZ

logger = logging.getLogger(__name__)

__all__ = ["BROKEN_PORTAL_ID", "LAYOUTS", "RECENT_DAYS", "MirrorInfo", "generate_mirror", "host_capacity",
           "portal_host"]

LAYOUTS = ("tandan", "nukeviet", "liferay", "district", "wordpress")
PER_PAGE = 10
#: Portal addresses per /24 (``.1`` to ``.254``).
HOSTS_PER_OCTET = 254
ZWSP = "\u200b"
OFFSITE_URL = "http://example.invalid/"
ADMIN_PATH = "/admin/secret.html"
_FIRST_DAY = datetime(2019, 1, 1, 0, 0)
#: With ``now``, articles are dated within this many days before it.
RECENT_DAYS = 30
#: The registry id of the portal that ``broken_portal=True`` adds.
BROKEN_PORTAL_ID = "demo-broken-1"
_SPAN_DAYS = (datetime(2026, 10, 31) - _FIRST_DAY).days
_WEEKDAYS = ("Thứ hai", "Thứ ba", "Thứ tư", "Thứ năm", "Thứ sáu", "Thứ bảy", "Chủ nhật")
# Latin-1 letters as named entities, the way old rich-text editors save Vietnamese.
_ENTITY_TABLE = {cp: f"&{codepoint2name[cp]};" for cp in range(0xC0, 0x100) if cp in codepoint2name}

# --------------------------------------------------------------------------- word lists

PROVINCES = (
    "Phú Yên", "Quảng Ngãi", "Hà Giang", "Đắk Lắk", "Bình Định", "Nghệ An", "Thanh Hóa", "Sơn La",
    "Lâm Đồng", "Cà Mau", "Tiền Giang", "Lào Cai", "Quảng Nam", "Kon Tum", "Bắc Giang", "Hà Tĩnh",
)
DISTRICTS = (
    "Tuy An", "Sơn Hòa", "Đồng Xuân", "Ba Tơ", "Minh Long", "Krông Búk", "Phù Mỹ", "Con Cuông",
    "Quan Hóa", "Mộc Châu", "Bảo Lâm", "Năm Căn", "Cái Bè", "Bát Xát", "Tiên Phước", "Đắk Hà",
    "Lục Ngạn", "Hương Khê", "Vân Canh", "Mường Lát",
)
COMMUNES = (
    "An Ninh Đông", "Xuân Lãnh", "Sơn Thành", "Ea Tân", "Hòa Phong", "Tam Quan", "Nghĩa Lâm",
    "Phước Sơn", "Thạch Lạc", "Ia Dom", "Tân Lập", "Bình Minh", "Cẩm Thủy", "Đức Phổ", "Hòa Thịnh",
    "Quế Lộc", "Trà Bồng", "Ea Kly",
)
HAMLETS = (
    "thôn Phú Long", "thôn Tân Hòa", "buôn Đung", "thôn Đông Bình", "thôn 4", "bản Nà Hin",
    "khu phố 2", "thôn Vĩnh Xuân", "làng Kon Brãi", "thôn Mỹ Thạnh", "ấp Tân Phong", "thôn Hà Lãm",
)
DEPARTMENTS = (
    "Sở Nông nghiệp và Môi trường", "Sở Văn hóa, Thể thao và Du lịch", "Sở Tư pháp",
    "Sở Khoa học và Công nghệ", "Sở Y tế", "Sở Giáo dục và Đào tạo",
)
CATEGORIES = (
    "Tin tức - Sự kiện", "Kinh tế - Chính trị", "Văn hóa - Xã hội", "Quốc phòng - An ninh",
    "Cải cách hành chính", "Nông thôn mới", "Chuyển đổi số", "Giáo dục - Y tế",
    "Hoạt động của lãnh đạo", "Tài nguyên - Môi trường",
)
FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi",
                "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Minh", "Thanh", "Đức", "Quốc", "Ngọc", "Xuân", "Thu", "Công")
GIVEN_NAMES = ("An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Khánh", "Lan", "Long", "Mai", "Nam",
               "Phong", "Quang", "Sơn", "Tâm", "Thảo", "Trung", "Tuấn", "Vinh", "Yến", "Hạnh", "Hòa",
               "Lộc", "Nghĩa", "Phúc", "Thắng")
TOPICS = (
    "chuyển đổi số", "cải cách hành chính", "xây dựng nông thôn mới", "phòng, chống thiên tai",
    "bảo đảm trật tự an toàn giao thông", "phát triển sản phẩm OCOP", "giảm nghèo bền vững",
    "phòng cháy, chữa cháy", "an toàn vệ sinh thực phẩm", "tiêm chủng mở rộng", "quản lý, bảo vệ rừng",
    "chuyển đổi cơ cấu cây trồng", "giải ngân vốn đầu tư công", "thu ngân sách nhà nước",
    "cấp căn cước và định danh điện tử", "phổ biến, giáo dục pháp luật", "phòng, chống ma túy",
    "phát triển bảo hiểm xã hội tự nguyện", "xóa nhà tạm, nhà dột nát", "khuyến học, khuyến tài",
    "bảo vệ môi trường", "tiếp công dân", "dân vận khéo",
)
EVENTS = (
    "hội nghị", "hội nghị trực tuyến", "lớp tập huấn", "buổi làm việc", "hội thảo", "đợt kiểm tra",
    "buổi giám sát", "lễ ra quân", "hội nghị sơ kết", "hội nghị tổng kết", "buổi tọa đàm",
)
MODELS = (
    "Tổ tự quản an ninh trật tự", "Đường hoa nông thôn mới", "Vườn mẫu kiểu mẫu", "Tủ sách pháp luật",
    "Khu dân cư không rác thải nhựa", "Chợ 4.0 không dùng tiền mặt", "Nhà nhân ái", "Cây giống cho hộ nghèo",
)
ANNIVERSARIES = (
    "Ngày thành lập Đảng Cộng sản Việt Nam 3/2", "Ngày Giải phóng miền Nam, thống nhất đất nước 30/4",
    "Ngày sinh Chủ tịch Hồ Chí Minh 19/5", "Ngày Quốc khánh 2/9", "Ngày Thương binh - Liệt sĩ 27/7",
    "Ngày Nhà giáo Việt Nam 20/11", "Ngày hội Đại đoàn kết toàn dân tộc 18/11",
)
SEASONS = ("Đông Xuân", "Hè Thu", "Thu Đông", "Mùa")
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")

# Units that can act in an article, per portal level; "{lv}" is the level word.
ORGS = (
    "UBND {lv}", "HĐND {lv}", "Ủy ban MTTQ Việt Nam {lv}", "Hội Nông dân {lv}",
    "Hội Liên hiệp Phụ nữ {lv}", "Hội Cựu chiến binh {lv}", "Công an {lv}", "Đoàn Thanh niên {lv}",
    "Ban Chỉ huy Quân sự {lv}", "Trung tâm Văn hóa - Thông tin {lv}",
)
DEPT_ORGS = ("{dept}", "Văn phòng Sở", "Thanh tra Sở", "Công đoàn {dept}", "Phòng Kế hoạch - Tài chính",
             "Chi cục trực thuộc Sở")
ROLES = ("Chủ tịch UBND {lv}", "Phó Chủ tịch UBND {lv}", "Chủ tịch HĐND {lv}", "Phó Bí thư Thường trực",
         "Trưởng Ban Dân vận", "Chủ tịch Ủy ban MTTQ Việt Nam {lv}")
DEPT_ROLES = ("Giám đốc Sở", "Phó Giám đốc Sở", "Chánh Văn phòng Sở", "Chánh Thanh tra Sở")

TITLES = (
    "{Org} tổ chức {event} về {topic} năm {year}",
    "Hội nghị tổng kết công tác {topic} năm {year}",
    "{Place}: Đẩy mạnh {topic} gắn với {topic2}",
    "Kỳ họp thứ {small} HĐND {lv} khóa {roman}, nhiệm kỳ 2021 - 2026",
    "{Lv} {locality} có thêm {small} sản phẩm đạt chuẩn OCOP 3 sao",
    "Triển khai kế hoạch {topic} năm {year} trên địa bàn {lv}",
    "Lãnh đạo {lv} kiểm tra công tác {topic} tại {hamlet}",
    "Tăng cường công tác {topic} trong những tháng cuối năm {year}",
    "Sơ kết 6 tháng đầu năm {year} về {topic}",
    "{Org} trao {hundreds} suất quà cho hộ nghèo nhân dịp Tết Nguyên đán {year}",
    "Tuyên truyền {topic} đến đồng bào vùng sâu, vùng xa",
    "Ra mắt mô hình “{model}” tại {hamlet}",
    "{Org} ra quân hưởng ứng {topic} năm {year}",
    "Giải ngân vốn đầu tư công {months} tháng đầu năm {year} đạt {pct}% kế hoạch",
)
LEADS = (
    "({src}) - Ngày {d}/{m}, {org} đã tổ chức {event} về {topic} năm {year}.",
    "Nhằm nâng cao hiệu quả công tác {topic}, {org} vừa tổ chức {event} cho hơn {people} cán bộ, "
    "công chức và người dân trên địa bàn.",
    "Sáng {d}/{m}, tại hội trường {hall}, {org} tổ chức {event} đánh giá kết quả {topic} {period}.",
    "Thực hiện chỉ đạo của cấp trên, {org} vừa phối hợp với {org2} tổ chức {event} về {topic}.",
)
SENTENCES = (
    "Ngày {d}/{m}, {org} đã tổ chức {event} về {topic}, với sự tham dự của {people} đại biểu đến từ "
    "các cơ quan, đơn vị trên địa bàn.",
    "Chủ trì {event} có đồng chí {person}, {role}.",
    "Theo báo cáo, năm {year} toàn {lv} đã hoàn thành {done} trên tổng số {total} chỉ tiêu, "
    "đạt tỷ lệ {pct}%.",
    "Công tác {topic} tiếp tục nhận được sự quan tâm, chỉ đạo sát sao của cấp ủy, chính quyền các cấp.",
    "Bên cạnh kết quả đạt được, việc triển khai {topic} vẫn còn một số khó khăn như nguồn lực hạn chế, "
    "nhận thức của một bộ phận người dân chưa đầy đủ.",
    "Tổng kinh phí thực hiện khoảng {money} triệu đồng, trong đó ngân sách nhà nước hỗ trợ {pct}%, "
    "phần còn lại do nhân dân đóng góp.",
    "Đến nay, toàn {lv} có {num} hộ gia đình tham gia, tăng {small} hộ so với cùng kỳ năm trước.",
    "Các đại biểu đã tập trung thảo luận, chia sẻ kinh nghiệm và đề xuất nhiều giải pháp thiết thực "
    "nhằm nâng cao hiệu quả {topic}.",
    "Phát biểu kết luận, đồng chí {person} đề nghị các đơn vị tiếp tục quán triệt, triển khai đồng bộ "
    "các nhiệm vụ, giải pháp đã đề ra.",
    "Dịp này, {org} đã khen thưởng {small} tập thể và {small2} cá nhân có thành tích xuất sắc.",
    "Được biết, đây là hoạt động thiết thực nhằm chào mừng kỷ niệm {anniv}.",
    "Trong {months} tháng đầu năm, lực lượng chức năng đã kiểm tra {hundreds} cơ sở, phát hiện và xử lý "
    "{small} trường hợp vi phạm.",
    "Tỷ lệ hồ sơ giải quyết trước và đúng hạn đạt {pct}%, tỷ lệ thanh toán trực tuyến đạt {pct2}%.",
    "Mục tiêu đến hết năm {year}, phấn đấu có thêm {small} thôn, khu dân cư đạt chuẩn nông thôn mới "
    "kiểu mẫu.",
    "Qua {event}, cán bộ, công chức nắm vững các quy định mới, vận dụng linh hoạt vào thực tiễn công "
    "tác tại cơ sở.",
    "Nhiều mô hình, cách làm hay như “{model}” được nhân rộng, mang lại hiệu quả thiết thực.",
    "Diện tích gieo trồng vụ {season} đạt {num} ha, năng suất bình quân ước đạt {dec} tạ/ha.",
    "Tại {hamlet}, bà con đã hiến hơn {num} m² đất, đóng góp {hundreds} ngày công để làm đường "
    "giao thông nông thôn.",
    "Đoàn công tác đã đến thăm, tặng quà và động viên các gia đình chính sách, hộ có hoàn cảnh đặc "
    "biệt khó khăn tại {hamlet}.",
    "Thời gian tới, {org} sẽ tiếp tục đẩy mạnh tuyên truyền, vận động nhân dân chung tay thực hiện "
    "{topic}.",
)
CAPTIONS = (
    "Quang cảnh {event}", "Đồng chí {person} phát biểu tại {event}",
    "Các đại biểu tham quan mô hình tại {hamlet}", "{Org} trao quà cho các hộ gia đình khó khăn",
    "Lực lượng chức năng hướng dẫn người dân tại {hamlet}",
)


# --------------------------------------------------------------------------- data model


@dataclass
class MirrorInfo:
    """What :func:`generate_mirror` wrote."""

    root: Path
    registry_path: Path
    truth_path: Path
    hosts: list[str]
    articles: int
    pages: int


@dataclass(eq=False)
class _Category:
    name: str
    slug: str
    articles: list[_Article] = field(default_factory=list)


@dataclass(eq=False)
class _Article:
    num: int
    title: str
    slug: str
    category: _Category
    published: datetime
    views: int
    lead: str
    paragraphs: list[str]
    caption: str
    image: int
    author: str
    path: str = ""
    pos: int = 0  # index in its category's list
    story: str = ""  # story key in the truth (crawler.mirror.stories)
    story_edits: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Portal:
    index: int
    layout: str
    host: str
    pid: str
    name: str
    level: str
    province: str
    locality: str
    lv: str  # level word used in text: "huyện", "xã" or "tỉnh"
    has_views: bool
    src: str  # short source tag opening some leads, e.g. "Cổng TTĐT huyện"
    dept: str = ""  # department name, for department portals
    categories: list[_Category] = field(default_factory=list)
    articles: list[_Article] = field(default_factory=list)  # newest first
    group_id: int = 20184


# --------------------------------------------------------------------------- helpers


def ascii_fold(text: str) -> str:
    """Vietnamese text without diacritics (``đ`` -> ``d``)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def slugify(text: str, keep_case: bool = False) -> str:
    folded = ascii_fold(text)
    if not keep_case:
        folded = folded.lower()
    return re.sub(r"[^A-Za-z0-9]+", "-", folded).strip("-")


def fmt_int(value: int) -> str:
    """``1234567`` -> ``"1.234.567"`` (Vietnamese thousands separator)."""
    return f"{value:,}".replace(",", ".")


def fmt_dec(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def ddmmyyyy(dt: datetime) -> str:
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year}"


def cap_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Text:
    """Fills the templates for one portal from a seeded RNG."""

    def __init__(self, rng: random.Random, portal: _Portal) -> None:
        self.rng = rng
        self.portal = portal
        lv = portal.lv
        if portal.level == "department":
            self.orgs = [o.format(dept=portal.dept) for o in DEPT_ORGS]
            self.roles = list(DEPT_ROLES)
        else:
            self.orgs = [o.format(lv=lv) for o in ORGS]
            self.roles = [r.format(lv=lv) for r in ROLES]

    def person(self) -> str:
        r = self.rng
        return f"{r.choice(FAMILY_NAMES)} {r.choice(MIDDLE_NAMES)} {r.choice(GIVEN_NAMES)}"

    def slots(self, year: int, month: int, day: int) -> dict[str, str]:
        r = self.rng
        org = r.choice(self.orgs)
        topic = r.choice(TOPICS)
        small, small2 = r.randint(2, 40), r.randint(2, 60)
        total = r.randint(12, 40)
        d = max(1, day - r.randint(0, 3))
        p = self.portal
        return {
            "org": org, "Org": cap_first(org), "org2": r.choice(self.orgs), "topic": topic,
            "topic2": r.choice([t for t in TOPICS if t != topic]), "event": r.choice(EVENTS),
            "year": str(year), "d": str(d), "m": str(month), "num": fmt_int(r.randint(30, 90000)),
            "small": str(small), "small2": str(small2), "total": str(total),
            "done": str(r.randint(total // 2, total)), "people": str(r.randint(40, 650)),
            "hundreds": str(r.randint(20, 900)), "pct": fmt_dec(r.uniform(40, 99.9)),
            "pct2": fmt_dec(r.uniform(20, 95)), "money": fmt_int(r.randint(120, 9500)),
            "dec": fmt_dec(r.uniform(40, 75)), "months": str(r.choice((3, 6, 9))),
            "person": self.person(), "role": r.choice(self.roles), "lv": p.lv, "Lv": cap_first(p.lv),
            "locality": p.locality, "Place": f"{cap_first(p.lv)} {p.locality}", "hamlet": r.choice(HAMLETS),
            "model": r.choice(MODELS), "anniv": r.choice(ANNIVERSARIES), "season": r.choice(SEASONS),
            "roman": r.choice(ROMAN), "src": p.src, "hall": f"UBND {p.lv}" if p.level != "department" else "Sở",
            "period": r.choice((f"năm {year}", f"6 tháng đầu năm {year}", "giai đoạn 2021 - 2025",
                                f"quý {r.choice(ROMAN[:4])} năm {year}")),
        }

    def article(self, num: int, category: _Category, published: datetime) -> _Article:
        r = self.rng
        s = self.slots(published.year, published.month, published.day)
        title = r.choice(TITLES).format(**s)
        lead = r.choice(LEADS).format(**s)
        # Sentence templates are drawn without replacement, so an article rarely repeats itself.
        pool: list[str] = []
        paragraphs = []
        for n in range(r.randint(4, 8)):
            picks = []
            for _ in range(r.randint(2, 3)):
                if not pool:
                    pool = r.sample(SENTENCES, len(SENTENCES))
                picks.append(pool.pop())
            slots = s if n == 0 else self.slots(published.year, published.month, published.day)
            paragraphs.append(" ".join(t.format(**slots) for t in picks))
        caption = r.choice(CAPTIONS).format(**s)
        writer = f"{r.choice(GIVEN_NAMES)} {r.choice(GIVEN_NAMES)}"
        author = writer if r.random() < 0.5 else f"{writer} - {s['org']}"
        views = int(min(350_000, math.exp(r.gauss(6.8, 1.4))))
        return _Article(num=num, title=title, slug=slugify(title), category=category, published=published,
                        views=views, lead=lead, paragraphs=paragraphs, caption=caption, image=r.randint(1, 4),
                        author=author)


def _body_html(rng: random.Random, paragraphs: Sequence[str], entities: bool) -> list[str]:
    """Paragraph inner HTML: entities, ``&nbsp;``, zero-width spaces and one NFD paragraph."""
    out = []
    nfd_at = rng.randrange(len(paragraphs))
    zw_at = rng.randrange(len(paragraphs)) if rng.random() < 0.6 else -1
    ent_at = rng.randrange(len(paragraphs))
    for i, text in enumerate(paragraphs):
        if i == nfd_at:
            text = unicodedata.normalize("NFD", text)
        h = html.escape(text, quote=False)
        if entities or i == ent_at:
            h = h.translate(_ENTITY_TABLE)
        if i == zw_at:
            spaces = [m.start() for m in re.finditer(" ", h)]
            for pos in sorted(rng.sample(spaces, min(2, len(spaces))), reverse=True):
                h = h[:pos] + ZWSP + h[pos:]
        if rng.random() < 0.3:
            spaces = [m.start() for m in re.finditer(" ", h)]
            if spaces:
                pos = rng.choice(spaces)
                h = h[:pos] + "&nbsp;" + h[pos + 1:]
        out.append(h)
    return out


# --------------------------------------------------------------------------- layouts


class _Layout:
    """Base layout: URL scheme and page templates of one CMS family."""

    key = ""
    about_path = "/gioi-thieu.html"
    contact_path = "/lien-he.html"

    def __init__(self, portal: _Portal, rng: random.Random) -> None:
        self.p = portal
        self.rng = rng
        self.top: list[_Article] = []  # most viewed articles, best first

    # URLs -------------------------------------------------------------------
    def article_path(self, a: _Article) -> str:
        raise NotImplementedError

    def listing_path(self, cat: _Category, page: int) -> str:
        raise NotImplementedError

    def category_path(self, cat: _Category) -> str:
        return self.listing_path(cat, 1)

    # published-at line --------------------------------------------------------
    def date_text(self, dt: datetime) -> str:
        return f"{ddmmyyyy(dt)} {dt:%H:%M}"

    def date_only(self) -> bool:
        return False

    def views_text(self, n: int) -> str:
        return f"Lượt xem: {fmt_int(n)}"

    # shared pieces -------------------------------------------------------------
    def nav(self) -> list[tuple[str, str]]:
        items = [("/", "Trang chủ"), (self.about_path, "Giới thiệu")]
        items += [(self.category_path(c), c.name) for c in self.p.categories]
        items.append((self.contact_path, "Liên hệ"))
        return items

    def most_viewed(self, exclude: _Article | None) -> list[tuple[_Article, str]]:
        """(article, info text) for the "Tin xem nhiều" box."""
        picked = [a for a in self.top if a is not exclude][:5]
        out = []
        for a in picked:
            info = f"({ddmmyyyy(a.published)})"
            if self.p.has_views:
                info += f" {self.views_text(a.views)}"
            out.append((a, info))
        return out

    def related(self, a: _Article) -> list[_Article]:
        items = a.category.articles
        i = a.pos
        others = items[max(0, i - 2):i] + items[i + 1:i + 4]
        return others[:5]

    def footer_links(self) -> str:
        return (f'<a href="{OFFSITE_URL}" target="_blank">Cổng Thông tin điện tử Chính phủ</a> | '
                f'<a href="{ADMIN_PATH}">Quản trị</a> | <a href="{self.contact_path}">Liên hệ</a>')

    def pager(self, cat: _Category, page: int, pages: int, wrap: Callable[[str, str, bool], str]) -> str:
        if pages <= 1:
            return ""
        parts = []
        if page > 1:
            parts.append(wrap(esc(self.listing_path(cat, 1)), "«", False))
            parts.append(wrap(esc(self.listing_path(cat, page - 1)), "‹", False))
        for n in range(max(1, page - 3), min(pages, page + 3) + 1):
            parts.append(wrap(esc(self.listing_path(cat, n)), str(n), n == page))
        if page < pages:
            parts.append(wrap(esc(self.listing_path(cat, page + 1)), "›", False))
            parts.append(wrap(esc(self.listing_path(cat, pages)), "»", False))
        return "".join(parts)

    def listing_title(self, cat: _Category, page: int) -> str:
        return cat.name if page == 1 else f"{cat.name} - Trang {page}"

    # pages (overridden) ----------------------------------------------------------
    def page(self, title: str, main: str, sidebar: str) -> str:
        raise NotImplementedError

    def article_html(self, a: _Article, body: list[str]) -> str:
        raise NotImplementedError

    def listing_item(self, a: _Article) -> str:
        return (f'<li><a href="{esc(a.path)}">{esc(a.title)}</a> <span class="date">'
                f'({ddmmyyyy(a.published)})</span><p>{esc(a.lead)}</p></li>')

    def listing_html(self, cat: _Category, page: int, pages: int, items: Sequence[_Article]) -> str:
        lis = "".join(self.listing_item(a) for a in items)
        pager = self.pager(cat, page, pages, _pager_link)
        main = (f'<h1 class="cat-title">{esc(cat.name)}</h1><ul class="news-list">{lis}</ul>'
                f'<div class="pagination">{pager}</div>')
        return self.page(self.listing_title(cat, page), main, self.sidebar(None))

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}">{esc(a.title)}</a> <span class="info">{info}</span></li>'
                      for a, info in self.most_viewed(exclude))
        return f'<div class="block most-viewed"><h3>Tin xem nhiều</h3><ul>{lis}</ul></div>'

    def home_html(self) -> str:
        latest = "".join(self.listing_item(a) for a in self.p.articles[:PER_PAGE])
        cats = "".join(f'<li><a href="{esc(self.category_path(c))}">{esc(c.name)}</a></li>' for c in self.p.categories)
        main = (f'<div class="home-latest"><h2>Tin mới nhất</h2><ul class="news-list">{latest}</ul></div>'
                f'<div class="home-cats"><h2>Chuyên mục</h2><ul>{cats}</ul></div>')
        return self.page(self.p.name, main, self.sidebar(None))

    def static_html(self, title: str, paragraphs: Sequence[str]) -> str:
        body = "".join(f"<p>{esc(t)}</p>" for t in paragraphs)
        return self.page(title, f'<div class="static-page"><h1>{esc(title)}</h1>{body}</div>', self.sidebar(None))

    def extra_pages(self) -> list[tuple[str, str]]:
        return []


def _pager_link(href: str, text: str, current: bool) -> str:
    if current:
        return f'<span class="current">{text}</span> '
    return f'<a href="{href}">{text}</a> '


class _TanDan(_Layout):
    key = "tandan"
    about_path = "/portal/Pages/Gioi-thieu.aspx"
    contact_path = "/portal/Pages/Lien-he.aspx"

    def article_path(self, a: _Article) -> str:
        d = a.published
        tail = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
        stem = slugify(a.title, keep_case=True)[:40].rstrip("-")
        return f"/portal/Pages/{d.year}-{d.month}-{d.day}/{stem}{tail}.aspx"

    def listing_path(self, cat: _Category, page: int) -> str:
        base = f"/portal/Pages/{slugify(cat.name, keep_case=True).capitalize()}.aspx"
        return base if page == 1 else f"{base}?PageIndex={page}"

    def date_only(self) -> bool:
        return True

    def date_text(self, dt: datetime) -> str:
        return f"Đăng ngày {dt.day:02d} - {dt.month:02d} - {dt.year}"

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}">{esc(a.title)}</a> <span class="tandan-date">{info}</span></li>'
                      for a, info in self.most_viewed(exclude))
        return (f'<div class="tandan-box tandan-box-xemnhieu"><h3 class="tandan-h3-title">Tin xem nhiều</h3>'
                f"<ul>{lis}</ul></div>")

    def page(self, title: str, main: str, sidebar: str) -> str:
        p = self.p
        menu = "".join(f'<li class="tandan-li-menu"><a href="{esc(h)}">{esc(t)}</a></li>' for h, t in self.nav())
        viewstate = base64.b64encode(hashlib.sha512(title.encode("utf-8")).digest()).decode("ascii")
        return (
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
            '<html dir="ltr" lang="vi-VN"><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8" />'
            f"<title>{esc(title)} - {esc(p.name.upper())}</title></head>\n"
            '<body><form method="post" action="./" id="aspnetForm">'
            f'<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDw{viewstate}" />\n'
            f'<div id="s4-workspace"><div class="tandan-header"><span class="tandan-portal-name">{esc(p.name.upper())}'
            f'</span><ul class="tandan-ul-menu">{menu}</ul></div>\n'
            f'<table class="tandan-layout" width="100%"><tr><td class="tandan-left" valign="top">{sidebar}</td>\n'
            f'<td class="tandan-main" valign="top">{main}</td></tr></table>\n'
            f'<div class="tandan-footer"><p><strong>{esc(p.name.upper())}</strong></p>'
            f"<p>Cơ quan chủ quản: UBND {esc(p.lv)} {esc(p.locality)}, tỉnh {esc(p.province)}</p>"
            f"<p>{self.footer_links()}</p></div></div></form></body></html>\n"
        )

    def article_html(self, a: _Article, body: list[str]) -> str:
        views = f' | <span class="tandan-span-view">{self.views_text(a.views)}</span>' if self.p.has_views else ""
        ps = ['<p style="text-align: justify;">&nbsp;&nbsp;&nbsp;&nbsp;' + b + "</p>" for b in body]
        fig = (f'<p style="text-align: center;"><img alt="" src="/portal/PublishingImages/anh-{a.image}.jpg" /></p>'
               f'<p style="text-align: center;"><em>{esc(a.caption).translate(_ENTITY_TABLE)}</em></p>')
        ps.insert(min(2, len(ps)), fig)
        ps.append("<p>&nbsp;</p>")
        ps.append(f'<p style="text-align: right;"><strong>{esc(a.author).translate(_ENTITY_TABLE)}</strong></p>')
        tinkhac = "".join(f'<li><a href="{esc(o.path)}">{esc(o.title)}</a> <span class="tandan-date">'
                          f"({ddmmyyyy(o.published)})</span></li>" for o in self.related(a))
        main = (
            f'<div class="tandan-breadcrumb"><a href="/">Trang chủ</a> &gt; '
            f'<a href="{esc(self.category_path(a.category))}">{esc(a.category.name)}</a></div>\n'
            f'<div class="tandan-article-news"><p class="tandan-p-article-news-title">{esc(a.title)}</p>\n'
            f'<div class="tandan-div-date"><span class="tandan-span-date-publish">{self.date_text(a.published)}</span>'
            f"{views}</div>\n"
            f'<p class="tandan-p-article-news-summary">{esc(a.lead)}</p>\n'
            f'<div class="ms-rtestate-field">{"".join(ps)}</div></div>\n'
            f'<div class="tandan-box-tinkhac"><h3 class="tandan-h3-title">Tin khác</h3><ul>{tinkhac}</ul></div>'
        )
        return self.page(a.title, main, self.sidebar(a))


class _NukeViet(_Layout):
    key = "nukeviet"
    about_path = "/vi/about/gioi-thieu.html"
    contact_path = "/vi/contact/"

    def article_path(self, a: _Article) -> str:
        return f"/vi/news/{a.category.slug}/{a.slug}-{a.num}.html"

    def listing_path(self, cat: _Category, page: int) -> str:
        return f"/vi/news/{cat.slug}/" if page == 1 else f"/vi/news/{cat.slug}/page-{page}"

    def date_text(self, dt: datetime) -> str:
        return f"{_WEEKDAYS[dt.weekday()]}, {ddmmyyyy(dt)} - {dt:%H:%M}"

    def nav(self) -> list[tuple[str, str]]:
        items = super().nav()
        items.insert(2, ("/vi/news/", "Tin tức"))
        return items

    def page(self, title: str, main: str, sidebar: str) -> str:
        p = self.p
        menu = "".join(f'<li><a title="{esc(t)}" href="{esc(h)}">{esc(t)}</a></li>' for h, t in self.nav())
        return (
            '<!DOCTYPE html>\n<html lang="vi" xmlns="http://www.w3.org/1999/xhtml">\n<head>'
            f"<title>{esc(title)} - {esc(p.name)}</title>"
            '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />'
            '<meta name="generator" content="NukeViet v4.5" />'
            '<link rel="alternate" href="/vi/news/rss/" title="Tin Tức" type="application/rss+xml" /></head>\n'
            f'<body><div class="wraper"><header><div id="header"><a title="{esc(p.name)}" href="/">'
            f'<span class="site_name">{esc(p.name)}</span></a></div></header>\n'
            f'<nav class="second-nav" id="menusite"><ul class="nav navbar-nav">{menu}</ul></nav>\n'
            f'<section><div class="container" id="body"><div class="row"><div class="col-md-18">{main}</div>\n'
            f'<div class="col-md-6">{sidebar}</div></div></div></section>\n'
            f'<footer id="footer"><p>{esc(p.name)} - {esc(p.province)}</p><p>{self.footer_links()}</p>'
            "</footer></div></body></html>\n"
        )

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}" title="{esc(a.title)}">{esc(a.title)}</a>'
                      f' <span class="text-muted">{info}</span></li>' for a, info in self.most_viewed(exclude))
        return f'<div class="panel panel-default"><div class="panel-heading">Tin xem nhiều</div><ul>{lis}</ul></div>'

    def article_html(self, a: _Article, body: list[str]) -> str:
        views = f' <span class="hits">{self.views_text(a.views)}</span>' if self.p.has_views else ""
        ps = [f"<p>{b}</p>" for b in body]
        ps.insert(min(3, len(ps)), f'<p style="text-align:center"><img alt="{esc(a.caption)}" '
                                   f'src="/uploads/news/anh-{a.image}.jpg" /><br /><em>{esc(a.caption)}</em></p>')
        related = "".join(f'<li><a href="{esc(o.path)}" title="{esc(o.title)}">{esc(o.title)}</a> '
                          f'<span class="date">({ddmmyyyy(o.published)})</span></li>' for o in self.related(a))
        main = (
            '<div class="news_column panel panel-default" itemscope itemtype="http://schema.org/NewsArticle">'
            f'<div class="panel-body"><h1 class="title" itemprop="headline">{esc(a.title)}</h1>\n'
            f'<div class="row"><span class="h5"><span class="time">{self.date_text(a.published)}</span>{views}</span></div>\n'
            f'<div class="hometext" itemprop="description" id="hometext">{esc(a.lead)}</div>\n'
            f'<div id="news-bodyhtml" class="bodytext">{"".join(ps)}</div>\n'
            f'<div class="text-right"><p class="h5"><strong>Tác giả: </strong>{esc(a.author)}</p></div></div></div>\n'
            f'<div class="news_column panel panel-default"><div class="panel-body other-news">'
            f'<p class="h3"><strong>Những tin cũ hơn</strong></p><ul class="related">{related}</ul></div></div>'
        )
        return self.page(a.title, main, self.sidebar(a))

    def extra_pages(self) -> list[tuple[str, str]]:
        items = []
        for a in self.p.articles[:20]:
            pub = format_datetime(a.published.replace(tzinfo=VN_TZ))
            items.append(
                f"<item><title>{esc(a.title)}</title><link>http://{self.p.host}:{{PORT}}{esc(a.path)}</link>"
                f'<guid isPermaLink="false">{a.num}</guid><description>{esc(a.lead)}</description>'
                f"<pubDate>{pub}</pubDate></item>"
            )
        rss = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
               f"<title>{esc(self.p.name)} - Tin tức</title><link>http://{self.p.host}:{{PORT}}/vi/news/</link>"
               f"<description>Tin tức</description><language>vi</language>{''.join(items)}</channel></rss>\n")
        latest = "".join(self.listing_item(a) for a in self.p.articles[:PER_PAGE])
        cats = "".join(f'<li><a href="{esc(self.category_path(c))}">{esc(c.name)}</a></li>' for c in self.p.categories)
        module_home = self.page("Tin tức", f'<h1 class="cat-title">Tin tức</h1><ul class="news-list">{latest}</ul>'
                                           f'<ul class="subcats">{cats}</ul>', self.sidebar(None))
        return [("/vi/news/rss/", rss), ("/vi/news/", module_home)]


class _Liferay(_Layout):
    key = "liferay"
    about_path = "/vi/gioi-thieu"
    contact_path = "/vi/lien-he"
    _Q = "_dsnews_WAR_vnpteportalnewsportlet_"

    def article_path(self, a: _Article) -> str:
        return f"/vi/news/{a.category.slug}/-/details/{self.p.group_id}/{a.slug}-{a.num}"

    def listing_path(self, cat: _Category, page: int) -> str:
        base = f"/vi/news/{cat.slug}"
        return base if page == 1 else f"{base}?{self._Q}cur={page}&{self._Q}delta=10"

    def views_text(self, n: int) -> str:
        return f"Số lượt xem: {fmt_int(n)}"

    def page(self, title: str, main: str, sidebar: str) -> str:
        p = self.p
        menu = "".join(f'<li class="lfr-nav-item"><a href="{esc(h)}"><span>{esc(t)}</span></a></li>'
                       for h, t in self.nav())
        return (
            '<!DOCTYPE html>\n<html class="ltr" dir="ltr" lang="vi-VN">\n'
            f'<head><title>{esc(title)} - {esc(p.name)}</title>'
            '<meta content="text/html; charset=UTF-8" http-equiv="content-type" /></head>\n'
            '<body class="yui3-skin-sam controls-visible guest-site signed-out public-page site">'
            f'<div id="wrapper"><header id="banner"><h2 class="site-title">{esc(p.name)}</h2>'
            f'<nav id="navigation"><ul role="menubar">{menu}</ul></nav></header>\n'
            f'<div id="content"><div class="portlet-layout row-fluid"><div class="portlet-column span8" id="column-1">'
            f'{main}</div>\n<div class="portlet-column span4" id="column-2">{sidebar}</div></div></div>\n'
            f'<footer id="footer"><p>Cơ quan chủ quản: {esc(p.name)}</p><p>{self.footer_links()}</p></footer>'
            "</div></body></html>\n"
        )

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}">{esc(a.title)}</a><div class="news-info">{info}</div></li>'
                      for a, info in self.most_viewed(exclude))
        return (f'<div class="portlet-boundary portlet-xemnhieu"><h2 class="portlet-title">Tin xem nhiều</h2>'
                f"<ul>{lis}</ul></div>")

    def article_html(self, a: _Article, body: list[str]) -> str:
        views = f' | <span class="view-count">{self.views_text(a.views)}</span>' if self.p.has_views else ""
        ps = [f'<p style="text-align: justify;">{b}</p>' for b in body]
        ps.insert(min(1, len(ps)), f'<p style="text-align: center;"><img src="/documents/{self.p.group_id}/images/'
                                   f'anh-{a.image}.jpg" /></p><p style="text-align: center;"><em>{esc(a.caption)}</em></p>')
        related = "".join(f'<li><a href="{esc(o.path)}">{esc(o.title)}</a> <span>({ddmmyyyy(o.published)})</span></li>'
                          for o in self.related(a))
        main = (
            '<div class="portlet-boundary portlet-boundary_CmsViewChiTietBaiViet_WAR_CmsViewEcoITportlet_">'
            '<section><article><div class="tools"><a href="javascript:;">A-</a> <a href="javascript:;">A+</a> '
            '<a href="javascript:window.print();">In bài</a></div>\n'
            f"<h1>{esc(a.title)}</h1>\n"
            f'<div class="date-news">Ngày đăng: {self.date_text(a.published)}{views}</div>\n'
            f'<div class="sapo"><strong>{esc(a.lead)}</strong></div>\n'
            f'<div id="contentnews">{"".join(ps)}</div>\n'
            f'<div class="author" style="text-align: right;"><strong>{esc(a.author)}</strong></div>\n'
            f'</article></section></div><div class="other-news"><h3>Tin liên quan</h3><ul>{related}</ul></div>'
        )
        return self.page(a.title, main, self.sidebar(a))


class _District(_Layout):
    key = "district"

    def article_path(self, a: _Article) -> str:
        return f"/tin-tuc/{a.slug}-{a.num}.html"

    def listing_path(self, cat: _Category, page: int) -> str:
        return f"/chuyen-muc/{cat.slug}/trang-{page}.html"

    def meta_line(self, a: _Article) -> str:
        d = a.published
        line = f"Ngày đăng {ddmmyyyy(d)} | {d:%H:%M}"
        return line + (f" | View count: {fmt_int(a.views)}" if self.p.has_views else "")

    def most_viewed(self, exclude: _Article | None) -> list[tuple[_Article, str]]:
        return [(a, self.meta_line(a)) for a in self.top if a is not exclude][:5]

    def page(self, title: str, main: str, sidebar: str) -> str:
        p = self.p
        menu = "".join(f'<li><a href="{esc(h)}">{esc(t.upper())}</a></li>' for h, t in self.nav())
        return (
            '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
            f"<title>{esc(title)} | {esc(p.name)}</title></head><body>\n"
            f'<div id="wrapper"><div id="header"><div class="banner"><a href="/"><span class="site-name">'
            f'{esc(p.name.upper())}</span></a></div><ul id="mainmenu">{menu}</ul></div>\n'
            f'<div id="content"><div class="col-main">{main}</div><div class="col-right">{sidebar}</div></div>\n'
            f'<div id="footer"><p>{esc(p.name)}</p><p>{self.footer_links()}</p></div></div></body></html>\n'
        )

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}">{esc(a.title)}</a><div class="info">{info}</div></li>'
                      for a, info in self.most_viewed(exclude))
        return f'<div class="block most-viewed"><div class="block-title">TIN XEM NHIỀU</div><ul>{lis}</ul></div>'

    def article_html(self, a: _Article, body: list[str]) -> str:
        ps = [f"<p>{b}</p>" for b in body]
        ps.insert(min(2, len(ps)), f'<div class="image"><img src="/images/news/anh-{a.image}.jpg" alt="">'
                                   f'<p class="caption">{esc(a.caption)}</p></div>')
        related = "".join(f'<li><a href="{esc(o.path)}">{esc(o.title)}</a> ({ddmmyyyy(o.published)})</li>'
                          for o in self.related(a))
        main = (
            f'<div class="category-title"><a href="{esc(self.category_path(a.category))}">'
            f"{esc(a.category.name.upper())}</a></div>\n"
            f'<div class="news-detail"><h1>{esc(a.title)}</h1>\n<div class="info">{self.meta_line(a)}</div>\n'
            f'<div class="content"><p class="sapo"><b>{esc(a.lead)}</b></p>{"".join(ps)}'
            f'<p class="author" style="text-align:right"><b>{esc(a.author)}</b></p></div></div>\n'
            f'<div class="other-news"><div class="block-title">Tin cùng chuyên mục</div><ul>{related}</ul></div>'
        )
        return self.page(a.title, main, self.sidebar(a))


class _WordPress(_Layout):
    key = "wordpress"
    about_path = "/gioi-thieu/"
    contact_path = "/lien-he/"

    def __init__(self, portal: _Portal, rng: random.Random) -> None:
        super().__init__(portal, rng)
        self.used: set[str] = set()

    def article_path(self, a: _Article) -> str:
        d = a.published
        slug, n = a.slug, 1
        while f"{d.year}/{d.month}/{slug}" in self.used:
            n += 1
            slug = f"{a.slug}-{n}"
        self.used.add(f"{d.year}/{d.month}/{slug}")
        return f"/{d.year}/{d.month:02d}/{slug}/"

    def listing_path(self, cat: _Category, page: int) -> str:
        return f"/chuyen-muc/{cat.slug}/" if page == 1 else f"/chuyen-muc/{cat.slug}/?page={page}"

    def date_text(self, dt: datetime) -> str:
        return f"{_WEEKDAYS[dt.weekday()]}, ngày {dt.day} tháng {dt.month} năm {dt.year} lúc {dt:%H:%M}"

    def views_text(self, n: int) -> str:
        return f"Lượt đọc: {fmt_int(n)}"

    def page(self, title: str, main: str, sidebar: str) -> str:
        p = self.p
        menu = "".join(f'<li class="menu-item"><a href="{esc(h)}">{esc(t)}</a></li>' for h, t in self.nav())
        return (
            '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="UTF-8">'
            f"<title>{esc(title)} &#8211; {esc(p.name)}</title>"
            '<meta name="generator" content="WordPress 6.4" /></head>\n'
            f'<body class="wp-site"><div id="page" class="site"><header class="site-header">'
            f'<p class="site-title"><a href="/" rel="home">{esc(p.name)}</a></p>'
            f'<nav class="main-navigation"><ul id="primary-menu" class="menu">{menu}</ul></nav></header>\n'
            f'<div id="content" class="site-content"><main id="main" class="site-main">{main}</main>\n'
            f'<aside id="secondary" class="widget-area">{sidebar}</aside></div>\n'
            f'<footer class="site-footer"><div class="site-info">© {esc(p.name)}. {self.footer_links()}</div></footer>'
            "</div></body></html>\n"
        )

    def sidebar(self, exclude: _Article | None) -> str:
        lis = "".join(f'<li><a href="{esc(a.path)}">{esc(a.title)}</a> <span class="post-date">{info}</span></li>'
                      for a, info in self.most_viewed(exclude))
        return f'<section class="widget widget_popular"><h2 class="widget-title">Tin xem nhiều</h2><ul>{lis}</ul></section>'

    def article_html(self, a: _Article, body: list[str]) -> str:
        views = f' <span class="post-views">{self.views_text(a.views)}</span>' if self.p.has_views else ""
        ps = [f"<p>{b}</p>" for b in body]
        ps.insert(min(2, len(ps)), f'<figure class="wp-block-image"><img src="/wp-content/uploads/anh-{a.image}.jpg" '
                                   f'alt="" /><figcaption>{esc(a.caption)}</figcaption></figure>')
        related = "".join(f'<li><a href="{esc(o.path)}">{esc(o.title)}</a> <time>{ddmmyyyy(o.published)}</time></li>'
                          for o in self.related(a))
        main = (
            f'<article class="post type-post status-publish"><header class="entry-header">'
            f'<h1 class="entry-title">{esc(a.title)}</h1>\n'
            f'<div class="entry-meta"><span class="posted-on">{self.date_text(a.published)}</span>'
            f' <span class="cat-links"><a href="{esc(self.category_path(a.category))}" rel="category tag">'
            f"{esc(a.category.name)}</a></span>{views}</div></header>\n"
            f'<div class="entry-content"><p class="lead"><strong>{esc(a.lead)}</strong></p>{"".join(ps)}'
            f'<p style="text-align: right;">Người viết: <em>{esc(a.author)}</em></p></div></article>\n'
            f'<div class="related-posts"><h3>Bài viết liên quan</h3><ul>{related}</ul></div>'
        )
        return self.page(a.title, main, self.sidebar(a))


_LAYOUT_CLASSES: dict[str, type[_Layout]] = {
    "tandan": _TanDan, "nukeviet": _NukeViet, "liferay": _Liferay, "district": _District, "wordpress": _WordPress,
}


# --------------------------------------------------------------------------- portals


def _make_portal(index: int, layout: str, host: str, rng: random.Random) -> _Portal:
    round_no = index // len(LAYOUTS)
    number = round_no + 1
    province = rng.choice(PROVINCES)
    dept = ""
    if layout in ("tandan", "district"):
        level, lv, locality = "district", "huyện", rng.choice(DISTRICTS)
        name = f"Cổng thông tin điện tử huyện {locality}"
        src = "Cổng TTĐT huyện"
    elif layout == "nukeviet":
        level, lv, locality = "commune", "xã", rng.choice(COMMUNES)
        name = f"Trang thông tin điện tử xã {locality}"
        src = "TTĐT xã"
    elif layout == "liferay":
        if round_no % 2 == 0:
            level, lv, locality = "province", "tỉnh", province
            name = f"Cổng thông tin điện tử tỉnh {province}"
            src = "Cổng TTĐT tỉnh"
        else:
            level, lv, locality = "commune", "xã", rng.choice(COMMUNES)
            name = f"Trang thông tin điện tử xã {locality}"
            src = "TTĐT xã"
    else:
        dept = rng.choice(DEPARTMENTS)
        level, lv, locality = "department", "tỉnh", province
        name = f"Trang thông tin điện tử {dept} tỉnh {province}"
        src = "TTĐT Sở"
    # Views are shown everywhere except on every other NukeViet portal and WordPress-like one.
    has_views = not (layout in ("nukeviet", "wordpress") and round_no % 2 == 0)
    portal = _Portal(index=index, layout=layout, host=host, pid=f"demo-{layout}-{number}", name=name,
                     level=level, province=province, locality=locality, lv=lv, has_views=has_views, src=src,
                     group_id=20000 + rng.randint(100, 999), dept=dept)
    names = rng.sample(CATEGORIES, rng.randint(2, 4))
    portal.categories = [_Category(name=n, slug=slugify(n)) for n in names]
    return portal


def _fill_articles(portal: _Portal, layout: _Layout, count: int, rng: random.Random,
                   now: datetime | None = None) -> None:
    text = _Text(rng, portal)
    draws = [(rng.randrange(_SPAN_DAYS), rng.randint(6, 21), rng.randrange(60)) for _ in range(count)]
    if now is None:
        stamps = sorted(_FIRST_DAY + timedelta(days=d, hours=h, minutes=m) for d, h, m in draws)
    else:
        stamps = sorted(_recent_stamps(draws, now))
    num = rng.randint(10_000, 60_000)
    articles = []
    for i, stamp in enumerate(stamps):  # oldest first: ids grow with time
        num += rng.randint(1, 9)
        cat = portal.categories[(i * 7 + rng.randrange(2)) % len(portal.categories)] if i % 5 == 4 else \
            portal.categories[i % len(portal.categories)]
        articles.append(text.article(num, cat, stamp))
    articles.reverse()  # newest first, as portals list them
    for a in articles:
        a.path = layout.article_path(a)
        a.pos = len(a.category.articles)
        a.category.articles.append(a)
    portal.articles = articles
    layout.top = sorted(articles, key=lambda a: -a.views)[:6]


def _recent_stamps(draws: Sequence[tuple[int, int, int]], now: datetime) -> list[datetime]:
    """The same draws as publication times in the :data:`RECENT_DAYS` before ``now``, none in the
    future, the newest less than a day old: a portal that publishes regularly."""
    days = [d % RECENT_DAYS for d, _h, _m in draws]
    days[days.index(min(days))] = 0
    stamps = []
    for day, (_d, hour, minute) in zip(days, draws, strict=True):
        stamp = now.replace(hour=hour, minute=minute, second=0, microsecond=0) - timedelta(days=day)
        if stamp > now - timedelta(minutes=30):  # later today: yesterday at that time instead
            stamp -= timedelta(days=1)
        stamps.append(stamp)
    return stamps


def _truth(portal: _Portal, layout: _Layout, a: _Article) -> dict[str, object]:
    published = (a.published.strftime("%Y-%m-%d") if layout.date_only()
                 else a.published.strftime("%Y-%m-%dT%H:%M:00+07:00"))
    story = {"story": a.story, **({"story_edits": a.story_edits} if a.story_edits else {})} if a.story else {}
    return {**story,
        "url": f"http://{portal.host}{a.path}",
        "portal_id": portal.pid,
        "family": portal.layout,
        "title": unicodedata.normalize("NFC", a.title),
        "published_at": published,
        "view_count": a.views if portal.has_views else None,
        "body": "\n".join([a.lead, *a.paragraphs]),
        "author": a.author,
        "category": a.category.name,
    }


def _prefix_octets(host_prefix: str) -> tuple[int, int]:
    """``"127.x.y."`` -> (x, y); ValueError for anything else."""
    parts = host_prefix.split(".")
    if len(parts) != 4 or parts[0] != "127" or parts[3] != "" or not all(p.isdigit() for p in parts[1:3]):
        raise ValueError(f"host_prefix must look like '127.x.y.', got {host_prefix!r}")
    x, y = int(parts[1]), int(parts[2])
    if x > 255 or y > 255:
        raise ValueError(f"host_prefix {host_prefix!r} is not an IPv4 address prefix")
    return x, y


def host_capacity(host_prefix: str) -> int:
    """How many portal addresses :func:`portal_host` has from ``host_prefix`` on."""
    _x, y = _prefix_octets(host_prefix)
    return (256 - y) * HOSTS_PER_OCTET


def portal_host(host_prefix: str, index: int) -> str:
    """The loopback address of portal ``index`` (0-based): ``127.x.y.1`` .. ``127.x.y.254``, then
    on into ``127.x.(y+1).1`` .., so a mirror of more than 254 portals keeps one address each
    (a thousand portals: ``127.0.2.1`` .. ``127.0.5.238``)."""
    x, y = _prefix_octets(host_prefix)
    step, last = divmod(index, HOSTS_PER_OCTET)
    if index < 0 or y + step > 255:
        raise ValueError(f"no address for portal {index} after {host_prefix}")
    return f"127.{x}.{y + step}.{last + 1}"


def _broken_entry(host: str) -> dict[str, object]:
    """A registry entry for a portal that is down: its address has no site folder, so the mirror
    server does not listen there and every request is refused."""
    return {"id": BROKEN_PORTAL_ID, "name": "Cổng thông tin điện tử xã Đã Ngừng", "level": "commune",
            "province": PROVINCES[0], "url": f"http://{host}:{{PORT}}/", "profile": "auto",
            "notes": "demo: down on purpose (nothing listens on this address), to show a failing portal"}


class _Writer:
    """Writes pages under ``site/<host>/`` using the server's URL-to-file rule."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.dirs: set[Path] = set()
        self.pages = 0

    def write(self, host: str, url: str, content: str | bytes, page: bool = True) -> None:
        parts = urlsplit(url)
        target = self.site / host / url_to_relpath(parts.path, parts.query)
        if target.parent not in self.dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.dirs.add(target.parent)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        if page:
            self.pages += 1


# A tiny valid 1x1 grey GIF, saved under .jpg names as placeholder photos.
_IMAGE = bytes.fromhex("47494638396101000100800000c0c0c000000021f90401000000002c00000000010001000002024401003b")


def _image_paths(layout: _Layout) -> Callable[..., str]:
    return {
        "tandan": "/portal/PublishingImages/anh-{}.jpg", "nukeviet": "/uploads/news/anh-{}.jpg",
        "liferay": f"/documents/{layout.p.group_id}/images/anh-{{}}.jpg", "district": "/images/news/anh-{}.jpg",
        "wordpress": "/wp-content/uploads/anh-{}.jpg",
    }[layout.key].format


def _write_portal(w: _Writer, portal: _Portal, layout: _Layout, rng: random.Random) -> None:
    host = portal.host
    w.write(host, "/", layout.home_html())
    for cat in portal.categories:
        pages = max(1, math.ceil(len(cat.articles) / PER_PAGE))
        for n in range(1, pages + 1):
            items = cat.articles[(n - 1) * PER_PAGE:n * PER_PAGE]
            w.write(host, layout.listing_path(cat, n), layout.listing_html(cat, n, pages, items))
    entities = portal.layout == "tandan"
    for a in portal.articles:
        w.write(host, a.path, layout.article_html(a, _body_html(rng, a.paragraphs, entities)))
    about = [f"{portal.name} là kênh thông tin chính thức của {portal.lv} {portal.locality}, tỉnh {portal.province}.",
             "Cổng thông tin cung cấp tin tức, văn bản chỉ đạo, điều hành và dịch vụ công trực tuyến cho người dân, "
             "doanh nghiệp."]
    contact = [f"Địa chỉ: Số {rng.randint(1, 300)} đường Trần Hưng Đạo, {portal.lv} {portal.locality}, "
               f"tỉnh {portal.province}", f"Điện thoại: 0{rng.randint(200, 299)}.{rng.randint(3000000, 3999999)}",
               f"Email: banbientap@{slugify(portal.locality).replace('-', '')}.gov.vn"]
    w.write(host, layout.about_path, layout.static_html("Giới thiệu", about))
    w.write(host, layout.contact_path, layout.static_html("Liên hệ", contact))
    w.write(host, ADMIN_PATH, "<!DOCTYPE html><html><head><title>Đăng nhập quản trị</title></head><body>"
                              "<h1>Đăng nhập quản trị</h1><form><input name=\"u\" /></form></body></html>\n")
    w.write(host, "/robots.txt", "User-agent: *\nDisallow: /admin/\n", page=False)
    for url, content in layout.extra_pages():
        w.write(host, url, content)
    fmt = _image_paths(layout)
    for i in range(1, 5):
        w.write(host, fmt(i), _IMAGE, page=False)


def generate_mirror(out_dir: Path, portals: int = 4, articles_per_portal: int = 12, seed: int = 7,
                    host_prefix: str = "127.0.2.", now: datetime | None = None,
                    broken_portal: bool = False, stories: int = 0) -> MirrorInfo:
    """Write a synthetic mirror to ``out_dir``; the same arguments always give the same files.

    Articles are dated between 2019 and 2026, unless ``now`` (Vietnam local time, naive) is
    given: then they are dated in the :data:`RECENT_DAYS` before it, the newest less than a day
    old, so that coverage shows healthy portals (``portalnews demo``).  ``broken_portal`` adds
    to the registry one more portal, :data:`BROKEN_PORTAL_ID`, on an address nothing serves,
    so that the alerts have something true to say.  ``stories`` > 0 adds reprinted stories
    and look-alike announcements with their truth (:mod:`crawler.mirror.stories`)."""
    if articles_per_portal < 1:
        raise ValueError("articles_per_portal must be at least 1")
    room = host_capacity(host_prefix)
    if not 1 <= portals <= room - int(broken_portal):
        raise ValueError(f"portals must be between 1 and {room - int(broken_portal)} with host prefix {host_prefix}")
    out_dir = Path(out_dir)
    site = out_dir / "site"
    if site.exists():
        # Regenerating: drop the old pages so no stale file is served, but only if the
        # folder holds nothing but host folders (never delete anything else).
        children = list(site.iterdir())
        if not all(c.is_dir() and is_loopback(c.name) for c in children):
            raise ValueError(f"{site} exists and is not a generated mirror; choose another folder")
        for child in children:
            shutil.rmtree(child)
    site.mkdir(parents=True, exist_ok=True)
    writer = _Writer(site)
    registry: list[dict[str, object]] = []
    hosts: list[str] = []
    total = 0
    truth_path = out_dir / "truth.jsonl"
    from crawler.mirror.stories import plan_stories  # imports this module

    plan = plan_stories(seed, portals, stories)
    with truth_path.open("w", encoding="utf-8") as truth:
        for index in range(portals):
            layout_key = LAYOUTS[index % len(LAYOUTS)]
            host = portal_host(host_prefix, index)
            rng = random.Random(f"{seed}:{index}")
            portal = _make_portal(index, layout_key, host, rng)
            layout = _LAYOUT_CLASSES[layout_key](portal, rng)
            _fill_articles(portal, layout, articles_per_portal, rng, now)
            if stories > 0:
                plan.publish(portal, layout)
            _write_portal(writer, portal, layout, rng)
            for a in portal.articles:
                truth.write(json.dumps(_truth(portal, layout, a), ensure_ascii=False) + "\n")
            total += len(portal.articles)
            hosts.append(host)
            registry.append({"id": portal.pid, "name": portal.name, "level": portal.level,
                             "province": portal.province, "url": f"http://{host}:{{PORT}}/", "profile": "auto"})
    if broken_portal:
        registry.append(_broken_entry(portal_host(host_prefix, portals)))
    registry_path = out_dir / "portals.yaml"
    header = ("# Synthetic portals generated by crawler.mirror.generator "
              f"(seed {seed}); replace {{PORT}} with the port the mirror is served on.\n")
    registry_path.write_text(header + yaml.safe_dump({"portals": registry}, allow_unicode=True, sort_keys=False),
                             encoding="utf-8")
    logger.info("generated %d portals, %d articles, %d pages in %s", portals, total, writer.pages, out_dir)
    return MirrorInfo(root=out_dir, registry_path=registry_path, truth_path=truth_path, hosts=hosts,
                      articles=total, pages=writer.pages)
