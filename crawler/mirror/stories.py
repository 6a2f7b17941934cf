"""Stories in the synthetic mirror: one article reprinted across portals, and look-alikes that are not.

``generate_mirror(..., stories=N)`` publishes, besides each portal's own articles:

* ``N`` **stories**: an original on one portal and 1–4 reprints on others, a few hours to a
  week later, each reprint with the edits real ones carry — a title prefix or suffix
  ("Tin từ tỉnh: ", " (Nguồn: …)"), the dateline of the lead replaced, a paragraph cut or
  added, only the first half kept, a source line appended, another author, another photo
  caption, a caption line put elsewhere in the text — and always in the reprinting
  portal's own layout (another CMS, other entities, another NFD paragraph);
* ``N // 3`` pairs of **look-alikes** (never merged with anything): the same announcement
  template ("Lịch tiếp công dân định kỳ tháng …") for another month or another district,
  differing only in dates, days and names.

Every line of ``truth.jsonl`` then carries ``story`` — the story key, shared by an
original and its reprints, unique otherwise — and reprints carry ``story_edits``.

The plan depends only on the seed and the number of portals (each portal is recreated from
its own seed exactly as :func:`crawler.mirror.generator.generate_mirror` makes it), so a
given seed always yields the same stories.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crawler.mirror.generator import (
    LAYOUTS,
    _Article,
    _Layout,
    _make_portal,
    _Portal,
    _Text,
    slugify,
)

logger = logging.getLogger(__name__)

__all__ = ["StoryPlan", "plan_stories"]

_FIRST = datetime(2024, 1, 8, 7, 0)
_SPAN_DAYS = 500
TITLE_PREFIXES = ("Tin từ tỉnh: ", "[Tin tổng hợp] ", "Tin huyện: ", "Tin từ cơ sở: ", "[Tin hoạt động] ")
TITLE_SUFFIXES = (" (Nguồn: {src})", " - {name}", " (Tin: {author})")
ADDED = ("Theo {org}, thời gian tới địa phương tiếp tục phối hợp chặt chẽ với các ngành chức năng, "
         "kịp thời tháo gỡ khó khăn, vướng mắc phát sinh tại cơ sở.")
CAPTION_LINE = "{caption}. (Ảnh: {author})"
EDITS = ("title_prefix", "title_suffix", "dateline_changed", "para_cut", "para_added", "first_half",
         "source_line", "author_changed", "caption_changed", "caption_line_added", "verbatim")
_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


@dataclass
class _Item:
    """One article to add to one portal."""

    portal: int
    story: str
    title: str
    lead: str
    paragraphs: list[str]
    caption: str
    author: str
    published: datetime
    edits: list[str] = field(default_factory=list)


@dataclass
class StoryPlan:
    """The articles to add, per portal index; :meth:`publish` adds one portal's."""

    items: dict[int, list[_Item]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.items.values())

    def publish(self, portal: _Portal, layout: _Layout) -> None:
        """Add the planned articles of ``portal`` to it (paths, categories, listing order)."""
        for a in portal.articles:  # the portal's own articles: a story each
            a.story = a.story or f"own-{portal.pid}-{a.num}"
        items = self.items.get(portal.index, [])
        if not items:
            return
        num = max((a.num for a in portal.articles), default=10_000)
        for k, item in enumerate(items):
            num += 3 + k
            cat = portal.categories[(num + k) % len(portal.categories)]
            a = _Article(num=num, title=item.title, slug=slugify(item.title), category=cat,
                         published=item.published, views=50 + (num * 37) % 4000, lead=item.lead,
                         paragraphs=list(item.paragraphs), caption=item.caption, image=1 + num % 4,
                         author=item.author)
            a.story = item.story
            a.story_edits = list(item.edits)
            a.path = layout.article_path(a)
            portal.articles.append(a)
        portal.articles.sort(key=lambda a: (a.published, a.num), reverse=True)
        for cat in portal.categories:
            cat.articles = []
        for a in portal.articles:
            a.pos = len(a.category.articles)
            a.category.articles.append(a)
        layout.top = sorted(portal.articles, key=lambda a: -a.views)[:6]


