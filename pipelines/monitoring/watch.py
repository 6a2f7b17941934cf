"""Watchlist notices: after a crawl, one notice per watchlist listing the new articles that match it.

A watchlist (:mod:`pipelines.storage.watchlists`) is a saved search.  :func:`check_watchlists`
reads the articles stored since the last check (the store's cursor), matches each against every
watchlist in memory with the index's own rules (:func:`pipelines.search.matches` and the
filters of :func:`pipelines.storage.searching.prepare`, so a watchlist finds what ``search``
finds), and sends one notice per watchlist that has new articles through the alert channels of
:mod:`pipelines.monitoring.notify`:

* a webhook ``POST`` with exactly ``{"event": "watchlist", "watchlist": NAME, "query": QUERY,
  "articles": [{"url", "title", "portal_id", "published_at"}, …]}``;
* one email per watchlist.

Only articles first seen after the watchlist was saved are notified, each once per watchlist:
the store records every article it notified (claimed before sending, so two workers never both
send it).  A notice that reached no channel is kept (``pending``) with a log line, and sent with
the next check.  Nothing here raises into the crawl.
"""

from __future__ import annotations

import logging
import socket
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pipelines.monitoring.notify import NotifyConfig, send_email, send_webhook
from pipelines.search import Abbreviations, IndexedDocument, abbreviations_from_settings, matches, parse
from pipelines.search.query import Abbreviation, AllOf, AnyOf, Node, Term
from pipelines.storage.base import SearchQuery, Store, StoreError, now_iso, parse_instant
from pipelines.storage.searching import PreparedSearch, indexed_values, prepare
from pipelines.storage.watchlists import MAX_NAME_CHARS, StoredArticle, Watchlist, WatchNotice

logger = logging.getLogger(__name__)

__all__ = [
    "WatchReport",
    "WatchlistError",
    "WatchlistMatcher",
    "check_after_crawl",
    "check_watchlists",
    "new_watchlist",
    "search_query",
    "send_notice",
    "watchlist_email",
    "watchlist_payload",
]


class WatchlistError(ValueError):
    """A watchlist that cannot be saved: the message says why."""


def new_watchlist(name: str, query: str, *, province: str | None = None, portals: Sequence[str] = (),
                  min_views: int | None = None, level: str | None = None, category: str | None = None,
                  abbreviations: Abbreviations | None = None) -> Watchlist:
    """A watchlist to save (the CLI and the web app): the name in NFC, printable, at most
    :data:`MAX_NAME_CHARS` characters; a query that looks for at least one word.  Raises
    :class:`WatchlistError` with the reason."""
    clean = unicodedata.normalize("NFC", name or "").strip()
    if not clean:
        raise WatchlistError("a watchlist needs a name")
    if len(clean) > MAX_NAME_CHARS:
        raise WatchlistError(f"a watchlist name has at most {MAX_NAME_CHARS} characters ({len(clean)} given)")
    if any(unicodedata.category(c).startswith("C") for c in clean):
        raise WatchlistError(f"a watchlist name cannot hold control characters: {clean!r}")
    parsed = parse(query or "", abbreviations if abbreviations is not None else abbreviations_from_settings(None))
    if not parsed.include:
        what = f"{query!r} looks for no word" if (query or "").strip() else "the query is empty"
        raise WatchlistError(f"{what}: a watchlist needs at least one word, \"phrase\" or prefix* to look for "
                             "(see README, \"Search language\"; -word only excludes)")
    if min_views is not None and min_views < 0:
        raise WatchlistError(f"the minimum of views must be 0 or more, got {min_views}")
    return Watchlist(name=clean, query=query.strip(), province=(province or "").strip() or None,
                     portals=list(dict.fromkeys(portals)), min_views=min_views, level=level or None,
                     category=category or None, created_at=now_iso())


def search_query(watchlist: Watchlist) -> SearchQuery:
    """The search a watchlist saves (``portalnews search`` with the same query and filters)."""
    return SearchQuery(text=watchlist.query, portals=list(watchlist.portals), province=watchlist.province,
                       min_views=watchlist.min_views, level=watchlist.level, category=watchlist.category)


def _needed_words(node: Node) -> frozenset[str]:
    """Folded words that every document matching ``node`` has (in the form
    :func:`pipelines.search.matches` compares: an abbreviation is its concept's key)."""
    if isinstance(node, Term):
        return frozenset(node.folded[:-1] if node.prefix else node.folded)
    if isinstance(node, Abbreviation):
        return frozenset([node.concept.folded_key])
    if isinstance(node, AllOf):
        return frozenset().union(*map(_needed_words, node.items))
    if isinstance(node, AnyOf) and node.items:
        return frozenset.intersection(*map(_needed_words, node.items))
    return frozenset()


