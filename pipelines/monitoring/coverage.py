"""The coverage model: how healthy each portal is, rolled up by province and by level.

Built from the store (any backend) through its :class:`~pipelines.storage.base.CrawlState`
interface: ``coverage()`` (articles, newest article, last run), ``recent_counts()``
(articles published / first stored in the last 24 h, 7 and 30 days) and ``runs()`` (the
recent crawls of each portal, for extraction-failure rates and "no new articles").  The
province, level and name of a portal come from its run records, or from a registry when
one is given (a registry also adds portals that were never crawled).

Every portal gets a **health** score from 0 to 100 and a **status**; rows are ordered worst
first.  The score is deterministic (whole days, no wall-clock seconds) so that the same
data gives the same answer on every backend:

====================================  =========================================
last crawl failed / never crawled     −50
last crawl interrupted / partial      −20 / −15
a crawl "running" for over 24 h       −15 (it was killed or hangs)
extraction failures (rate r, 0…1)     −40·r (worst of the rule's fields)
HTTP errors (rate e of attempts)      −20·e
no dated article                      −20
newest article age a, stale after D   −5·a/D up to D, then −10 … −20 (at 3·D)
no new article in K crawls            −10
====================================  =========================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from pipelines.model.kinds import RunOutcome
from pipelines.model.record import DictRecord
from pipelines.monitoring.rules import Rules, RuleSet
from pipelines.storage.base import CoverageRow, CrawlState, RunRecord
from pipelines.storage.story_views import story_shares

logger = logging.getLogger(__name__)

#: Windows for "new articles": label -> length.
WINDOWS: tuple[tuple[str, timedelta], ...] = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
                                              ("30d", timedelta(days=30)))
#: Statuses from worst to best.
STATUSES = ("unreachable", "failing", "never crawled", "parse errors", "partial", "stale", "quiet", "running",
            "ok")
#: A crawl still "running" after this long was killed (or hangs).
STUCK_AFTER = timedelta(hours=24)
_BAD = frozenset({"unreachable", "failing", "never crawled"})
EXTRACTION_FIELDS = ("title", "body", "published_at", "view_count")


@dataclass(frozen=True)
class PortalMeta:
    """What the registry knows about a portal (all optional)."""

    name: str | None = None
    province: str | None = None
    level: str | None = None


@dataclass
class PortalCoverage(DictRecord):
    """Coverage of one portal.  ``to_dict`` keeps the keys of the older ``coverage --json``."""

    portal_id: str
    name: str | None = None
    province: str | None = None
    level: str | None = None
    status: str = "ok"
    health: int = 100
    problems: list[str] = field(default_factory=list)
    articles: int = 0
    new_24h: int = 0
    new_7d: int = 0
    new_30d: int = 0
    found_24h: int = 0
    found_7d: int = 0
    found_30d: int = 0
    newest_article: str | None = None
    age_days: int | None = None
    last_crawl_started: str | None = None
    last_crawl_finished: str | None = None
    last_outcome: str | None = None
    last_crawl_message: str = ""
    last_crawl_new: int = 0
    pages_fetched: int = 0
    errors: int = 0
    http_errors: dict[str, int] = field(default_factory=dict)
    error_rate: float = 0.0
    robots_blocked: int = 0
    dropped: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    article_pages: int = 0
    missing_fields: dict[str, int] = field(default_factory=dict)
    extraction_failure_rates: dict[str, float] = field(default_factory=dict)
    extraction_failure_rate: float | None = None
    crawls_without_new: int = 0
    crawls: int = 0
    crawl_running_since: str | None = None
    origin_moved_to: str | None = None  # where the registry URL redirected in the last crawl
    # stories (issue 13): articles that are copies of a story first published earlier (elsewhere,
    # or on the portal itself), and the shares of its articles that are reprints and its own
    reprints: int = 0
    reprint_share: float = 0.0
    own_share: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.status in _BAD


@dataclass
class Rollup(DictRecord):
    """Portals of one province (or level) taken together."""

    key: str
    portals: int = 0
    articles: int = 0
    new_24h: int = 0
    new_7d: int = 0
    new_30d: int = 0
    newest_article: str | None = None
    age_days: int | None = None
    health: int = 100
    worst_portal: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    pages_fetched: int = 0
    errors: int = 0
    article_pages: int = 0
    missing_fields: dict[str, int] = field(default_factory=dict)


@dataclass
class CoverageReport:
    generated_at: str
    portals: list[PortalCoverage]
    by_province: list[Rollup]
    by_level: list[Rollup]

    def to_dict(self) -> dict[str, Any]:
        return {"generated_at": self.generated_at, "portals": [p.to_dict() for p in self.portals],
                "by_province": [r.to_dict() for r in self.by_province],
                "by_level": [r.to_dict() for r in self.by_level]}

    def get(self, portal_id: str) -> PortalCoverage | None:
        for p in self.portals:
            if p.portal_id == portal_id:
                return p
        return None


# --- registry metadata --------------------------------------------------------------------------------
def registry_meta(path: str | Path) -> dict[str, PortalMeta]:
    """id -> name/province/level from a registry file, read leniently (URL placeholders and
    entries with other problems do not matter here).  Raises OSError / yaml.YAMLError."""
    data = yaml.safe_load(Path(path).read_text("utf-8"))
    entries = data.get("portals") if isinstance(data, dict) else data
    out: dict[str, PortalMeta] = {}
    for entry in entries or []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            out[entry["id"]] = PortalMeta(name=_str(entry.get("name")), province=_str(entry.get("province")),
                                          level=_str(entry.get("level")))
    return out


def _str(value: Any) -> str | None:
    return str(value).strip() if value is not None else None


# --- helpers -------------------------------------------------------------------------------------------
def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 string as an aware datetime (naive = UTC; a bare date = 00:00 +07:00)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value + "T00:00:00+07:00")
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def age_in_days(value: str | None, now: datetime) -> int | None:
    dt = parse_time(value)
    if dt is None:
        return None
    return max(0, (now - dt).days)


def window_starts(now: datetime) -> dict[str, str]:
    return {label: (now - length).isoformat(timespec="seconds") for label, length in WINDOWS}


def _finished(run: RunRecord) -> bool:
    return run.outcome != RunOutcome.RUNNING


# --- building the model ----------------------------------------------------------------------------------
def build_coverage(store: CrawlState, *, rules: Rules | None = None, meta: Mapping[str, PortalMeta] | None = None,
                   portal_ids: Iterable[str] | None = None, now: datetime | None = None) -> CoverageReport:
    """The coverage of every portal in the store (and in ``meta``), worst first.

    ``portal_ids`` restricts the model to those portals (the post-crawl evaluation)."""
    rules = rules or Rules()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rows: dict[str, CoverageRow] = {r.portal_id: r for r in store.coverage()}
    meta = dict(meta or {})
    wanted = set(portal_ids) if portal_ids is not None else set(rows) | set(meta)
    starts = window_starts(now)
    published = store.recent_counts(starts, "published_at")
    found = store.recent_counts(starts, "first_seen_at")
    counts = getattr(store, "story_counts", None)
    shares = story_shares(counts()) if callable(counts) else {}
    portals = []
    for pid in sorted(wanted):
        runs = store.runs(pid, limit=rules.for_portal(pid).runs_needed + 1) if pid in rows else []
        p = portal_coverage(pid, rows.get(pid), runs, rules.for_portal(pid), meta.get(pid),
                            published.get(pid, {}), found.get(pid, {}), now)
        if pid in shares:
            p.reprints = int(shares[pid]["reprints"])
            p.reprint_share, p.own_share = float(shares[pid]["reprint_share"]), float(shares[pid]["own_share"])
        portals.append(p)
    portals.sort(key=sort_key)
    return CoverageReport(generated_at=now.isoformat(timespec="seconds"), portals=portals,
                          by_province=rollup(portals, "province"), by_level=rollup(portals, "level"))


def sort_key(p: PortalCoverage) -> tuple[int, int, str]:
    """Worst first: lowest health, then the worse status, then the id."""
    return (p.health, STATUSES.index(p.status) if p.status in STATUSES else 0, p.portal_id)


def portal_coverage(pid: str, row: CoverageRow | None, runs: list[RunRecord], rules: RuleSet,
                    meta: PortalMeta | None, published: Mapping[str, int], found: Mapping[str, int],
                    now: datetime) -> PortalCoverage:
    """One portal's coverage from its store row and recent runs (newest first).

    The "last crawl" columns describe the last *finished* crawl; a crawl still running is
    shown in ``crawl_running_since`` (and judged stuck after :data:`STUCK_AFTER`)."""
    p = PortalCoverage(portal_id=pid)
    finished = [r for r in runs if _finished(r)]
    running = runs[0] if runs and not _finished(runs[0]) else None
    last = finished[0] if finished else running
    if last is not None:
        p.name, p.province, p.level = last.portal_name, last.province, last.level
    if meta is not None:
        p.name, p.province, p.level = meta.name or p.name, meta.province or p.province, meta.level or p.level
    for label, _length in WINDOWS:
        setattr(p, f"new_{label}", int(published.get(label, 0)))
        setattr(p, f"found_{label}", int(found.get(label, 0)))
    if row is not None:
        p.articles = row.articles
        p.newest_article = row.newest_article
    p.age_days = age_in_days(p.newest_article, now)
    if running is not None:
        p.crawl_running_since = running.started_at
    if last is not None:
        p.last_crawl_started, p.last_crawl_finished = last.started_at, last.finished_at
        p.last_outcome = last.outcome
        p.last_crawl_message = last.message
        p.last_crawl_new = last.articles_new
        p.pages_fetched, p.errors, p.http_errors = last.pages_fetched, last.errors, dict(last.http_errors)
        p.robots_blocked, p.dropped, p.drop_reasons = last.robots_blocked, last.dropped, dict(last.drop_reasons)
        p.missing_fields, p.article_pages = dict(last.missing_fields), last.article_pages
        p.origin_moved_to = last.origin_moved_to
        p.extra = {"drop_reasons": dict(last.drop_reasons), "robots_blocked": last.robots_blocked,
                   "message": last.message}
    attempts = p.pages_fetched + int(p.http_errors.get("network", 0))
    p.error_rate = round(p.errors / attempts, 4) if attempts else (1.0 if p.errors else 0.0)
    p.crawls = len(finished)
    for run in finished:
        if run.articles_new:
            break
        p.crawls_without_new += 1
    _extraction(p, finished, rules)
    _score(p, rules, now)
    return p


def _extraction(p: PortalCoverage, finished: list[RunRecord], rules: RuleSet) -> None:
    """Failure rates per field over the last ``crawls`` finished runs that saw article pages."""
    rule = rules.extraction_failures
    window = finished[: rule.crawls]
    pages = sum(r.article_pages for r in window)
    if not pages:
        return
    missing: dict[str, int] = {}
    for run in window:
        for name, n in run.missing_fields.items():
            missing[name] = missing.get(name, 0) + int(n)
    p.extraction_failure_rates = {name: round(min(1.0, missing.get(name, 0) / pages), 4)
                                  for name in EXTRACTION_FIELDS if missing.get(name)}
    p.extra["extraction_pages"] = pages
    if pages >= rule.min_pages:
        p.extraction_failure_rate = max((p.extraction_failure_rates.get(f, 0.0) for f in rule.fields), default=0.0)


def _score(p: PortalCoverage, rules: RuleSet, now: datetime) -> None:
    penalty = 0.0
    problems: list[str] = []
    statuses: list[str] = []
    outcome = p.last_outcome
    since = parse_time(p.crawl_running_since)
    if since is not None and now - since > STUCK_AFTER:
        penalty += 15
        statuses.append("partial")
        problems.append(f"the crawl started {p.crawl_running_since} never finished (killed?)")
    if outcome is None:
        penalty += 50
        statuses.append("never crawled")
        problems.append("never crawled")
    elif outcome == RunOutcome.FAILED:
        penalty += 50
        statuses.append("unreachable" if p.pages_fetched == 0 else "failing")
        problems.append(f"last crawl failed: {p.last_crawl_message or 'see the crawl log'}")
    elif outcome in (RunOutcome.INTERRUPTED, RunOutcome.PARTIAL):
        penalty += 20 if outcome == RunOutcome.INTERRUPTED else 15
        statuses.append("partial")
        problems.append(f"last crawl {outcome}" + (f": {p.last_crawl_message}" if p.last_crawl_message else ""))
    elif outcome == RunOutcome.RUNNING:  # the first crawl of the portal is under way
        statuses.append("running")
    if p.origin_moved_to:
        penalty += 5
        problems.append(f"the registry url redirects to {p.origin_moved_to}: update the registry's url")
    rate = p.extraction_failure_rate
    if rate:
        penalty += 40 * rate
        worst = max(rules.extraction_failures.fields, key=lambda f: p.extraction_failure_rates.get(f, 0.0))
        problems.append(f"{worst} not found on {rate:.0%} of article pages")
        if rate * 100 > rules.extraction_failures.percent:
            statuses.append("parse errors")
    if p.error_rate >= 0.1 and outcome != RunOutcome.FAILED:  # a broken link or two is normal
        problems.append(f"HTTP errors on {p.error_rate:.0%} of requests")
    penalty += 20 * min(1.0, p.error_rate)
    days = rules.stale.days
    if outcome is not None and p.age_days is None:
        penalty += 20
        statuses.append("stale")
        problems.append("no dated article" if p.articles else "no article stored")
    elif p.age_days is not None:
        if p.age_days <= days:
            penalty += 5 * p.age_days / days
        else:
            penalty += 10 + 10 * min(1.0, (p.age_days - days) / (2 * days))
            statuses.append("stale")
            problems.append(f"newest article is {p.age_days} days old")
    k = rules.no_new_articles.crawls
    if p.crawls >= k and p.crawls_without_new >= k:
        penalty += 10
        statuses.append("quiet")
        problems.append(f"no new article in the last {p.crawls_without_new} crawls")
    p.health = max(0, min(100, round(100 - penalty)))
    p.status = min(statuses, key=STATUSES.index) if statuses else "ok"
    p.problems = problems


def store_problems(report: CoverageReport) -> list[str]:
    """Why a store has nothing to monitor: no portal at all, or no crawl recorded for any of
    its portals.  A check of such a store fails (a typo in ``--store`` must not look healthy)."""
    if not report.portals:
        return ["the store holds no portal: nothing has been crawled into it (run `portalnews crawl`)"]
    if not any(p.last_outcome is not None or p.crawl_running_since for p in report.portals):
        never = ", ".join(p.portal_id for p in report.portals[:10])
        more = f" and {len(report.portals) - 10} more" if len(report.portals) > 10 else ""
        return [f"no crawl recorded in this store: {len(report.portals)} portal(s) never crawled "
                f"({never}{more})"]
    return []


#: The counts of :class:`PortalCoverage` a :class:`Rollup` adds up over its portals.
_ROLLUP_SUMS = ("articles", "new_24h", "new_7d", "new_30d", "pages_fetched", "errors", "article_pages")


def rollup(portals: list[PortalCoverage], key: str) -> list[Rollup]:
    """Portals grouped by ``province`` or ``level`` (unknown values under ``"?"``), worst first."""
    groups: dict[str, list[PortalCoverage]] = {}
    for p in portals:
        groups.setdefault(getattr(p, key) or "?", []).append(p)
    out = []
    for name, members in groups.items():
        r = Rollup(key=name, portals=len(members))
        for total in _ROLLUP_SUMS:
            setattr(r, total, sum(getattr(p, total) for p in members))
        for p in members:
            r.statuses[p.status] = r.statuses.get(p.status, 0) + 1
            for name_, n in p.missing_fields.items():
                r.missing_fields[name_] = r.missing_fields.get(name_, 0) + n
            if p.newest_article and (r.newest_article is None
                                     or (parse_time(p.newest_article) or datetime.min.replace(tzinfo=UTC))
                                     > (parse_time(r.newest_article) or datetime.min.replace(tzinfo=UTC))):
                r.newest_article, r.age_days = p.newest_article, p.age_days
        worst = min(members, key=sort_key)
        r.worst_portal = worst.portal_id
        r.health = round(sum(p.health for p in members) / len(members))
        out.append(r)
    out.sort(key=lambda r: (r.health, r.key))
    return out
