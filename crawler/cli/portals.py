"""``portalnews portals``: validate and list the registry."""

from __future__ import annotations

import argparse
import sys

from crawler.cli.common import (
    parse_vars,
    registry_args,
    table,
)
from crawler.registry import load_registry
from pipelines.output import json_line, terminal_text

HELP = "validate and list the registry"
DESCRIPTION = ("Check the registry against its schema and list the valid portals. "
               "Exits 1 when an entry has a problem.")


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.portals, placeholders=parse_vars(args.var))
    for problem in registry.problems:
        print(f"registry: {terminal_text(problem)}", file=sys.stderr)
    if args.json:
        print(json_line([p.to_dict() for p in registry.portals], indent=1))
    else:
        rows = [[p.id, p.level, p.province, p.profile, p.url, "" if p.verified else "unverified"]
                for p in registry.portals]
        print(table(rows, ["id", "level", "province", "profile", "url", ""]))
        print(f"\n{len(registry.portals)} valid portal(s), {len(registry.problems)} problem(s)")
    return 1 if registry.problems else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    registry_args(p)
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
