"""``portalnews reindex``: rebuild the search-engine index behind its alias."""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from pathlib import Path

from crawler.cli.common import (
    open_cli_store,
    store_arg,
)

HELP = "rebuild the search-engine index with the current mapping, no downtime"
DESCRIPTION = ("Create <prefix>-articles-v(N+1) from the current index template, copy the "
               "documents into it, and switch the <prefix>-articles alias to it atomically. "
               "On SQLite, index every document again for search (after the list of "
               "abbreviations changed).")


def run(args: argparse.Namespace) -> int:
    from pipelines.storage import open_store, resolve_store_url
    from pipelines.storage.base import Store

    unopened = open_store(resolve_store_url(args.store))
    path = getattr(unopened, "path", None)
    if type(unopened).reindex is Store.reindex and path and not Path(path).is_file():
        # no SQLite file: say what reindex is for, not that the store is missing
        unopened.reindex()
    with closing(open_cli_store(args)) as store:
        result = store.reindex(delete_old=args.delete_old)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if "message" in result:  # SQLite: the full-text index rebuilt in place
        print(result["message"])
        return 0
    kept = "deleted" if result["old_index_deleted"] else "kept (remove it with --delete-old next time, or by hand)"
    print(f"{result['alias']} now points at {result['new_index']} ({result['documents']} documents); "
          f"the old index {result['old_index']} was {kept}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--delete-old", action="store_true", help="delete the previous index after the switch")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
