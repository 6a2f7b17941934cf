"""``portalnews check``: evaluate the alert rules for cron, optionally notify."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from crawler.cli.monitoring import (
    check_store_args,
    monitoring_args,
)
from pipelines.output import json_line, terminal_text
from pipelines.storage import Coordination
from pipelines.storage.base import redact_url

if TYPE_CHECKING:
    from pipelines.monitoring.alerts import Alert
    from pipelines.monitoring.coverage import CoverageReport
    from pipelines.monitoring.notify import Delivery


HELP = "evaluate the alert rules; exit 1 and name the failing portals (for cron)"
DESCRIPTION = ("Apply the alert rules (stale, no new articles, extraction failures, failed "
               "crawl, HTTP errors) to every portal in the store. Prints one line per failing portal and "
               "exits 1 when any rule fires or the store holds no portal or no crawl, "
               "0 when all pass, 2 for a usage problem (a store that does not exist).")


def _check_notify(args: argparse.Namespace, store: Coordination, report: CoverageReport, alerts: list[Alert]
                  ) -> Delivery | None:
    """``check --notify`` / ``--resend``: send what is new, due again or resolved."""
    from pipelines.monitoring.notices import notify_new_alerts
    from pipelines.monitoring.notify import Notifier, NotifyConfig

    notifier = Notifier(NotifyConfig.from_settings())
    if not notifier.enabled:
        print("portalnews check: warning: nothing notified: set PORTALNEWS_ALERT_WEBHOOK, or "
              "PORTALNEWS_SMTP_HOST and PORTALNEWS_SMTP_TO, in the environment", file=sys.stderr)
        return None
    delivery = notify_new_alerts(store, notifier, alerts, [p.portal_id for p in report.portals],
                                 {"trigger": "portalnews check"}, resend=args.resend)
    print(f"notified: {delivery.webhook_sent} webhook alert(s), {delivery.resolved_sent} resolved, "
          f"{delivery.held} held (sent less than {notifier.config.repeat_hours:g}h ago)"
          + (", email sent" if delivery.email_sent else "")
          + (f", {len(delivery.errors)} delivery error(s)" if delivery.errors else ""), file=sys.stderr)
    return delivery


def run(args: argparse.Namespace) -> int:
    from pipelines.monitoring import store_problems

    report, alerts, rules, store = check_store_args(args)
    try:
        delivery = _check_notify(args, store, report, alerts) if args.notify or args.resend else None
    finally:
        store.close()
    problems = store_problems(report)  # nothing to monitor is a failure, never "OK: all 0 portal(s)"
    ok = not alerts and not problems
    if args.json:
        print(json_line({"ok": ok, "portals_checked": len(report.portals), "rules": rules.source,
                         "problems": problems, "alerts": [a.to_dict() for a in alerts],
                         "delivery": delivery.to_dict() if delivery else None}, indent=1))
    elif problems:
        for problem in problems:
            print(f"FAIL: {terminal_text(problem)}")
        print(f"portalnews check: nothing to monitor in {redact_url(store.url)}", file=sys.stderr)
    elif not alerts:
        print(f"OK: all {len(report.portals)} portal(s) pass the alert rules ({rules.source})")
    else:
        for a in alerts:
            print(terminal_text(f"{a.portal_id}  {a.severity.upper()}  health {a.health}/100  {','.join(a.rules)}"))
            for f in a.findings:
                print(f"    {f.rule}: {terminal_text(f.message)}")
        print(f"{len(alerts)} of {len(report.portals)} portal(s) fail the alert rules: "
              + ", ".join(a.portal_id for a in alerts), file=sys.stderr)
    return 0 if ok else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    monitoring_args(p)
    p.add_argument("--portal", metavar="ID", action="append", help="check only this portal (repeatable)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--notify", action="store_true",
                   help="also send the alerts to the configured webhook / email: new ones, those last sent "
                        "more than PORTALNEWS_ALERT_REPEAT_HOURS ago (default 24), and resolved portals")
    p.add_argument("--resend", action="store_true", help="like --notify, but send every firing alert now")
