"""AlertingExtension: evaluate the alert rules after every crawl and send the alerts;
WatchlistExtension: send the watchlist notices of the articles the crawl stored.

Runs on ``spider_closed``, which Scrapy sends after the item pipelines are closed, so the
storage pipeline has written the run records of this crawl by then.  It reads the crawl's
one store (:class:`~pipelines.storage.extension.StoreExtension`, closed only when the
engine stops, after every ``spider_closed`` handler).  Only the portals of
this crawl are judged (a crawl of one portal does not re-send the alerts of the others).
Each alert goes to the log; the webhook and email are sent when configured (see
:mod:`pipelines.monitoring.notify`), once per alert until it is due again or resolved
(see :mod:`pipelines.monitoring.notices`).  The alerts are also put in the crawl stats
(``portalnews/alerts``) so that ``portalnews crawl`` can print them.

Settings: ``PORTALNEWS_ALERTS_ENABLED`` (default True), ``PORTALNEWS_ALERT_RULES`` (rules
file; default the bundled ``pipelines/monitoring/rules.yaml``), and the delivery settings.
Nothing here can fail the crawl: problems are logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from pipelines.monitoring import check_store, log_alerts
from pipelines.monitoring.alerts import Alert
from pipelines.monitoring.notices import notify_new_alerts
from pipelines.monitoring.notify import Delivery, Notifier, NotifyConfig
from pipelines.monitoring.rules import Rules, RulesError, load_rules, rules_path
from pipelines.monitoring.watch import check_after_crawl
from pipelines.storage import Store
from pipelines.storage.extension import crawl_store

logger = logging.getLogger(__name__)


class AlertingExtension:
    def __init__(self, crawler: Crawler, rules: Rules, notifier: Notifier) -> None:
        self.crawler = crawler
        self.rules = rules
        self.notifier = notifier

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AlertingExtension:
        s = crawler.settings
        if not s.getbool("PORTALNEWS_ALERTS_ENABLED", True):
            raise NotConfigured("alerts are off (PORTALNEWS_ALERTS_ENABLED)")
        try:
            rules = load_rules(rules_path(None, s))
        except RulesError as exc:
            logger.error("alert rules: %s; alerts are off for this crawl", exc)
            raise NotConfigured(str(exc)) from None
        ext = cls(crawler, rules, Notifier(NotifyConfig.from_settings(s)))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    async def spider_closed(self, spider: Spider, reason: str = "") -> None:
        owner = crawl_store(self.crawler)
        portal_ids = [p.id for p in getattr(spider, "portals", [])]
        if owner is None or not portal_ids:
            return
        try:
            alerts, delivery = await asyncio.to_thread(lambda: self.evaluate(owner.store(), portal_ids, reason))
        except Exception as exc:  # monitoring must never turn a crawl into a failure
            logger.error("alert evaluation after the crawl failed: %s: %s", type(exc).__name__, exc)
            return
        stats = self.crawler.stats
        if stats is not None:
            stats.set_value("portalnews/alerts", [a.to_dict() for a in alerts])
            stats.set_value("portalnews/alert_delivery", delivery.to_dict())

    def evaluate(self, store: Store, portal_ids: list[str], reason: str = "") -> tuple[list[Alert], Delivery]:
        context: dict[str, Any] = {"trigger": "crawl", "portals_crawled": len(portal_ids)}
        if reason:
            context["finish_reason"] = reason
        _report, alerts = check_store(store, self.rules, portal_ids=portal_ids)
        log_alerts(alerts, logger)
        if not alerts:
            logger.info("alert rules: all %d crawled portal(s) pass", len(portal_ids))
        # the webhook and email only get what is new (or due again, or resolved)
        delivery = notify_new_alerts(store, self.notifier, alerts, portal_ids, context)
        return alerts, delivery


class WatchlistExtension:
    """Sends the watchlist notices (:mod:`pipelines.monitoring.watch`) on ``spider_closed``,
    after the storage pipeline has written the crawl's articles.  Off with
    ``PORTALNEWS_WATCHLISTS_ENABLED=false``; uses the alert channels' settings."""

    def __init__(self, crawler: Crawler, config: NotifyConfig) -> None:
        self.crawler = crawler
        self.config = config

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WatchlistExtension:
        if not crawler.settings.getbool("PORTALNEWS_WATCHLISTS_ENABLED", True):
            raise NotConfigured("watchlist notices are off (PORTALNEWS_WATCHLISTS_ENABLED)")
        ext = cls(crawler, NotifyConfig.from_settings(crawler.settings))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    async def spider_closed(self, spider: Spider, reason: str = "") -> None:
        owner = crawl_store(self.crawler)  # the crawl's one store, still open on spider_closed
        if owner is None:
            return
        try:
            report = await asyncio.to_thread(lambda: check_after_crawl(owner.store(), self.config))
        except Exception as exc:  # a watchlist problem must never turn a crawl into a failure
            logger.error("watchlist check after the crawl failed: %s: %s", type(exc).__name__, exc)
            return
        if self.crawler.stats is not None and report.watchlists:
            self.crawler.stats.set_value("portalnews/watchlists", report.to_dict())
