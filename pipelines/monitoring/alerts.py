"""Alert evaluation: the rules applied to the coverage model, one alert per failing portal.

An :class:`Alert` gathers every rule that fired for one portal (its ``findings``), so a
portal that is both unreachable and stale gives one alert, one webhook call and one
paragraph of the email.  Severity is ``critical`` when the crawl failed, else ``warning``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines.monitoring.coverage import CoverageReport, PortalCoverage
from pipelines.monitoring.rules import Rules

logger = logging.getLogger(__name__)


@dataclass
class Finding:
    """One rule that fired."""

    rule: str
    message: str
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None


@dataclass
class Alert:
    """Everything wrong with one portal."""

    portal_id: str
    severity: str
    findings: list[Finding]
    name: str | None = None
    province: str | None = None
    level: str | None = None
    status: str = ""
    health: int = 0
    last_outcome: str | None = None
    last_crawl_started: str | None = None
    newest_article: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rules(self) -> list[str]:
        return [f.rule for f in self.findings]

    @property
    def summary(self) -> str:
        return "; ".join(f.message for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rules"] = self.rules
        data["summary"] = self.summary
        return data


def evaluate_portal(p: PortalCoverage, rules: Rules) -> Alert | None:
    """The alert for one portal, or None when no rule fires."""
    rs = rules.for_portal(p.portal_id)
    findings: list[Finding] = []
    cf = rs.crawl_failed
    if cf.enabled and p.last_outcome in cf.outcomes:
        why = p.last_crawl_message or "see the crawl log"
        findings.append(Finding("crawl_failed", f"last crawl {p.last_outcome}: {why}", "critical"))
    he = rs.http_errors
    requests = p.pages_fetched + int(p.http_errors.get("network", 0))
    if (he.enabled and p.last_outcome is not None and p.last_outcome not in cf.outcomes
            and requests >= he.min_requests and p.error_rate * 100 > he.percent):
        codes = "; ".join(f"{'no answer' if code == 'network' else 'HTTP ' + code}: {n}"
                          for code, n in sorted(p.http_errors.items(), key=lambda kv: (-kv[1], kv[0])))
        findings.append(Finding(
            "http_errors", f"HTTP errors on {p.error_rate:.0%} of {requests} requests of the last crawl "
                           f"({p.last_outcome}; {codes}; threshold {he.percent:g}%)",
            value=round(p.error_rate * 100, 2), threshold=he.percent))
    ef = rs.extraction_failures
    if ef.enabled and p.extraction_failure_rate is not None:
        worst = max(ef.fields, key=lambda f: p.extraction_failure_rates.get(f, 0.0))
        rate = p.extraction_failure_rates.get(worst, 0.0)
        if rate * 100 > ef.percent:
            pages = int(p.extra.get("extraction_pages", p.article_pages) or 0)
            findings.append(Finding(
                "extraction_failures",
                f"{worst} not found on {rate:.0%} of {pages} article pages (threshold {ef.percent:g}%)",
                value=round(rate * 100, 2), threshold=ef.percent))
    st = rs.stale
    if st.enabled and p.last_outcome is not None:
        if p.age_days is None:
            what = "no dated article" if p.articles else "no article stored"
            findings.append(Finding("stale", f"{what} (stale after {st.days:g} days)", threshold=st.days))
        elif p.age_days > st.days:
            findings.append(Finding("stale", f"newest article {p.age_days} days old ({(p.newest_article or '')[:10]}), "
                                             f"stale after {st.days:g} days", value=p.age_days, threshold=st.days))
    nn = rs.no_new_articles
    if nn.enabled and p.crawls >= nn.crawls and p.crawls_without_new >= nn.crawls:
        findings.append(Finding("no_new_articles", f"no new article in the last {p.crawls_without_new} crawls",
                                value=p.crawls_without_new, threshold=nn.crawls))
    if not findings:
        return None
    severity = "critical" if any(f.severity == "critical" for f in findings) else "warning"
    return Alert(portal_id=p.portal_id, severity=severity, findings=findings, name=p.name, province=p.province,
                 level=p.level, status=p.status, health=p.health, last_outcome=p.last_outcome,
                 last_crawl_started=p.last_crawl_started, newest_article=p.newest_article,
                 extra={"pages_fetched": p.pages_fetched, "http_errors": dict(p.http_errors),
                        "missing_fields": dict(p.missing_fields), "article_pages": p.article_pages})


def evaluate(report: CoverageReport, rules: Rules, portal_ids: Iterable[str] | None = None) -> list[Alert]:
    """Alerts for the portals of ``report`` (or only ``portal_ids``), worst portal first."""
    wanted = set(portal_ids) if portal_ids is not None else None
    alerts = []
    for p in report.portals:  # already worst first
        if wanted is not None and p.portal_id not in wanted:
            continue
        alert = evaluate_portal(p, rules)
        if alert is not None:
            alerts.append(alert)
    return alerts


def log_alerts(alerts: list[Alert], log: logging.Logger | None = None) -> None:
    """Every alert goes to the log: ERROR for critical ones, WARNING otherwise."""
    log = log or logger
    for a in alerts:
        level = logging.ERROR if a.severity == "critical" else logging.WARNING
        log.log(level, "ALERT %s [%s]: %s", a.portal_id, a.severity, a.summary)
