"""Helpers shared by the monitoring commands (coverage, check, report, serve, schedule --metrics)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from crawler.cli.common import (
    UsageError,
    open_cli_store,
    store_arg,
    table,
    use_color,
)
from pipelines.storage import Store

STATUS_COLOURS =  {"ok": "32", "stale": "33", "quiet": "33", "partial": "33", "running": "33",
                   "parse errors": "35", "unreachable": "1;31", "failing": "1;31", "never crawled": "31"}


def monitoring_rules(args: argparse.Namespace) -> Any:
    from pipelines.monitoring.rules import load_rules, rules_path

    return load_rules(rules_path(getattr(args, "rules", None)))


def portal_meta(args: argparse.Namespace) -> Any:
    """Names, provinces and levels from ``--portals`` (or $PORTALNEWS_PORTALS), when given."""
    from pipelines.monitoring.coverage import registry_meta

    path = getattr(args, "portals", None) or os.environ.get("PORTALNEWS_PORTALS")
    if not path:
        return None
    try:
        return registry_meta(path)
    except FileNotFoundError:
        raise UsageError(f"registry file not found: {path}") from None
    except Exception as exc:  # unreadable or not YAML: one clear line
        raise UsageError(f"cannot read registry {path}: {str(exc).splitlines()[0]}") from None


def check_store_args(args: argparse.Namespace) -> tuple[Any, list[Any], Any, Store]:
    """(coverage report, alerts, rules, opened store) for the monitoring commands."""
    from pipelines.monitoring import check_store

    rules = monitoring_rules(args)
    meta = portal_meta(args)
    store = open_cli_store(args)
    try:
        report, alerts = check_store(store, rules, meta, portal_ids=getattr(args, "portal", None) or None)
    except BaseException:
        store.close()
        raise
    return report, alerts, rules, store


def pairs(values: dict[str, Any], sep: str = ",") -> str:
    return sep.join(f"{k}:{v}" for k, v in sorted(values.items()))


def coloured_table(rows: list[list[str]], headers: list[str], colours: list[str | None]) -> str:
    lines = table(rows, headers).split("\n")
    if not use_color(sys.stdout):
        return "\n".join(lines)
    out = [f"\033[1m{lines[0]}\033[0m", lines[1]]
    for line, colour in zip(lines[2:], colours, strict=True):
        out.append(f"\033[{colour}m{line}\033[0m" if colour else line)
    return "\n".join(out)


def blank(value: Any) -> Any:
    return "" if value is None else value


def monitoring_args(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--rules", metavar="FILE", help="alert rules (default: $PORTALNEWS_ALERT_RULES or the "
                   "bundled pipelines/monitoring/rules.yaml)")
    p.add_argument("--portals", metavar="FILE", help="registry for portal names, provinces and levels, and to "
                   "list portals never crawled (default: $PORTALNEWS_PORTALS; else the crawls' own records)")
