"""Coverage monitoring: which portals are healthy, stale, unreachable or failing to parse.

* :mod:`.coverage` builds the per-portal coverage model from any store, with a health
  score, worst-first order and rollups by province and level;
* :mod:`.rules` loads the alert rules (``pipelines/monitoring/rules.yaml`` by default);
* :mod:`.alerts` applies the rules to the model, one alert per failing portal;
* :mod:`.notify` delivers alerts to a webhook (JSON POST) and by email (SMTP);
* :mod:`.notices` de-duplicates them: a firing alert is re-sent after a repeat interval,
  and a portal that recovers gets one "resolved" notice;
* :mod:`.metrics` writes Prometheus metrics and serves them over HTTP.

``pipelines.monitoring.extension`` evaluates the rules after every crawl; ``portalnews coverage``,
``check``, ``report`` and ``serve --metrics`` are the command-line views.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from pipelines.monitoring.alerts import Alert, Finding, evaluate, log_alerts
from pipelines.monitoring.coverage import (
    CoverageReport,
    PortalCoverage,
    PortalMeta,
    Rollup,
    build_coverage,
    store_problems,
)
from pipelines.monitoring.rules import Rules, RulesError, load_rules
from pipelines.storage.base import CrawlState

logger = logging.getLogger(__name__)

__all__ = [
    "Alert",
    "CoverageReport",
    "Finding",
    "PortalCoverage",
    "PortalMeta",
    "Rollup",
    "Rules",
    "RulesError",
    "build_coverage",
    "check_store",
    "evaluate",
    "load_rules",
    "log_alerts",
    "store_problems",
]


def check_store(store: CrawlState, rules: Rules, meta: Mapping[str, PortalMeta] | None = None,
                portal_ids: Iterable[str] | None = None,
                now: datetime | None = None) -> tuple[CoverageReport, list[Alert]]:
    """Coverage of the store's portals (or only ``portal_ids``) and the alerts the rules give."""
    ids = list(portal_ids) if portal_ids is not None else None
    report = build_coverage(store, rules=rules, meta=meta, portal_ids=ids, now=now)
    return report, evaluate(report, rules, ids)

