"""Link rules: one URL per page (no session ids or tracking parameters), calendars left
alone, pagination recognised, feeds and sitemaps read even with root-relative entries."""

from __future__ import annotations

import pytest

from crawler import links


@pytest.mark.parametrize(("url", "clean"), [
    ("http://h/tin-tuc/a-1.html;jsessionid=61AE01A55C9A", "http://h/tin-tuc/a-1.html"),
    ("http://h/van-ban?sid=2795b70824", "http://h/van-ban"),
    ("http://h/a.html?utm_source=zalo&utm_medium=share", "http://h/a.html"),
    ("http://h/x.aspx?id=5&sid=abc&q=a%26b", "http://h/x.aspx?id=5&q=a%26b"),
    ("http://h/x?fbclid=IwAR0&page=2", "http://h/x?page=2"),
    ("http://h/Pages/x.aspx?ItemID=12", "http://h/Pages/x.aspx?ItemID=12"),
    ("http://h/index.php?option=com_content&id=4", "http://h/index.php?option=com_content&id=4"),
])
def test_session_ids_and_tracking_parameters_are_dropped(url: str, clean: str) -> None:
    assert links.clean_url(url) == clean
    assert links.absolutize("http://h/", url) == clean


@pytest.mark.parametrize(("url", "calendar"), [
    ("http://h/lich?thang=6&nam=2024", True),
    ("http://h/lich-cong-tac?tuan=22&nam=2024", True),
    ("http://h/calendar?month=5&year=2024", True),
    ("http://h/tin-tuc?nam=2024", False),  # a yearly archive, not an endless calendar
    ("http://h/lich-su-hinh-thanh", False),
    ("http://h/tin-tuc?page=3", False),
])
def test_calendars_are_not_crawled(url: str, calendar: bool) -> None:
    assert links.is_calendar(url) is calendar
    assert links.is_crawlable(url) is not calendar


@pytest.mark.parametrize("url", ["http://h/c?page=2", "http://h/c?PageIndex=3", "http://h/chuyen-muc/tin-tuc/page/3/",
                                 "http://h/c/trang-2.html", "http://h/index.php/tin-tuc?start=20",
                                 "http://h/web/guest/tin?_101_INSTANCE_x_cur=4"])
def test_pagination_styles(url: str) -> None:
    assert links.is_pagination(url)


def test_sitemap_entries_may_be_root_relative() -> None:
    xml = "<urlset><url><loc>/tin-tuc/a-1.html</loc></url><url><loc>http://h/b.html</loc></url></urlset>"
    assert links.feed_links(xml) == ["/tin-tuc/a-1.html", "http://h/b.html"]
    assert [links.absolutize("http://h/sitemap.xml", u) for u in links.feed_links(xml)] == [
        "http://h/tin-tuc/a-1.html", "http://h/b.html"]
    assert links.sitemaps_from_robots("User-agent: *\nSitemap: /sitemap.xml\n") == ["/sitemap.xml"]


@pytest.mark.parametrize("url", ["http://h/tabid/53/Page/2/Default.aspx", "http://h/Default.aspx?tabid=53&Page=3",
                                 "http://h/Default.aspx?tabid=53&currentpage=2", "http://h/tin-tuc.html?limitstart=10"])
def test_legacy_asp_net_and_dotnetnuke_pagination(url: str) -> None:
    assert links.is_pagination(url)
    assert links.is_crawlable(url)


@pytest.mark.parametrize(("url", "crawl"), [
    ("http://h/index.php?language=vi&nv=news&op=print/Tin-tuc/Slug-136", False),  # NukeViet 3 print view
    ("http://h/index.php?language=vi&nv=news&op=Tin-tuc/Slug-136", True),  # the article itself
    ("http://h/Default.aspx?tabid=53&ArticleID=2351&mid=410&dnnprintmode=true", False),
    ("http://h/tin-tuc/a-217.html?tmpl=component&print=1", False),
    ("http://h/en/news/tourism/a-12?print=1", False),
    ("http://h/Print.aspx?ItemID=1204", False),
    ("http://h/x?blueprint=3", True),
])
def test_print_views_are_not_crawled(url: str, crawl: bool) -> None:
    assert links.is_crawlable(url) is crawl


@pytest.mark.parametrize("base", [
    "http://a.gov.vn/tin-tuc/bai-1.html?p=2", "https://a.gov.vn:8443/x/y/", "http://a.gov.vn", "http://a.gov.vn?q=/z",
    "http://b.gov.vn/Default.aspx?tabid=57&ctl=/view#top",
])
def test_links_resolve_the_same_however_often_they_are_seen(base: str) -> None:
    """Resolving is memoised by host for absolute and root-relative links (menus repeat them on
    every page): the answer is, every time, what resolving against the page's own URL gives."""
    hrefs = ["/tin-tuc/bai-2.html", "/a/../b/?utm_source=x&id=3", "//c.gov.vn/d", "http://d.gov.vn/e f",
             "https://a.gov.vn/f?jsessionid=1", "g.html", "../h", "?page=3", " /i ", "/"]
    unmemoised = links._resolve.__wrapped__
    for href in hrefs:
        assert links.absolutize(base, href) == links.absolutize(base, href) == unmemoised(base, href.strip()), href
    assert links.absolutize(base, "#top") is None and links.absolutize(base, "mailto:x@y.vn") is None
    assert links.absolutize(base, "/tin-tuc/bai-2.html") == unmemoised(base, "/tin-tuc/bai-2.html")