def _portals(seed: int, count: int) -> list[_Portal]:
    """The portals exactly as the generator makes them (each from its own seed)."""
    return [_make_portal(i, LAYOUTS[i % len(LAYOUTS)], f"127.0.2.{i + 1}", random.Random(f"{seed}:{i}"))
            for i in range(count)]


def _copy(rng: random.Random, src: _Item, home: _Portal, target: _Portal, story: str) -> _Item:
    """A reprint of ``src`` on ``target`` with 1-4 edits."""
    edits = sorted(rng.sample(EDITS[:-1], rng.randint(1, 4))) if rng.random() < 0.85 else ["verbatim"]
    if "first_half" in edits and "para_cut" in edits:
        edits.remove("para_cut")
    title, lead, paras = src.title, src.lead, list(src.paragraphs)
    caption, author = src.caption, src.author
    name = home.name
    for edit in edits:
        if edit == "title_prefix":
            title = rng.choice(TITLE_PREFIXES) + title
        elif edit == "title_suffix":
            title += rng.choice(TITLE_SUFFIXES).format(src=name, name=name, author=author.split(" - ")[0])
        elif edit == "dateline_changed":
            body = lead.split(") - ", 1)[1] if lead.startswith("(") and ") - " in lead else lead
            lead = f"({target.src}) - {body}" if rng.random() < 0.5 else body
        elif edit == "para_cut" and len(paras) > 3:
            paras.pop(rng.randrange(1, len(paras)))
        elif edit == "para_added":
            paras.insert(rng.randint(1, len(paras)), ADDED.format(org=f"UBND {target.lv} {target.locality}"))
        elif edit == "first_half" and len(paras) > 3:
            paras = paras[:(len(paras) + 1) // 2]
        elif edit == "source_line":
            paras.append(f"Nguồn: {name}")
        elif edit == "author_changed":
            author = rng.choice(("BBT", "Sưu tầm", f"Theo {name}", "Minh Hằng"))
        elif edit == "caption_changed":
            caption = rng.choice(("Quang cảnh buổi làm việc", "Các đại biểu dự hội nghị", "Ảnh minh họa"))
        elif edit == "caption_line_added":
            paras.insert(rng.randint(1, len(paras)), CAPTION_LINE.format(caption=caption, author=author))
    delay = timedelta(hours=rng.uniform(1, 24 * 7))
    return _Item(portal=target.index, story=story, title=title, lead=lead, paragraphs=paras, caption=caption,
                 author=author, published=src.published + delay, edits=edits)


def _tiepdan(rng: random.Random, portal: _Portal, when: datetime, chairman: str, deputy: str,
             story: str) -> _Item:
    """The monthly citizens' reception schedule of one district: a template that differs
    from month to month and district to district only in dates, days and names."""
    month = when.month % 12 + 1
    year = when.year + (when.month == 12)
    days = sorted(rng.sample(range(2, 28), 3))

    def day(d: int) -> str:
        return f"{d:02d}/{month:02d}/{year} ({_WEEKDAYS[datetime(year, month, d).weekday()]})"

    place = f"{portal.lv} {portal.locality}"
    paras = [
        f"1. Đồng chí {chairman}, Chủ tịch UBND {portal.lv} tiếp công dân định kỳ vào ngày {day(days[0])} và "
        f"ngày {day(days[2])}.",
        f"2. Đồng chí {deputy}, Phó Chủ tịch UBND {portal.lv} tiếp công dân vào ngày {day(days[1])}.",
        "Thời gian: Buổi sáng từ 7 giờ 30 phút đến 11 giờ 30 phút; buổi chiều từ 13 giờ 30 phút đến 17 giờ 00 "
        f"phút. Địa điểm: Trụ sở Ban Tiếp công dân {portal.lv}.",
        "Trường hợp đồng chí lãnh đạo có lịch tiếp công dân bận công tác đột xuất, sẽ ủy quyền cho đồng chí Phó "
        f"Chủ tịch UBND {portal.lv} hoặc Chánh Văn phòng HĐND và UBND {portal.lv} tiếp công dân theo quy định. "
        "Ban Tiếp công dân có trách nhiệm chuẩn bị các điều kiện cần thiết, mời đại diện các cơ quan, đơn vị có "
        "liên quan cùng tham dự.",
        "Công dân đến khiếu nại, tố cáo, kiến nghị, phản ánh phải xuất trình giấy tờ tùy thân, giấy ủy quyền (nếu "
        f"có), thực hiện đúng nội quy, quy chế tiếp công dân. UBND {place} thông báo để các cơ quan, đơn vị và "
        "Nhân dân được biết, thực hiện.",
    ]
    lead = ("Thực hiện Luật Tiếp công dân năm 2013; Nghị định số 64/2014/NĐ-CP ngày 26/6/2014 của Chính phủ quy "
            f"định chi tiết một số điều của Luật Tiếp công dân; căn cứ Quy chế tiếp công dân của UBND {place}, "
            f"UBND {portal.lv} thông báo lịch tiếp công dân định kỳ tháng {month}/{year} như sau:")
    title = f"Lịch tiếp công dân định kỳ tháng {month}/{year} của Chủ tịch UBND {place}"
    return _Item(portal=portal.index, story=story, title=title, lead=lead, paragraphs=paras,
                 caption="Trụ sở Ban Tiếp công dân", author="Văn phòng HĐND và UBND", published=when)


def plan_stories(seed: int, portals: int, stories: int) -> StoryPlan:
    """The stories and look-alikes for a mirror of ``portals`` portals (see the module docstring)."""
    plan = StoryPlan()
    if stories <= 0 or portals < 2:
        return plan
    rng = random.Random(f"{seed}:stories")
    ps = _portals(seed, portals)
    items: list[_Item] = []
    for n in range(stories):
        home = ps[rng.randrange(portals)]
        text = _Text(rng, home)
        when = _FIRST + timedelta(days=rng.randrange(_SPAN_DAYS), hours=rng.randint(0, 12), minutes=rng.randrange(60))
        art = text.article(0, home.categories[0], when)
        key = f"mst-{n + 1:03d}"
        original = _Item(portal=home.index, story=key, title=art.title, lead=art.lead, paragraphs=art.paragraphs,
                         caption=art.caption, author=art.author, published=when)
        items.append(original)
        others = [p for p in ps if p.index != home.index]
        copies: list[_Item] = []
        for target in rng.sample(others, min(len(others), rng.randint(1, 4))):
            parent = rng.choice([original, *copies]) if copies and rng.random() < 0.3 else original
            copies.append(_copy(rng, parent, home, target, key))
            if parent is not original:
                copies[-1].edits = sorted(set(copies[-1].edits) | set(parent.edits) - {"verbatim"}) or ["verbatim"]
        items.extend(copies)
    people = _Text(rng, ps[0])
    for n in range(max(1, stories // 3)):
        a, b = rng.sample(ps, 2)
        when = _FIRST + timedelta(days=rng.randrange(_SPAN_DAYS), hours=rng.randint(7, 16))
        chairman, deputy = people.person(), people.person()
        items.append(_tiepdan(rng, a, when, chairman, deputy, f"mlk-{n + 1:03d}-a"))
        if rng.random() < 0.5:  # the same district the next month
            items.append(_tiepdan(rng, a, when + timedelta(days=rng.randint(28, 33)), chairman, deputy,
                                  f"mlk-{n + 1:03d}-b"))
        else:  # another district, the same month
            items.append(_tiepdan(rng, b, when + timedelta(hours=rng.randint(1, 72)), people.person(),
                                  people.person(), f"mlk-{n + 1:03d}-b"))
    for item in items:
        item.title = unicodedata.normalize("NFC", item.title)
        plan.items.setdefault(item.portal, []).append(item)
    logger.debug("planned %d story articles on %d portals", plan.count, len(plan.items))
    return plan