class WatchlistMatcher:
    """A watchlist's query and filters, matched against one stored article in memory."""

    def __init__(self, watchlist: Watchlist, abbreviations: Abbreviations | None = None) -> None:
        self.watchlist = watchlist
        self.prep: PreparedSearch = prepare(search_query(watchlist), abbreviations, paged=False)
        self.created = parse_instant(watchlist.created_at)
        # the words (folded) every match has: an article without one of them cannot match
        self.required = frozenset().union(*map(_needed_words, self.prep.query.include))

    def new_to_it(self, article: StoredArticle) -> bool:
        """First seen after the watchlist was saved (articles known before are not news)."""
        seen = parse_instant(article.first_seen_at)
        return self.created is None or seen is None or seen >= self.created

    def filters_pass(self, article: StoredArticle) -> bool:
        """The filters, compared on the values the backends index (:func:`indexed_values`)."""
        p, doc = self.prep, article.document
        if p.portals and doc.portal_id not in p.portals:
            return False
        if p.province_keys is not None or p.category_key:
            values = indexed_values(doc)
            if p.province_keys is not None and not {values["province_key"], values["current_key"]} & p.province_keys:
                return False
            if p.category_key and values["category_key"] != p.category_key:
                return False
        if p.level and doc.level != p.level:
            return False
        if p.min_views is not None and (doc.view_count is None or doc.view_count < p.min_views):
            return False
        if p.since and (not doc.published_at or doc.published_at < p.since):
            return False
        return not (p.until and (not doc.published_at or doc.published_at >= p.until))

    def matches_text(self, indexed: IndexedDocument, words: frozenset[str] | None = None) -> bool:
        """The query (an article passing the filters): what the FTS5 or engine query would find.
        ``words``: every folded word of the article, to rule most articles out at once (measured
        with scripts/bench_watchlists.py: the scan of :func:`pipelines.search.matches` over every
        word of every field was a third of the check)."""
        if words is not None and not self.required <= words:
            return False
        return matches(self.prep.query, indexed)


@dataclass
class WatchReport:
    """What one check did."""

    watchlists: int = 0
    articles_checked: int = 0
    notices_sent: int = 0  # one per watchlist that had new articles and reached a channel
    articles_notified: int = 0
    articles_kept: int = 0  # in notices that reached no channel: sent at the next check
    notified: dict[str, int] = field(default_factory=dict)  # watchlist name -> articles in its notice
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"watchlists": self.watchlists, "articles_checked": self.articles_checked,
                "notices_sent": self.notices_sent, "articles_notified": self.articles_notified,
                "articles_kept": self.articles_kept, "notified": dict(self.notified), "errors": list(self.errors)}


def watchlist_payload(watchlist: Watchlist, notices: Sequence[WatchNotice]) -> dict[str, Any]:
    """The JSON body of the webhook call (the README promises exactly these keys)."""
    return {"event": "watchlist", "watchlist": watchlist.name, "query": watchlist.query,
            "articles": [n.article() for n in notices]}


def watchlist_email(watchlist: Watchlist, notices: Sequence[WatchNotice], config: NotifyConfig) -> EmailMessage:
    """One plain-text message listing the new articles of one watchlist."""
    msg = EmailMessage()
    msg["Subject"] = f"[portalnews] watchlist {watchlist.name}: {len(notices)} new article(s)"
    msg["From"] = config.smtp_from or f"portalnews@{socket.gethostname()}"
    msg["To"] = ", ".join(config.smtp_to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="portalnews")
    lines = [f"Watchlist {watchlist.name}: {watchlist.query}", _filters_line(watchlist),
             f"{len(notices)} new article(s), {datetime.now(UTC).isoformat(timespec='seconds')}", ""]
    for n in notices:
        lines += [n.title, f"  {n.portal_id} · {n.published_at or 'no date'}", f"  {n.url}", ""]
    msg.set_content("\n".join(lines))
    return msg


def _filters_line(watchlist: Watchlist) -> str:
    parts = [f"province {watchlist.province}" if watchlist.province else "",
             f"portals {', '.join(watchlist.portals)}" if watchlist.portals else "",
             f"at least {watchlist.min_views} views" if watchlist.min_views is not None else "",
             f"level {watchlist.level}" if watchlist.level else "",
             f"category {watchlist.category}" if watchlist.category else ""]
    shown = [p for p in parts if p]
    return ("Filters: " + "; ".join(shown)) if shown else "No filters"


