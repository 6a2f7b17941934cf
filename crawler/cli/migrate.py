"""``portalnews migrate``: upgrade a store written by an older portalnews, after a backup."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from crawler.cli.common import store_arg
from pipelines.storage import open_store, resolve_store_url
from pipelines.storage.base import redact_url
from pipelines.storage.migrations import ENGINE_VERSION, SCHEMA_VERSION

HELP = "upgrade a store written by an older portalnews (keeps a backup)"
DESCRIPTION = (f"Upgrade the store in place to schema version {SCHEMA_VERSION} (Elasticsearch/"
               f"OpenSearch: {ENGINE_VERSION}). SQLite: the "
               "file is first copied next to itself (NAME.vN-backup.db). Elasticsearch/"
               "OpenSearch: the documents are copied into a new versioned index behind the "
               "alias; the old index stays as the backup. Stop the crawlers of this store "
               "first.")


def run(args: argparse.Namespace) -> int:
    url = resolve_store_url(args.store)
    store = open_store(url)  # not opened: open() refuses an older store
    try:
        report = store.migrate()
    finally:
        store.close()
    if args.json:
        print(json.dumps({**asdict(report), "store": redact_url(report.store), "migrated": report.migrated},
                         ensure_ascii=False))
    elif report.migrated:
        print(f"migrated {redact_url(url)} from schema version {report.from_version} to {report.to_version}; "
              f"the store as it was is kept in {report.backup}")
        for step in report.steps:
            print(f"  - {step}")
    else:
        print(f"{redact_url(url)} is at schema version {report.to_version}: nothing to migrate")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
