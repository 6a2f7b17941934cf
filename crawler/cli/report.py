"""``portalnews report``: the self-contained HTML coverage report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crawler.cli.common import (
    UsageError,
    iso_date,
)
from crawler.cli.monitoring import (
    check_store_args,
    monitoring_args,
)
from pipelines.storage.base import redact_url

HELP = "write a self-contained HTML coverage report with charts"
DESCRIPTION = ("One HTML file, no external resources: articles per day per portal, a "
               "freshness heatmap by province, error and extraction-failure rates, alerts, "
               "the coverage table and rollups by province and level.")


def run(args: argparse.Namespace) -> int:
    from pipelines.monitoring.report import ReportData, render_report, report_window

    report, alerts, _rules_used, store = check_store_args(args)
    try:
        since, until = report_window(args.days, args.since)
        per_day = store.published_per_day(since.isoformat(), until.isoformat())
        data = ReportData(report, alerts, per_day, since, until, redact_url(store.url))
    finally:
        store.close()
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_report(data), "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}: {len(report.portals)} portal(s), {len(alerts)} with alerts, "
          f"charts from {since} to {until}", file=sys.stderr)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    monitoring_args(p)
    p.add_argument("--out", "-o", metavar="FILE", default="report.html", help="output file (default report.html)")
    p.add_argument("--days", type=int, default=90, metavar="N", help="chart the last N days (default 90)")
    p.add_argument("--since", type=iso_date, metavar="DATE", help="chart from DATE instead (YYYY-MM-DD)")