def _order(notices: Sequence[WatchNotice]) -> list[WatchNotice]:
    """Newest first, undated last, then by URL."""
    dated = sorted((n for n in notices if n.published_at), key=lambda n: n.url)
    dated.sort(key=lambda n: n.published_at or "", reverse=True)
    return dated + sorted((n for n in notices if not n.published_at), key=lambda n: n.url)


def send_notice(config: NotifyConfig, watchlist: Watchlist, notices: Sequence[WatchNotice]) -> tuple[list[str], list[str]]:
    """Send one watchlist's notice on every configured channel: (channels that took it, errors)."""
    took: list[str] = []
    errors: list[str] = []
    if config.webhook_url:
        try:
            send_webhook(config.webhook_url, watchlist_payload(watchlist, notices), config.webhook_timeout,
                         config.webhook_token, config.webhook_attempts)
            took.append("webhook")
        except Exception as exc:  # a channel problem never stops the crawl
            errors.append(f"webhook: {exc}")
    if config.email_enabled:
        try:
            send_email(watchlist_email(watchlist, notices, config), config)
            took.append("email")
        except Exception as exc:  # as above
            errors.append(f"email through {config.smtp_host}:{config.smtp_port}: {exc}")
    if not config.webhook_url and not config.email_enabled:
        errors.append("no alert channel is configured (PORTALNEWS_ALERT_WEBHOOK, or PORTALNEWS_SMTP_HOST and "
                      "PORTALNEWS_SMTP_TO)")
    return took, errors


def check_watchlists(store: Store, config: NotifyConfig, now: float | None = None,
                     abbreviations: Abbreviations | None = None) -> WatchReport:
    """Notify every watchlist of its new articles (see the module docstring).  Raises
    :class:`StoreError` only when the store cannot be read; delivery problems are logged."""
    report = WatchReport()
    lists = store.watchlists()
    report.watchlists = len(lists)
    if not lists:
        return report
    now = time.time() if now is None else now
    abbr = abbreviations if abbreviations is not None else abbreviations_from_settings(None)
    matchers = [WatchlistMatcher(wl, abbr) for wl in lists]
    upto = store.watch_position()
    after = store.watch_cursor()
    found: dict[str, dict[str, WatchNotice]] = {m.watchlist.key: {} for m in matchers}
    for article in store.articles_stored_after(after if after is not None else upto, upto):
        report.articles_checked += 1
        indexed: IndexedDocument | None = None
        words: frozenset[str] = frozenset()
        for m in matchers:
            if not (m.new_to_it(article) and m.filters_pass(article)):
                continue
            if indexed is None:
                doc = article.document
                indexed = IndexedDocument.of({"title": doc.title, "summary": doc.summary, "body": doc.body}, abbr)
                words = frozenset(w for text in indexed.folded for w in text)
            if m.matches_text(indexed, words):
                found[m.watchlist.key].setdefault(article.document.id, WatchNotice.of(m.watchlist.key, article.document))
    for m in matchers:
        wl = m.watchlist
        claimed = store.claim_watch_notices(wl.name, list(found[wl.key].values()), now)
        if not claimed:
            continue
        notices = _order(claimed)
        took, errors = send_notice(config, wl, notices)
        for error in errors:
            logger.error("watchlist %s: %s", wl.name, error)
        report.errors += [f"{wl.name}: {e}" for e in errors]
        store.settle_watch_notices(notices, bool(took), now)
        if took:
            report.notices_sent += 1
            report.articles_notified += len(notices)
            report.notified[wl.name] = len(notices)
            logger.info("watchlist %s: %d new article(s) notified (%s)", wl.name, len(notices), ", ".join(took))
        else:
            report.articles_kept += len(notices)
            logger.warning("watchlist %s: the notice of %d new article(s) reached no channel; it is kept and sent "
                           "at the next crawl", wl.name, len(notices))
    store.set_watch_cursor(upto)
    return report


def check_after_crawl(store: Store, config: NotifyConfig) -> WatchReport:
    """Check the watchlists on the crawl's open store (the crawl-end step; never raises a
    store error: it is logged and reported)."""
    try:
        return check_watchlists(store, config)
    except StoreError as exc:
        logger.error("watchlists: the check after the crawl failed: %s", exc)
        return WatchReport(errors=[str(exc)])

