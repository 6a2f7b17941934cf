"""robots.txt is fetched once per host, by Scrapy's robots middleware.

With ``ROBOTSTXT_OBEY`` Scrapy fetches each host's robots.txt before the host's first
request.  :class:`SitemapRobotParser` (``ROBOTSTXT_PARSER``) is Scrapy's default Protego
parser that also keeps the file's ``Sitemap:`` lines; the middleware sends it with the
``robots_parsed`` signal, and the spider follows those sitemaps from there instead of
fetching robots.txt a second time.
"""

from __future__ import annotations

from scrapy import Spider
from scrapy.robotstxt import ProtegoRobotParser

from crawler import links


class SitemapRobotParser(ProtegoRobotParser):
    def __init__(self, robotstxt_body: bytes, spider: Spider | None) -> None:
        super().__init__(robotstxt_body, spider)
        #: The ``Sitemap:`` values as written (absolute or root-relative).
        self.sitemaps: list[str] = links.sitemaps_from_robots(robotstxt_body)
